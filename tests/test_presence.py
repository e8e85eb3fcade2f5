"""Presence (chat.app.presence.tracker): who is in a room, as presence frames on /ws and as
GET /room/{roomID}/online; on one server (both backends) and across two instances."""

from __future__ import annotations

import signal
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import trio
from cluster import Instance, instance_config, open_cluster, running_redis, start_instance
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
from test_metrics import until

from chat.app.presence.announcements import COALESCE_S
from chat.app.presence.tracker import HEARTBEAT_S, Presence
from chat.bus.local import LocalBus

#: The cluster tests' CHAT_PRESENCE_TIMEOUT: a dead instance's users go offline within it.
TIMEOUT_S = 3.0


def presence(room_id: int, user: Account, online: bool) -> dict[str, Any]:
    return {
        "Type": "presence",
        "RoomID": room_id,
        "UID": user.uid,
        "Username": user.name,
        "Online": online,
    }


async def enter(ws: JsonClient, room_id: int, *present: Account) -> None:
    """Enter the room with spec 004's own frame (presence frames come by default); check
    `entered`, then one presence frame per user present (by name)."""
    entered = await ws.request({"Type": "enter", "RoomID": room_id})
    assert entered["Type"] == "entered", entered
    for user in sorted(present, key=lambda u: u.name):
        assert await ws.receive() == presence(room_id, user, True)


async def online(server: Server, room_id: int, user: Account) -> Any:
    async with http_client(server) as client:
        response = await client.get(f"/room/{room_id}/online", headers=user.auth)
    assert response.status_code == 200, response.text
    return response.json()


def listed(*users: Account) -> list[dict[str, Any]]:
    return [{"UID": u.uid, "Username": u.name} for u in sorted(users, key=lambda u: u.name)]


@dataclass
class BobAndAlice:
    """Bob and alice, each with a connection in one room."""

    room_id: int
    bob: Account
    alice: Account
    bob_ws: JsonClient
    alice_ws: JsonClient


async def bob_then_alice_in_a_room(on_bobs: Clients, on_alices: Clients) -> BobAndAlice:
    """Bob enters a room (on `on_bobs`' server), then alice (on `on_alices`'); returns
    once bob has heard of her."""
    bob, alice = await account(on_bobs.server, "bob"), await account(on_alices.server, "alice")
    room_id = await create_room(on_bobs.server, bob, "general", alice)
    bob_ws = await on_bobs.json("/ws", token=bob.token)
    await enter(bob_ws, room_id, bob)
    alice_ws = await on_alices.json("/ws", token=alice.token)
    await enter(alice_ws, room_id, alice, bob)
    assert await bob_ws.receive() == presence(room_id, alice, True)
    return BobAndAlice(room_id, bob, alice, bob_ws, alice_ws)


# --- one server ---


async def test_entering_a_room_lists_who_is_present_right_after_entered(
    server: Server, clients: Clients
) -> None:
    bob, alice = await account(server, "bob"), await account(server, "alice")
    room_id = await create_room(server, bob, "general", alice)
    await enter(await clients.json("/ws", token=bob.token), room_id, bob)
    await enter(await clients.json("/ws", token=alice.token), room_id, alice, bob)


async def test_the_room_hears_a_user_become_present(server: Server, clients: Clients) -> None:
    bob, alice = await account(server, "bob"), await account(server, "alice")
    room_id = await create_room(server, bob, "general", alice)
    bob_ws = await clients.json("/ws", token=bob.token)
    await enter(bob_ws, room_id, bob)
    await enter(await clients.json("/ws", token=alice.token), room_id, alice, bob)
    assert await bob_ws.receive() == presence(room_id, alice, True)


async def test_a_user_stays_present_until_their_last_connection_leaves(
    server: Server, clients: Clients
) -> None:
    bob, alice = await account(server, "bob"), await account(server, "alice")
    room_id = await create_room(server, bob, "general", alice)
    bob_ws = await clients.json("/ws", token=bob.token)
    await enter(bob_ws, room_id, bob)
    first = await clients.json("/ws", token=alice.token)
    second = await clients.json("/ws", token=alice.token)
    await enter(first, room_id, alice, bob)
    assert await bob_ws.receive() == presence(room_id, alice, True)
    await enter(second, room_id, alice, bob)  # not new: nobody hears of it
    assert await first.request({"Type": "enter", "RoomID": 0}) == {
        "Type": "left",
        "RoomID": room_id,
    }
    await second.ws.aclose()
    # The next frame bob gets says alice left: neither earlier step sent him anything.
    assert await bob_ws.receive() == presence(room_id, alice, False)


async def test_closing_the_connection_leaves_the_room(server: Server, clients: Clients) -> None:
    them = await bob_then_alice_in_a_room(clients, clients)
    await them.alice_ws.ws.aclose()
    assert await them.bob_ws.receive() == presence(them.room_id, them.alice, False)
    assert await online(server, them.room_id, them.bob) == listed(them.bob)


async def test_presence_true_on_enter_is_the_default_said_out_loud(
    server: Server, clients: Clients
) -> None:
    bob = await account(server, "bob")
    room_id = await create_room(server, bob, "general")
    ws = await clients.json("/ws", token=bob.token)
    entered = await ws.request({"Type": "enter", "RoomID": room_id, "Presence": True})
    assert entered == {"Type": "entered", "RoomID": room_id, "Name": "general"}
    assert await ws.receive() == presence(room_id, bob, True)


async def test_with_presence_false_on_enter_a_connection_gets_only_spec_004_frames(
    server: Server, clients: Clients
) -> None:
    bob, alice = await account(server, "bob"), await account(server, "alice")
    room_id = await create_room(server, bob, "general", alice)
    plain = await clients.json("/ws", token=bob.token)
    entered = await plain.request({"Type": "enter", "RoomID": room_id, "Presence": False})
    assert entered == {"Type": "entered", "RoomID": room_id, "Name": "general"}
    alice_ws = await clients.json("/ws", token=alice.token)
    await enter(alice_ws, room_id, alice, bob)  # bob is present all the same
    await alice_ws.send({"Type": "typing"})
    await alice_ws.send({"Type": "message", "Text": "hello"})
    # Neither alice's arrival nor her typing came first: the message is bob's next frame.
    assert (await plain.receive())["Type"] == "message"


async def test_presence_on_enter_must_be_true_false_or_list(
    server: Server, clients: Clients
) -> None:
    bob = await account(server, "bob")
    ws = await clients.json("/ws", token=bob.token)
    for wrong in ("yes", "lists", 1, ["list"]):
        answer = await ws.request({"Type": "enter", "RoomID": 1, "Presence": wrong})
        assert answer == {
            "Type": "error",
            "Error": 'field "Presence" must be true, false or "list"',
        }


async def enter_for_lists(ws: JsonClient, room_id: int, *present: Account) -> None:
    """Enter the room with ``"Presence": "list"``; check `entered`, then the one frame
    listing the users present (by name)."""
    entered = await ws.request({"Type": "enter", "RoomID": room_id, "Presence": "list"})
    assert entered["Type"] == "entered", entered
    assert await ws.receive() == {
        "Type": "presence-list",
        "RoomID": room_id,
        "Users": listed(*present),
    }


def changes(room_id: int, *changed: tuple[Account, bool]) -> dict[str, Any]:
    people = [{"UID": u.uid, "Username": u.name, "Online": online} for u, online in changed]
    return {"Type": "presence-changes", "RoomID": room_id, "Changes": people}


async def test_with_presence_list_the_users_present_come_in_one_frame_after_entered(
    server: Server, clients: Clients
) -> None:
    carol, alice, bob = [await account(server, n) for n in ("carol", "alice", "bob")]
    room_id = await create_room(server, carol, "general", alice, bob)
    await enter_for_lists(await clients.json("/ws", token=carol.token), room_id, carol)
    await enter(await clients.json("/ws", token=bob.token), room_id, bob, carol)
    await trio.sleep(2 * COALESCE_S)  # bob's arrival told: alice's list has everyone
    alice_ws = await clients.json("/ws", token=alice.token)
    await enter_for_lists(alice_ws, room_id, alice, bob, carol)


async def test_with_presence_list_each_change_comes_in_a_changes_frame(
    server: Server, clients: Clients
) -> None:
    bob, alice = await account(server, "bob"), await account(server, "alice")
    room_id = await create_room(server, bob, "general", alice)
    bob_ws = await clients.json("/ws", token=bob.token)
    await enter_for_lists(bob_ws, room_id, bob)
    alice_ws = await clients.json("/ws", token=alice.token)
    await enter(alice_ws, room_id, alice, bob)
    assert await bob_ws.receive() == changes(room_id, (alice, True))
    await alice_ws.ws.aclose()
    assert await bob_ws.receive() == changes(room_id, (alice, False))


async def test_one_change_reaches_each_connection_in_the_form_it_entered_with(
    server: Server, clients: Clients
) -> None:
    bob, carol, alice = [await account(server, n) for n in ("bob", "carol", "alice")]
    room_id = await create_room(server, bob, "general", carol, alice)
    lists_ws = await clients.json("/ws", token=bob.token)
    await enter_for_lists(lists_ws, room_id, bob)
    frames_ws = await clients.json("/ws", token=carol.token)
    await enter(frames_ws, room_id, bob, carol)
    assert await lists_ws.receive() == changes(room_id, (carol, True))
    await trio.sleep(2 * COALESCE_S)  # the next change is told at once, not held back
    await enter(await clients.json("/ws", token=alice.token), room_id, alice, bob, carol)
    assert await lists_ws.receive() == changes(room_id, (alice, True))
    assert await frames_ws.receive() == presence(room_id, alice, True)


async def test_get_online_lists_the_users_present_by_name(server: Server, clients: Clients) -> None:
    carol, alice, bob = [await account(server, n) for n in ("carol", "alice", "bob")]
    room_id = await create_room(server, carol, "general", alice, bob)
    await enter(await clients.json("/ws", token=carol.token), room_id, carol)
    await enter(await clients.json("/ws", token=alice.token), room_id, alice, carol)
    assert await online(server, room_id, bob) == listed(alice, carol)


@pytest.mark.parametrize(
    ("who", "room", "status"),
    [("outsider", "private", 403), ("member", "missing", 404), ("nobody", "private", 401)],
    ids=["non-member-403", "no-such-room-404", "no-token-401"],
)
async def test_get_online_is_refused_with_a_clear_error(
    server: Server, who: str, room: str, status: int
) -> None:
    owner, outsider = await account(server, "owner"), await account(server, "outsider")
    room_id = await create_room(server, owner, "secret", private=True)
    target = room_id if room == "private" else 999_999
    headers = {"outsider": outsider.auth, "member": owner.auth, "nobody": {}}[who]
    async with http_client(server) as client:
        response = await client.get(f"/room/{target}/online", headers=headers)
    assert response.status_code == status, response.text
    assert response.json()["error"]


# --- two instances ---


@pytest.fixture
async def pair(tmp_path: Path) -> AsyncIterator[list[Instance]]:
    """Two instances of one chat on PostgreSQL (its LISTEN/NOTIFY bus)."""
    async with (
        throwaway_postgres_schema() as url,
        open_cluster(tmp_path, url, 2, presence_timeout=TIMEOUT_S) as instances,
    ):
        yield instances


@asynccontextmanager
async def bob_on_a_and_alice_on_b(pair: list[Instance]) -> AsyncIterator[BobAndAlice]:
    """`bob_then_alice_in_a_room`, bob on instance a and alice on instance b."""
    async with open_clients(pair[0].server) as on_a, open_clients(pair[1].server) as on_b:
        yield await bob_then_alice_in_a_room(on_a, on_b)


async def test_presence_frames_cross_instances(pair: list[Instance]) -> None:
    async with bob_on_a_and_alice_on_b(pair) as them:
        await them.alice_ws.ws.aclose()
        assert await them.bob_ws.receive() == presence(them.room_id, them.alice, False)


async def test_user_search_on_one_instance_sees_a_user_online_on_the_other(
    pair: list[Instance],
) -> None:
    async with bob_on_a_and_alice_on_b(pair) as them:
        async with http_client(pair[0].server) as client:
            response = await client.get("/users", headers=them.bob.auth, params={"prefix": "alice"})
        assert response.json() == [{"UID": them.alice.uid, "Username": "alice", "Online": True}]


async def test_get_online_lists_a_user_connected_to_the_other_instance(
    pair: list[Instance],
) -> None:
    async with bob_on_a_and_alice_on_b(pair) as them:
        answer = await online(pair[0].server, them.room_id, them.bob)
        assert answer == listed(them.alice, them.bob)


async def test_an_instance_started_later_knows_the_others_within_moments(tmp_path: Path) -> None:
    """Not at the others' next heartbeat (10 s): they answer a newcomer's first snapshot
    with theirs. A user online on the first instance shows as online on the second."""
    async with throwaway_postgres_schema() as url, open_cluster(tmp_path, url, 1) as (first,):
        user, seeker = await account(first.server, "early"), await account(first.server, "seeker")
        async with open_clients(first.server) as on_first:
            await on_first.json("/ws", token=user.token)
            config = instance_config(tmp_path, url, 2)
            second = await start_instance(config, tmp_path / "instance-late.log")
            try:
                with trio.fail_after(HEARTBEAT_S / 3):
                    await until(second.server, "chat_cluster_instances", 2)
                async with http_client(second.server) as client:
                    found = await client.get("/users?prefix=ear", headers=seeker.auth)
                assert found.json()[0]["Online"] is True, found.text
            finally:
                with trio.CancelScope(shield=True):
                    await second.stop()


async def test_a_killed_instance_takes_its_users_offline_within_the_presence_timeout(
    pair: list[Instance],
) -> None:
    async with bob_on_a_and_alice_on_b(pair) as them:
        await pair[1].stop(signal.SIGKILL)
        killed = trio.current_time()
        # Within the timeout, plus one check period (a second) and some slack.
        with trio.fail_after(TIMEOUT_S + 1.0 + STEP / 5):
            gone = await them.bob_ws.receive()
        assert gone == presence(them.room_id, them.alice, False)
        # Forgotten, not told: its last snapshot came at most a heartbeat (timeout / 3)
        # before the kill, so about two thirds of the timeout pass first.
        assert trio.current_time() - killed >= TIMEOUT_S / 2
        assert await online(pair[0].server, them.room_id, them.bob) == listed(them.bob)


@pytest.fixture(params=["postgres-bus", "redis-bus"])
async def pair_on_either_bus(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[list[Instance]]:
    """`pair`, on PostgreSQL's bus or on a Redis of the test's own."""
    async with AsyncExitStack() as stack:
        url = await stack.enter_async_context(throwaway_postgres_schema())
        bus_url = None
        if request.param == "redis-bus":
            bus_url = (await stack.enter_async_context(running_redis(tmp_path))).url
        cluster = open_cluster(tmp_path, url, 2, bus_url=bus_url, presence_timeout=TIMEOUT_S)
        yield await stack.enter_async_context(cluster)


async def test_a_stopped_instance_takes_its_users_offline_at_once(
    pair_on_either_bus: list[Instance],
) -> None:
    pair = pair_on_either_bus
    async with bob_on_a_and_alice_on_b(pair) as them:
        await pair[1].stop(signal.SIGTERM)
        stopped = trio.current_time()
        with trio.fail_after(TIMEOUT_S + 1.0 + STEP / 5):
            gone = await them.bob_ws.receive()
        assert gone == presence(them.room_id, them.alice, False)
        # Told, not forgotten: well before a silent instance would be.
        assert trio.current_time() - stopped < TIMEOUT_S / 2


async def test_a_change_overtaken_by_its_instances_goodbye_is_ignored() -> None:
    # Events on the bus may arrive out of order: one sent before the goodbye, arriving
    # after it, must not bring the stopped instance's user back for the timeout.
    here = Presence(LocalBus(), "here", timeout=30.0)
    online = ["online", 7, "alice", True]
    here.on_event({"type": "presence", "instance": "there", "changes": [online]})
    assert here.is_online(7)
    here.on_event({"type": "presence", "instance": "there", "gone": True})
    assert not here.is_online(7)
    here.on_event({"type": "presence", "instance": "there", "changes": [online]})
    assert not here.is_online(7)
