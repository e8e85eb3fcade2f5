"""The searches' places (`chat.app.messages.search_gate`): at most half the pool's
connections run searches, a bounded number wait, one user holds at most two places, and
a search cancelled while it waits or runs gives its place back."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from chat.app.messages.search_gate import SearchGate
from chat.core.errors import Overloaded, RateLimited


class Searches:
    """Searches that hold their place until `finish` is set; the most that ran at once."""

    def __init__(self, gate: SearchGate) -> None:
        self.gate = gate
        self.finish = trio.Event()
        self.most_running = 0
        self.refused: list[type[Exception]] = []

    async def search(self, user_id: int) -> None:
        try:
            async with self.gate.place(user_id):
                self.most_running = max(self.most_running, self.gate.running)
                await self.finish.wait()
        except (Overloaded, RateLimited) as error:
            self.refused.append(type(error))


def test_a_pool_of_ten_runs_five_searches_and_queues_twenty() -> None:
    gate = SearchGate.for_pool(10)
    assert (gate.at_once, gate.waiting, gate.per_user) == (5, 20, 2)
    assert SearchGate.for_pool(1).at_once == 1


async def test_searches_in_flight_never_exceed_half_the_pool() -> None:
    searches = Searches(SearchGate.for_pool(4))
    async with trio.open_nursery() as nursery:
        for user_id in range(10):
            nursery.start_soon(searches.search, user_id)
        await trio.testing.wait_all_tasks_blocked()
        assert searches.gate.running == 2
        searches.finish.set()
    assert searches.most_running == 2
    assert searches.refused == []


async def test_past_the_waiting_bound_a_search_is_refused_at_once() -> None:
    searches = Searches(SearchGate(at_once=1, waiting=2, per_user=2))
    async with trio.open_nursery() as nursery:
        for user_id in range(3):  # one runs, two wait
            nursery.start_soon(searches.search, user_id)
        await trio.testing.wait_all_tasks_blocked()
        with pytest.raises(Overloaded):
            async with searches.gate.place(99):
                pass
        searches.finish.set()
    assert searches.refused == []


async def test_one_user_holds_at_most_two_places() -> None:
    searches = Searches(SearchGate(at_once=1, waiting=10, per_user=2))
    async with trio.open_nursery() as nursery:
        for _ in range(3):
            nursery.start_soon(searches.search, 7)
        nursery.start_soon(searches.search, 8)  # another user still queues
        await trio.testing.wait_all_tasks_blocked()
        assert searches.refused == [RateLimited]
        searches.finish.set()
    assert searches.refused == [RateLimited]


async def test_a_search_cancelled_while_waiting_gives_its_place_back() -> None:
    gate = SearchGate(at_once=1, waiting=1, per_user=1)
    searches = Searches(gate)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(searches.search, 1)
        await trio.testing.wait_all_tasks_blocked()
        with trio.move_on_after(0.01):
            async with gate.place(2):
                pytest.fail("no place was free")
        # user 2's place (waiting) and share are free again: it may wait once more
        async with trio.open_nursery() as again:
            again.start_soon(searches.search, 2)
            await trio.testing.wait_all_tasks_blocked()
            searches.finish.set()
    assert searches.refused == []
