"""What an instance sends the others about its presence (chat/app/presence/tracker.py,
`ROUND_GAP_S`): a lone change goes at once; changes that come faster than the gap (a
storm of reconnecting clients) travel together, a few bus events for hundreds of changes,
and none is lost."""

from __future__ import annotations

import itertools
from typing import Any

import trio
import trio.testing

from chat.app.presence.tracker import ROUND_GAP_S, Presence
from chat.bus.local import LocalBus
from chat.core.records import Identity

ARRIVALS = 300
#: One arrival a millisecond: six times the gap's worth of changes.
ARRIVAL_GAP_S = 0.001


class SentEvents(LocalBus):
    """A bus of one instance that keeps the events it is asked to send, and when."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[tuple[float, dict[str, Any]]] = []

    async def send_event(self, event: dict[str, Any]) -> None:
        self.sent.append((trio.current_time(), event))
        await super().send_event(event)


class Connection:
    """A connection as presence files it."""

    def __init__(self, uid: int) -> None:
        self.id = uid
        self.identity = Identity(uid, f"user{uid}", is_admin=False, token_version=0)

    def offer(self, data: bytes) -> bool:
        return True


def _changes(bus: SentEvents) -> list[list[Any]]:
    return [change for _, event in bus.sent for change in event.get("changes", ())]


async def _started(nursery: trio.Nursery, bus: SentEvents) -> Presence:
    presence = Presence(bus, "here", timeout=30.0)
    await nursery.start(presence.run)
    await trio.sleep(1.0)  # past the first snapshot
    bus.sent.clear()
    return presence


async def test_a_lone_change_is_sent_at_once(autojump_clock: trio.testing.MockClock) -> None:
    bus = SentEvents()
    async with trio.open_nursery() as nursery:
        presence = await _started(nursery, bus)
        came = trio.current_time()
        presence.file(Connection(7))
        await trio.sleep(ROUND_GAP_S / 10)
        nursery.cancel_scope.cancel()
    assert [(at - came, _changes(bus)) for at, _ in bus.sent] == [
        (0.0, [["online", 7, "user7", True]])
    ]


async def test_changes_faster_than_the_gap_travel_together_and_all_arrive(
    autojump_clock: trio.testing.MockClock,
) -> None:
    bus = SentEvents()
    async with trio.open_nursery() as nursery:
        presence = await _started(nursery, bus)
        started = trio.current_time()
        for uid in range(1, ARRIVALS + 1):
            presence.file(Connection(uid))
            await trio.sleep(ARRIVAL_GAP_S)
        took = trio.current_time() - started
        await trio.sleep(2 * ROUND_GAP_S)
        nursery.cancel_scope.cancel()
    assert _changes(bus) == [["online", uid, f"user{uid}", True] for uid in range(1, ARRIVALS + 1)]
    times = [at for at, _ in bus.sent]
    assert len(times) <= took / ROUND_GAP_S + 2
    assert all(b - a >= ROUND_GAP_S for a, b in itertools.pairwise(times))
