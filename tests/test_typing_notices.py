"""Typing in a busy room (chat/app/presence/typing.py): told at once in a small room, gathered
by the room's interval in a busy one, each user's frame once a telling and never to the
connection that typed; on the Presence object, with Trio's mock clock."""

from __future__ import annotations

import json
from typing import Any

import trio
import trio.testing

from chat.app.presence.announcements import COALESCE_LISTENERS, COALESCE_S, coalesce_interval
from chat.app.presence.tracker import Presence
from chat.bus.local import LocalBus
from chat.core.records import Identity

ROOM = 7


class Connection:
    """A /ws connection as presence sees one, keeping each write offered to it as the
    frames it holds."""

    def __init__(self, uid: int) -> None:
        self.id = uid
        self.identity = Identity(uid, f"user{uid}", is_admin=False, token_version=0)
        self.writes: list[list[dict[str, Any]]] = []

    def offer(self, data: bytes) -> bool:
        frames = []
        while data:  # unmasked server frames: a 2- or 4-byte head, then the payload
            size, head = data[1], 2
            if size == 126:
                size, head = int.from_bytes(data[2:4], "big"), 4
            frames.append(json.loads(data[head : head + size]))
            data = data[head + size :]
        self.writes.append(frames)
        return True

    def typing(self) -> list[int]:
        """Who this connection was told is typing, in order."""
        return [f["UID"] for write in self.writes for f in write if f["Type"] == "typing"]


async def room_of(presence: Presence, count: int) -> list[Connection]:
    connections = [Connection(uid) for uid in range(1, count + 1)]
    for connection in connections:
        presence.file(connection)
        presence.enter_room(connection, ROOM, listening=True, lists=True)
    await trio.sleep(2 * coalesce_interval(count))  # their arrivals told: a quiet spell
    for connection in connections:
        connection.writes.clear()
    return connections


async def test_in_a_small_room_each_typing_is_told_at_once_to_the_others(
    autojump_clock: trio.testing.MockClock,
) -> None:
    presence = Presence(LocalBus(), "here", timeout=30.0)
    async with trio.open_nursery() as nursery:
        await nursery.start(presence.announce)
        first, second, third = await room_of(presence, 3)
        presence.typing(first, ROOM)
        presence.typing(second, ROOM)
        assert third.typing() == [1, 2]
        assert first.typing() == [2] and second.typing() == [1]
        nursery.cancel_scope.cancel()


async def test_in_a_busy_room_typing_is_gathered_and_told_once_a_room_interval(
    autojump_clock: trio.testing.MockClock,
) -> None:
    presence = Presence(LocalBus(), "here", timeout=30.0)
    async with trio.open_nursery() as nursery:
        await nursery.start(presence.announce)
        crowd = await room_of(presence, 4 * COALESCE_LISTENERS)
        interval = coalesce_interval(len(crowd))
        assert interval > COALESCE_S
        first, second, watcher = crowd[0], crowd[1], crowd[-1]
        presence.typing(first, ROOM)  # after a quiet spell: at once
        assert watcher.typing() == [1] and first.typing() == []
        presence.typing(second, ROOM)  # within the interval: held back...
        presence.typing(first, ROOM)  # ...with this one, the same user's frame once
        await trio.sleep(interval / 2)
        assert watcher.typing() == [1]
        await trio.sleep(interval)
        # Told together, in one write; the typists each get the other's frame only.
        assert watcher.writes[-1] == [
            {"Type": "typing", "RoomID": ROOM, "UID": 2, "Username": "user2"},
            {"Type": "typing", "RoomID": ROOM, "UID": 1, "Username": "user1"},
        ]
        assert first.typing() == [2]
        assert second.typing() == [1, 1]
        nursery.cancel_scope.cancel()
