"""Presence frames are coalesced (chat/app/presence/tracker.py, `COALESCE_S`): a client flapping
between two rooms cannot send everyone in the lobby a frame per change, and coalescing
never leaves anyone with a wrong view of who is present. On one server (both backends),
across two instances on PostgreSQL (the flapping reaches the other instance as presence
bus events), and on the Presence object itself for the order of a held-back change and
a connection entering meanwhile."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing
from cluster import open_cluster
from support import (
    STEP,
    Account,
    Clients,
    JsonClient,
    Server,
    account,
    create_room,
    http_client,
    open_clients,
    throwaway_postgres_schema,
)

from chat.app.presence.announcements import (
    COALESCE_LISTENERS,
    COALESCE_S,
    MAX_COALESCE_S,
    coalesce_interval,
)
from chat.app.presence.tracker import Presence
from chat.bus.local import LocalBus
from chat.core.records import Identity
from chat.core.task_failures import TaskFailures

LOBBY = 1
#: How long the client flaps between the lobby and a room.
FLAP_S = 3.0
#: At most a few dozen frames at a watcher: one telling every COALESCE_S (12 in 3 s), and
#: room to spare for the quiet spell between two.
MOST_FRAMES = 30
#: Fewer room changes than this would not show that anything was coalesced.
LEAST_CHANGES = 100


def believe(present: dict[int, str], frame: dict[str, Any]) -> list[int]:
    """Apply a presence frame of either kind to `present` (who a client believes is
    present); the users it was about."""
    if frame["Type"] == "presence-list":
        present.clear()
        present.update((user["UID"], user["Username"]) for user in frame["Users"])
        return list(present)
    changes = frame["Changes"] if frame["Type"] == "presence-changes" else [frame]
    for change in changes:
        if change["Online"]:
            present[change["UID"]] = change["Username"]
        else:
            present.pop(change["UID"], None)
    return [change["UID"] for change in changes]


PRESENCE_TYPES = {"presence", "presence-list", "presence-changes"}


class Watcher:
    """A connection in the lobby that listens to presence (a frame per user, or lists:
    ``"Presence": "list"``): the frames it got about each user, and who it believes is
    present."""

    def __init__(self, client: JsonClient, *, lists: bool = False) -> None:
        self.client = client
        self.lists = lists
        self.frames: dict[int, int] = {}
        self.present: dict[int, str] = {}

    async def enter(self) -> None:
        frame: dict[str, Any] = {"Type": "enter", "RoomID": LOBBY}
        if self.lists:
            frame["Presence"] = "list"
        entered = await self.client.request(frame)
        assert entered["Type"] == "entered", entered

    async def run(self) -> None:
        """Read frames until cancelled."""
        while True:
            frame = json.loads(await self.client.ws.get_message())
            if frame.get("Type") not in PRESENCE_TYPES:
                continue
            assert (frame["Type"] != "presence") == self.lists, frame
            for uid in believe(self.present, frame):
                self.frames[uid] = self.frames.get(uid, 0) + 1

    async def wait_for(self, expected: dict[int, str]) -> None:
        """Return once the watcher believes `expected`; fail after `STEP` s."""
        with trio.fail_after(STEP):
            while self.present != expected:  # noqa: ASYNC110 (frames come to `run`)
                await trio.sleep(0.05)


async def flap(client: JsonClient, room_id: int, *, end_in: int) -> int:
    """Enter `room_id` and the lobby in turn for `FLAP_S` seconds, then `end_in`; how
    many rooms it entered."""
    changes = 0
    deadline = trio.current_time() + FLAP_S
    while trio.current_time() < deadline:
        for target in (room_id, LOBBY):
            answer = await client.request({"Type": "enter", "RoomID": target, "Presence": False})
            assert answer["Type"] == "entered", answer
            changes += 1
    answer = await client.request({"Type": "enter", "RoomID": end_in, "Presence": False})
    assert answer["Type"] == "entered", answer
    return changes + 1


async def present_in_lobby(server: Server, user: Account) -> dict[int, str]:
    """Who the server says is present in the lobby (GET /room/1/online)."""
    async with http_client(server) as client:
        response = await client.get(f"/room/{LOBBY}/online", headers=user.auth)
    assert response.status_code == 200, response.text
    return {person["UID"]: person["Username"] for person in response.json()}


async def flap_while_watched(
    flapping_on: Clients,
    watching_on: Clients,
    flapper: Account,
    watcher: Account,
    end_in: str,
    *,
    lists: bool = False,
) -> None:
    """`flapper` flaps between its room and the lobby (on `flapping_on`'s server) while
    `watcher` listens in the lobby (on `watching_on`'s): the watcher gets a few dozen
    frames about it at the most, and ends up believing what the server says."""
    room_id = await create_room(flapping_on.server, flapper, "elsewhere")
    watching = Watcher(await watching_on.json("/ws", token=watcher.token), lists=lists)
    await watching.enter()
    flapping = await flapping_on.json("/ws", token=flapper.token)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(watching.run)
        changes = await flap(flapping, room_id, end_in=LOBBY if end_in == "lobby" else room_id)
        expected = {watcher.uid: watcher.name}
        if end_in == "lobby":
            expected[flapper.uid] = flapper.name
        # What the server says (at once on the flapper's instance; the other hears of it
        # within the bus's delay), and then what the watcher believes.
        with trio.fail_after(STEP):
            # Polling: the server is another process (or a server of its own).
            while await present_in_lobby(watching_on.server, watcher) != expected:  # noqa: ASYNC110
                await trio.sleep(0.05)
        await watching.wait_for(expected)
        # Past a telling: anything still held back would have come by now.
        await trio.sleep(2 * COALESCE_S)
        assert watching.present == expected
        nursery.cancel_scope.cancel()
    assert changes >= LEAST_CHANGES, changes
    assert watching.frames[flapper.uid] <= MOST_FRAMES, (watching.frames, changes)


@pytest.mark.parametrize("end_in", ["lobby", "room"])
@pytest.mark.parametrize("lists", [False, True], ids=["frames", "lists"])
async def test_a_client_flapping_between_rooms_sends_a_watcher_a_few_dozen_frames(
    server: Server, clients: Clients, end_in: str, lists: bool
) -> None:
    flapper, watcher = await account(server, "flapper"), await account(server, "watcher")
    await flap_while_watched(clients, clients, flapper, watcher, end_in, lists=lists)


@pytest.fixture
async def pair(tmp_path: Path) -> AsyncIterator[list[Server]]:
    """Two instances of one chat on PostgreSQL (its LISTEN/NOTIFY bus)."""
    async with throwaway_postgres_schema() as url, open_cluster(tmp_path, url, 2) as instances:
        yield [instance.server for instance in instances]


@pytest.mark.parametrize(("end_in", "lists"), [("lobby", False), ("room", False), ("room", True)])
async def test_flapping_on_one_instance_sends_a_watcher_on_another_a_few_dozen_frames(
    pair: list[Server], end_in: str, lists: bool
) -> None:
    flapper, watcher = await account(pair[0], "flapper"), await account(pair[1], "watcher")
    async with open_clients(pair[0]) as on_a, open_clients(pair[1]) as on_b:
        await flap_while_watched(on_a, on_b, flapper, watcher, end_in, lists=lists)


# --- the Presence object: a change held back, and a connection entering meanwhile ---


class Listener:
    """A room connection as presence sees it, keeping the frames offered to it."""

    def __init__(self, uid: int, name: str) -> None:
        self.id = uid
        self.identity = Identity(uid, name, is_admin=False, token_version=0)
        self.present: dict[int, str] = {}
        self.frames: list[dict[str, Any]] = []

    def offer(self, data: bytes) -> bool:
        # Unmasked server frames: a text frame's payload follows a 2- or 4-byte head.
        while data:
            size, head = data[1], 2
            if size == 126:
                size, head = int.from_bytes(data[2:4], "big"), 4
            frame: dict[str, Any] = json.loads(data[head : head + size])
            data = data[head + size :]
            self.frames.append(frame)
            believe(self.present, frame)
        return True


@pytest.mark.parametrize("lists", [False, True], ids=["frames", "lists"])
async def test_a_connection_entering_while_a_change_is_held_back_ends_with_the_right_view(
    autojump_clock: trio.testing.MockClock, lists: bool
) -> None:
    presence = Presence(LocalBus(), "here", timeout=30.0)
    watcher, flapper, late = Listener(1, "watcher"), Listener(2, "flapper"), Listener(3, "late")
    async with trio.open_nursery() as nursery:
        await nursery.start(presence.announce)
        presence.enter_room(watcher, LOBBY, listening=True, lists=lists)
        presence.enter_room(flapper, LOBBY, listening=False)  # told at once
        assert watcher.present == {1: "watcher", 2: "flapper"}
        presence.leave_room(flapper)  # held back: the lobby was told a moment ago
        assert watcher.present == {1: "watcher", 2: "flapper"}
        presence.enter_room(late, LOBBY, listening=True, lists=lists)
        # The late one is told what the watcher believes, its own arrival included
        # (that change is held back too), so the next telling is right for both.
        assert late.present == {1: "watcher", 2: "flapper"}
        await trio.sleep(2 * COALESCE_S)  # `announce` tells the lobby after COALESCE_S
        assert watcher.present == late.present == {1: "watcher", 3: "late"}
        nursery.cancel_scope.cancel()


async def test_changes_held_back_together_are_told_to_a_list_connection_in_one_frame(
    autojump_clock: trio.testing.MockClock,
) -> None:
    presence = Presence(LocalBus(), "here", timeout=30.0)
    watcher, first, second = Listener(1, "watcher"), Listener(2, "first"), Listener(3, "second")
    async with trio.open_nursery() as nursery:
        await nursery.start(presence.announce)
        presence.enter_room(watcher, LOBBY, listening=True, lists=True)
        presence.enter_room(first, LOBBY, listening=False)  # told at once
        watcher.frames.clear()
        presence.enter_room(second, LOBBY, listening=False)  # both held back
        presence.leave_room(first)
        assert watcher.frames == []
        await trio.sleep(2 * COALESCE_S)
        assert watcher.frames == [
            {
                "Type": "presence-changes",
                "RoomID": LOBBY,
                "Changes": [
                    {"UID": 3, "Username": "second", "Online": True},
                    {"UID": 2, "Username": "first", "Online": False},
                ],
            }
        ]
        nursery.cancel_scope.cancel()


def test_a_room_with_many_listeners_is_told_less_often_up_to_a_ceiling() -> None:
    assert coalesce_interval(1) == coalesce_interval(COALESCE_LISTENERS) == COALESCE_S
    assert coalesce_interval(4 * COALESCE_LISTENERS) == 4 * COALESCE_S
    assert coalesce_interval(1000 * COALESCE_LISTENERS) == MAX_COALESCE_S


async def test_a_busy_rooms_long_interval_does_not_hold_back_a_small_rooms_telling(
    autojump_clock: trio.testing.MockClock,
) -> None:
    presence = Presence(LocalBus(), "here", timeout=30.0)
    crowd = [Listener(100 + i, f"crowd{i}") for i in range(4 * COALESCE_LISTENERS)]
    small, mover = Listener(1, "small"), Listener(2, "mover")
    async with trio.open_nursery() as nursery:
        await nursery.start(presence.announce)
        for listener in crowd:
            presence.enter_room(listener, LOBBY, listening=True, lists=True)
        presence.enter_room(small, 7, listening=True, lists=True)
        await trio.sleep(MAX_COALESCE_S)  # the crowd's arrivals told: a quiet spell
        presence.enter_room(mover, LOBBY, listening=False)  # the lobby: told at once
        presence.enter_room(mover, 7, listening=False)  # the lobby held back; room 7 told
        presence.enter_room(mover, 8, listening=False)  # room 7 held back too
        assert small.present[2] == "mover" and crowd[0].present[2] == "mover"
        # Room 7 is told within its own interval, though `announce` was waiting for the
        # lobby's, four times longer.
        await trio.sleep(COALESCE_S * 1.01)
        assert 2 not in small.present
        assert crowd[0].present[2] == "mover"  # the lobby's change: not yet
        await trio.sleep(3 * COALESCE_S)
        assert 2 not in crowd[0].present
        nursery.cancel_scope.cancel()


class Broken(Listener):
    """A room connection whose `offer` fails once `armed`: a bug somewhere below it."""

    armed = False

    def offer(self, data: bytes) -> bool:
        if self.armed:
            raise RuntimeError("broken on purpose")
        return super().offer(data)


async def test_a_telling_that_fails_is_counted_and_the_other_rooms_are_still_told(
    autojump_clock: trio.testing.MockClock,
) -> None:
    failures = TaskFailures()
    presence = Presence(LocalBus(), "here", timeout=30.0, failures=failures)
    broken, watcher = Broken(1, "broken"), Listener(2, "watcher")
    first, second = Listener(3, "first"), Listener(4, "second")
    async with trio.open_nursery() as nursery:
        await nursery.start(presence.announce)
        presence.enter_room(broken, 1, listening=True)
        presence.enter_room(watcher, 2, listening=True)
        presence.enter_room(first, 1, listening=False)  # each room told at once
        presence.enter_room(second, 2, listening=False)
        broken.armed = True
        presence.leave_room(first)  # both held back, for `announce`
        presence.leave_room(second)
        await trio.sleep(2 * COALESCE_S)
        assert failures.counts == {"presence": 1}
        assert watcher.present == {2: "watcher"}
        # `announce` goes on: the next held-back change reaches the watcher too.
        presence.enter_room(second, 2, listening=False)
        presence.leave_room(second)
        assert watcher.present == {2: "watcher", 4: "second"}
        await trio.sleep(2 * COALESCE_S)
        assert watcher.present == {2: "watcher"}
        nursery.cancel_scope.cancel()
