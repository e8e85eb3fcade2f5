"""The fair queue for bcrypt's threads (chat/app/limits/password_queue.py), with real worker threads
whose work the test holds and releases: the order checks get a thread in, the shares of
the queue, and a cancelled waiter."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
import trio
import trio.testing

from chat.app.limits.password_queue import PasswordQueue
from chat.core.errors import Overloaded


class Work:
    """Work for the queue's threads that records its order, the first piece held until
    the test releases it (so the others must queue behind it)."""

    def __init__(self) -> None:
        self.order: list[str] = []
        self.release = threading.Event()
        self.holding = trio.Event()

    def piece(self, label: str, *, hold: bool = False) -> Callable[[], str]:
        token = trio.lowlevel.current_trio_token()

        def work() -> str:
            if hold:
                token.run_sync_soon(self.holding.set)
                self.release.wait(timeout=10)
            self.order.append(label)
            return label

        return work


async def queue_behind_a_held_thread(
    nursery: trio.Nursery, queue: PasswordQueue, work: Work, checks: list[tuple[str, str, bool]]
) -> None:
    """Occupy the queue's one thread, then queue `checks` (label, address, known) in
    that order, each waiting for its turn."""
    nursery.start_soon(lambda: queue.run(work.piece("held", hold=True), address="h", known=True))
    await work.holding.wait()
    for label, address, known in checks:
        piece = work.piece(label)
        nursery.start_soon(lambda p=piece, a=address, k=known: queue.run(p, address=a, known=k))
        await trio.testing.wait_all_tasks_blocked()


async def served_in_order(size: int, checks: list[tuple[str, str, bool]]) -> list[str]:
    """The order in which `checks` (label, address, known), queued in that order behind
    a held thread, get the queue's one thread."""
    queue, work = PasswordQueue(workers=1, size=size), Work()
    async with trio.open_nursery() as nursery:
        await queue_behind_a_held_thread(nursery, queue, work, checks)
        work.release.set()
    return work.order


async def test_checks_of_existing_accounts_go_before_unknown_names() -> None:
    checks = [("unknown 1", "a", False), ("unknown 2", "b", False), ("known", "c", True)]
    assert await served_in_order(8, checks) == ["held", "known", "unknown 1", "unknown 2"]


async def test_addresses_take_turns() -> None:
    checks = [("x1", "x", True), ("x2", "x", True), ("x3", "x", True), ("y1", "y", True)]
    assert await served_in_order(16, checks) == ["held", "x1", "y1", "x2", "x3"]


async def test_one_address_holds_at_most_a_quarter_of_the_queue() -> None:
    queue, work = PasswordQueue(workers=1, size=8), Work()
    async with trio.open_nursery() as nursery:
        await queue_behind_a_held_thread(
            nursery, queue, work, [("x1", "x", True), ("x2", "x", True)]
        )
        with pytest.raises(Overloaded, match="busy"):
            await queue.run(work.piece("x3"), address="x", known=True)
        # Another address still has room.
        nursery.start_soon(lambda: queue.run(work.piece("y1"), address="y", known=True))
        await trio.testing.wait_all_tasks_blocked()
        work.release.set()
    assert work.order == ["held", "x1", "y1", "x2"]


async def test_unknown_names_hold_at_most_half_of_the_queue() -> None:
    queue, work = PasswordQueue(workers=1, size=8), Work()
    unknown = [(f"u{n}", f"address {n}", False) for n in range(4)]
    async with trio.open_nursery() as nursery:
        await queue_behind_a_held_thread(nursery, queue, work, unknown)
        with pytest.raises(Overloaded):
            await queue.run(work.piece("u4"), address="address 4", known=False)
        nursery.start_soon(lambda: queue.run(work.piece("known"), address="owner", known=True))
        await trio.testing.wait_all_tasks_blocked()
        work.release.set()
    assert work.order == ["held", "known", "u0", "u1", "u2", "u3"]


async def test_a_full_queue_refuses_at_once() -> None:
    queue, work = PasswordQueue(workers=1, size=2), Work()
    async with trio.open_nursery() as nursery:
        await queue_behind_a_held_thread(nursery, queue, work, [("a", "a", True), ("b", "b", True)])
        with pytest.raises(Overloaded):
            await queue.run(work.piece("c"), address="c", known=True)
        work.release.set()
    assert work.order == ["held", "a", "b"]


async def test_a_cancelled_waiter_leaves_its_place_to_the_next() -> None:
    queue, work = PasswordQueue(workers=1, size=8), Work()
    async with trio.open_nursery() as nursery:
        await queue_behind_a_held_thread(nursery, queue, work, [])
        leaving = trio.CancelScope()

        async def leaves() -> None:
            with leaving:
                await queue.run(work.piece("leaves"), address="a", known=True)

        nursery.start_soon(lambda: queue.run(work.piece("stays"), address="b", known=True))
        nursery.start_soon(leaves)
        await trio.testing.wait_all_tasks_blocked()
        leaving.cancel()
        await trio.testing.wait_all_tasks_blocked()
        # Its share is free again: the address may queue as many as before.
        for n in range(2):
            nursery.start_soon(lambda n=n: queue.run(work.piece(f"a{n}"), address="a", known=True))
            await trio.testing.wait_all_tasks_blocked()
        work.release.set()
    assert work.order == ["held", "stays", "a0", "a1"]
