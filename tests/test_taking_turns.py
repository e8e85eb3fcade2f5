"""Places users take turns at (chat/files/taking_turns.py): never more work than places,
the user served longest ago first, so one user's queue holds another back by one piece
at most; a waiter cancelled before or after it is handed a place loses nothing."""

from __future__ import annotations

import trio
import trio.testing

from chat.files.taking_turns import TakingTurns


class Work:
    """Pieces of work that hold their place until released one by one, in order."""

    def __init__(self, turns: TakingTurns) -> None:
        self.turns = turns
        self.started: list[str] = []
        self.running = 0
        self.most_running = 0
        self.release = trio.Semaphore(0)

    async def piece(self, user: str, name: str) -> None:
        async with self.turns.turn(user):
            self.started.append(name)
            self.running += 1
            self.most_running = max(self.most_running, self.running)
            await self.release.acquire()
            self.running -= 1


async def _settle() -> None:
    await trio.testing.wait_all_tasks_blocked()


async def test_another_users_work_waits_for_one_piece_at_most() -> None:
    work = Work(TakingTurns(1))
    async with trio.open_nursery() as nursery:
        for n in range(4):
            nursery.start_soon(work.piece, "mallory", f"m{n}")
            await _settle()
        nursery.start_soon(work.piece, "bob", "b0")
        await _settle()
        for _ in range(5):
            work.release.release()
            await _settle()
    assert work.started == ["m0", "b0", "m1", "m2", "m3"]
    assert work.most_running == 1


async def test_never_more_work_than_places() -> None:
    work = Work(TakingTurns(2))
    async with trio.open_nursery() as nursery:
        for n in range(6):
            nursery.start_soon(work.piece, f"user{n % 3}", f"w{n}")
        await _settle()
        assert work.running == 2
        for _ in range(6):
            work.release.release()
            await _settle()
    assert work.most_running == 2
    assert len(work.started) == 6


async def test_a_waiter_cancelled_leaves_its_place_in_the_queue_to_others() -> None:
    turns = TakingTurns(1)
    work = Work(turns)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(work.piece, "alice", "a0")
        await _settle()
        with trio.move_on_after(0.01):
            async with turns.turn("mallory"):
                work.started.append("never")
        nursery.start_soon(work.piece, "bob", "b0")
        await _settle()
        work.release.release()
        await _settle()
        work.release.release()
    assert work.started == ["a0", "b0"]


async def test_a_place_handed_to_a_cancelled_waiter_goes_on_to_the_next() -> None:
    turns = TakingTurns(1)
    work = Work(turns)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(work.piece, "alice", "a0")
        await _settle()
        mallory = trio.CancelScope()

        async def waiting_mallory() -> None:
            with mallory:
                async with turns.turn("mallory"):
                    work.started.append("never")

        nursery.start_soon(waiting_mallory)
        await _settle()
        nursery.start_soon(work.piece, "bob", "b0")
        await _settle()
        # mallory, who queued first, is next: a0 hands her the place, and she is
        # cancelled in the same step, before she runs: the place goes on to bob.
        work.release.release()
        mallory.cancel()
        await _settle()
        work.release.release()
    assert work.started == ["a0", "b0"]
