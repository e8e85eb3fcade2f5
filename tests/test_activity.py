"""Activity frames: every ``/ws`` connection of a user hears, for each
of their rooms other than the one it is in, ``{"Type": "activity", "RoomID",
"MessageID", "Mention"}`` when a message arrives there: at most one frame per room per
second per connection, coalesced (the latest MessageID; Mention true if any was a
mention). Badges need no polling."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import trio
import trio.testing
from support import (
    Account,
    Clients,
    JsonClient,
    Server,
    account,
    create_room,
    entered,
    http_client,
    server_config,
)

from chat.app.people.activity import MAX_WINDOW_S, WINDOW_READERS, WINDOW_S, Activity, window_length
from chat.core.records import Identity, Message
from chat.store import open_store

LOBBY = 1


async def _watching(clients: Clients, user: Account) -> JsonClient:
    """A connection of `user` in no room, answered once (from then on it hears every
    room's activity)."""
    ws = await clients.json("/ws", token=user.token)
    assert (await ws.request({"Type": "enter", "RoomID": 0}))["Type"] == "left"
    return ws


async def _nothing_within(ws: JsonClient, seconds: float) -> None:
    with trio.move_on_after(seconds):
        frame = await ws.receive()
        raise AssertionError(f"expected no frame, got {frame}")


async def test_a_message_in_another_room_is_heard_as_activity(
    server: Server, clients: Clients
) -> None:
    alice, bob = await account(server, "alice"), await account(server, "bob")
    room_id = await create_room(server, alice, "room", bob)
    watcher = await _watching(clients, bob)
    sent = await (await entered(clients, alice, room_id)).request(
        {"Type": "message", "Text": "hello"}
    )
    assert await watcher.receive() == {
        "Type": "activity",
        "RoomID": room_id,
        "MessageID": sent["MessageID"],
        "Mention": False,
    }


async def test_a_mention_is_heard_as_a_mention(server: Server, clients: Clients) -> None:
    alice, bob = await account(server, "alice"), await account(server, "bob")
    room_id = await create_room(server, alice, "room", bob)
    watcher = await _watching(clients, bob)
    ws = await entered(clients, alice, room_id)
    await ws.request({"Type": "message", "Text": "@bob look"})
    assert (await watcher.receive())["Mention"] is True


async def test_the_room_a_connection_is_in_sends_messages_not_activity(
    server: Server, clients: Clients
) -> None:
    alice, bob = await account(server, "alice"), await account(server, "bob")
    room_id = await create_room(server, alice, "room", bob)
    reader = await entered(clients, bob, room_id)
    ws = await entered(clients, alice, room_id)
    sent = await ws.request({"Type": "message", "Text": "hello"})
    assert (await reader.receive())["MessageID"] == sent["MessageID"]
    await _nothing_within(reader, 0.3)


async def test_ones_own_messages_are_not_activity(server: Server, clients: Clients) -> None:
    alice = await account(server, "alice")
    room_id = await create_room(server, alice, "room")
    other_tab = await _watching(clients, alice)
    await (await entered(clients, alice, room_id)).request({"Type": "message", "Text": "me"})
    await _nothing_within(other_tab, 0.3)


async def test_a_room_one_is_not_a_member_of_is_silent(server: Server, clients: Clients) -> None:
    alice, bob = await account(server, "alice"), await account(server, "bob")
    room_id = await create_room(server, alice, "room")
    watcher = await _watching(clients, bob)
    await (await entered(clients, alice, room_id)).request({"Type": "message", "Text": "x"})
    await _nothing_within(watcher, 0.3)


async def test_a_burst_is_coalesced_into_one_frame_a_second(
    server: Server, clients: Clients
) -> None:
    alice, bob = await account(server, "alice"), await account(server, "bob")
    room_id = await create_room(server, alice, "room", bob)
    watcher = await _watching(clients, bob)
    ws = await entered(clients, alice, room_id)
    texts = ["one", "two", "@bob three", "four", "five"]
    sent = [await ws.request({"Type": "message", "Text": text}) for text in texts]
    first = await watcher.receive()
    assert (first["MessageID"], first["Mention"]) == (sent[0]["MessageID"], False)
    started = trio.current_time()
    second = await watcher.receive()
    # The rest, in one frame at the end of the window: the latest, and a mention in it.
    assert (second["MessageID"], second["Mention"]) == (sent[-1]["MessageID"], True)
    assert trio.current_time() - started <= WINDOW_S + 0.5
    await _nothing_within(watcher, 0.3)


async def test_rooms_are_coalesced_each_on_its_own(server: Server, clients: Clients) -> None:
    alice, bob = await account(server, "alice"), await account(server, "bob")
    first_room = await create_room(server, alice, "first", bob)
    second_room = await create_room(server, alice, "second", bob)
    watcher = await _watching(clients, bob)
    for room_id in (first_room, second_room):
        await (await entered(clients, alice, room_id)).request({"Type": "message", "Text": "x"})
    heard = {(await watcher.receive())["RoomID"] for _ in range(2)}
    assert heard == {first_room, second_room}


async def test_a_room_joined_after_connecting_is_heard(server: Server, clients: Clients) -> None:
    alice, bob = await account(server, "alice"), await account(server, "bob")
    room_id = await create_room(server, alice, "room")
    watcher = await _watching(clients, bob)
    async with http_client(server) as client:
        joined = await client.put("/join", headers=bob.auth, json={"RoomID": room_id})
    assert joined.status_code == 200, joined.text
    notice = await watcher.receive()
    assert notice == {"Type": "joined", "RoomID": room_id, "Name": "room"}
    sent = await (await entered(clients, alice, room_id)).request({"Type": "message", "Text": "x"})
    assert (await watcher.receive())["MessageID"] == sent["MessageID"]


async def test_a_room_invited_into_after_connecting_is_heard(
    server: Server, clients: Clients
) -> None:
    alice, bob = await account(server, "alice"), await account(server, "bob")
    room_id = await create_room(server, alice, "room", private=True)
    watcher = await _watching(clients, bob)
    async with http_client(server) as client:
        invited = await client.put(
            "/invite", headers=alice.auth, json={"RoomID": room_id, "UID": bob.uid}
        )
    assert invited.status_code == 200, invited.text
    assert (await watcher.receive())["Type"] == "invited"
    sent = await (await entered(clients, alice, room_id)).request({"Type": "message", "Text": "x"})
    assert (await watcher.receive())["MessageID"] == sent["MessageID"]


async def test_a_direct_message_comes_itself_not_as_activity(
    server: Server, clients: Clients
) -> None:
    alice, bob = await account(server, "alice"), await account(server, "bob")
    watcher = await _watching(clients, bob)
    async with http_client(server) as client:
        opened = await client.get(f"/dm/{bob.uid}", headers=alice.auth)
        assert opened.status_code == 200, opened.text
        room_id = opened.json()["RoomID"]
        posted = await client.post(f"/messages/{room_id}", headers=alice.auth, json={"Text": "hi"})
    assert posted.status_code == 201, posted.text
    frame = await watcher.receive()
    assert (frame["content"], frame["id"]) == ("hi", posted.json()["MessageID"])  # spec 003's
    await _nothing_within(watcher, 0.3)


async def test_the_lobby_is_heard_by_everyone(server: Server, clients: Clients) -> None:
    alice, bob = await account(server, "alice"), await account(server, "bob")
    watcher = await _watching(clients, bob)
    sent = await (await entered(clients, alice, LOBBY)).request({"Type": "message", "Text": "x"})
    assert (await watcher.receive())["MessageID"] == sent["MessageID"]


async def test_an_edit_that_adds_a_mention_is_heard_by_the_newly_mentioned_only(
    server: Server, clients: Clients
) -> None:
    alice, bob, carol = [await account(server, n) for n in ("alice", "bob", "carol")]
    room_id = await create_room(server, alice, "room", bob, carol)
    ws = await entered(clients, alice, room_id)
    sent = await ws.request({"Type": "message", "Text": "@carol ask someone"})
    bob_watching, carol_watching = await _watching(clients, bob), await _watching(clients, carol)
    await ws.request({"Type": "edit", "MessageID": sent["MessageID"], "Text": "@carol ask @bob"})
    heard = await bob_watching.receive()
    assert heard == {
        "Type": "activity",
        "RoomID": room_id,
        "MessageID": sent["MessageID"],
        "Mention": True,
    }
    await _nothing_within(carol_watching, 0.3)  # mentioned before: not again


async def test_a_public_room_created_is_told_to_everyone(server: Server, clients: Clients) -> None:
    alice, bob = await account(server, "alice"), await account(server, "bob")
    watcher = await _watching(clients, bob)
    room_id = await create_room(server, alice, "books")
    assert await watcher.receive() == {"Type": "room-created", "RoomID": room_id, "Name": "books"}


async def test_a_private_room_created_is_told_to_nobody_else(
    server: Server, clients: Clients
) -> None:
    alice, bob = await account(server, "alice"), await account(server, "bob")
    watcher = await _watching(clients, bob)
    await create_room(server, alice, "secret", private=True)
    await _nothing_within(watcher, 0.3)


# --- busy rooms: a longer window (chat.app.people.activity.window_length) ---


def test_a_room_with_many_readers_gathers_longer_up_to_a_ceiling() -> None:
    assert window_length(1) == window_length(WINDOW_READERS) == WINDOW_S
    assert window_length(3 * WINDOW_READERS) == 3 * WINDOW_S
    assert window_length(100 * WINDOW_READERS) == MAX_WINDOW_S
    assert window_length(100 * WINDOW_READERS, base=2 * MAX_WINDOW_S) == 2 * MAX_WINDOW_S


class _Elsewhere:
    """A connection in no room, keeping the activity frames offered to it."""

    room_id = None

    def __init__(self, user_id: int) -> None:
        self.identity = Identity(user_id, f"user{user_id}", is_admin=False, token_version=0)
        self.frames: list[bytes] = []

    def offer(self, data: bytes) -> bool:
        self.frames.append(data)
        return True


def _lobby_message(message_id: int, sender_id: int) -> Message:
    return Message(
        id=message_id,
        room_id=LOBBY,
        sender_id=sender_id,
        sender_name=f"user{sender_id}",
        body="hi",
        created_at=datetime.now(UTC),
    )


async def test_a_lobby_with_many_readers_is_told_of_a_burst_after_its_longer_window(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    readers = 3 * WINDOW_READERS  # a window three times as long
    async with open_store(server_config(tmp_path, None)) as store:
        lobby = await store.room_by_id(store.lobby_id)
        assert lobby is not None
        activity = Activity(store, lobby.id)
        watchers = [_Elsewhere(user_id) for user_id in range(1, readers + 1)]
        async with trio.open_nursery() as nursery:
            await nursery.start(activity.run)
            for watcher in watchers:
                activity.file(watcher)
            activity.offer([(_lobby_message(10, readers + 1), lobby)])  # told at once
            await trio.sleep(0.01)
            assert all(len(watcher.frames) == 1 for watcher in watchers)
            activity.offer([(_lobby_message(11, readers + 1), lobby)])  # gathered
            await trio.sleep(2 * WINDOW_S)
            assert all(len(watcher.frames) == 1 for watcher in watchers)
            await trio.sleep(1.1 * WINDOW_S)  # past three times WINDOW_S
            assert all(len(watcher.frames) == 2 for watcher in watchers)
            assert b'"MessageID":11' in watchers[0].frames[1]
            nursery.cancel_scope.cancel()
