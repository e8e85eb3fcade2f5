"""Room spam: how many rooms a user may create (`CHAT_RATE_ROOMS`) and
how many invitations and new direct conversations they may make (`CHAT_RATE_INVITES`),
on both backends: 429 with Retry-After over HTTP, the dialect's error frame for a first
direct message on a WebSocket, and nothing created past the limit."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import trio
from support import Account, account, create_room, http_client, open_clients, start_server

from chat.core.config import SETTINGS, Config

#: A generous limit for what a test does not exercise.
PLENTY = "1000/minute"
#: The longest a refusal may ask to wait: the limits under test are N per hour, and a
#: sliding-window counter may ask for up to an hour and an Nth (two hours for 1/hour).
AN_HOUR = 2 * 3600


def limited(config: Config, **limits: Any) -> Config:
    """`config` with rate limits on, every `CHAT_RATE_*` limit generous but those given."""
    generous = {
        setting.field: PLENTY
        for setting in SETTINGS
        if setting.env.startswith("CHAT_RATE_") and setting.env != "CHAT_RATE_LIMITS"
    }
    return config.replace(rate_limits=True, **{**generous, **limits})


def assert_refused(response: httpx.Response, what: str) -> None:
    """A 429 that says what was limited and when to try again (within the hour)."""
    assert response.status_code == 429, response.text
    assert 1 <= int(response.headers["Retry-After"]) <= AN_HOUR
    assert response.json()["error"].startswith(f"too many {what}: try again in ")


async def create(client: httpx.AsyncClient, owner: Account, name: str) -> httpx.Response:
    return await client.post(
        "/create-room", headers=owner.auth, json={"Name": name, "IsPrivate": False}
    )


async def invite(
    client: httpx.AsyncClient, owner: Account, room_id: int, guest: Account
) -> httpx.Response:
    return await client.put(
        "/invite", headers=owner.auth, json={"RoomID": room_id, "UID": guest.uid}
    )


async def room_ids(client: httpx.AsyncClient, user: Account) -> list[int]:
    response = await client.get("/rooms", headers=user.auth)
    assert response.status_code == 200, response.text
    return response.json()


# --- creating rooms ---


async def test_creating_rooms_past_the_limit_gets_429_and_creates_nothing(
    nursery: trio.Nursery, config: Config
) -> None:
    server = await start_server(nursery, limited(config, rate_rooms="3/hour"))
    alice = await account(server, "alice")
    async with http_client(server) as client:
        for i in range(3):
            assert (await create(client, alice, f"room {i}")).status_code == 201
        assert_refused(await create(client, alice, "one too many"), "rooms created")
        assert len(await room_ids(client, alice)) == 1 + 3  # the lobby and her three
        public = (await client.get("/rooms/public", headers=alice.auth)).json()
    assert "one too many" not in [room["Name"] for room in public]


async def test_the_room_limit_is_each_users_own(nursery: trio.Nursery, config: Config) -> None:
    server = await start_server(nursery, limited(config, rate_rooms="1/hour"))
    alice, bob = await account(server, "alice"), await account(server, "bob")
    async with http_client(server) as client:
        assert (await create(client, alice, "alice's")).status_code == 201
        assert_refused(await create(client, alice, "alice's second"), "rooms created")
        assert (await create(client, bob, "bob's")).status_code == 201


async def test_an_invalid_room_name_does_not_count_against_the_limit(
    nursery: trio.Nursery, config: Config
) -> None:
    server = await start_server(nursery, limited(config, rate_rooms="1/hour"))
    alice = await account(server, "alice")
    async with http_client(server) as client:
        for _ in range(3):
            assert (await create(client, alice, " padded ")).status_code == 400
        assert (await create(client, alice, "fine")).status_code == 201


async def test_with_rate_limits_off_rooms_are_not_counted(
    nursery: trio.Nursery, config: Config
) -> None:
    off = limited(config, rate_rooms="1/hour").replace(rate_limits=False)
    server = await start_server(nursery, off)
    alice = await account(server, "alice")
    async with http_client(server) as client:
        for i in range(3):
            assert (await create(client, alice, f"room {i}")).status_code == 201


# --- invitations ---


async def test_invitations_past_the_limit_get_429_and_add_nobody(
    nursery: trio.Nursery, config: Config
) -> None:
    server = await start_server(nursery, limited(config, rate_invites="2/hour"))
    owner = await account(server, "owner")
    guests = [await account(server, f"guest{i}") for i in range(3)]
    room_id = await create_room(server, owner, "secret", private=True)
    async with http_client(server) as client:
        for guest in guests[:2]:
            assert (await invite(client, owner, room_id, guest)).status_code == 200
        refused = await invite(client, owner, room_id, guests[2])
        assert_refused(refused, "invitations and new conversations")
        assert room_id not in await room_ids(client, guests[2])
        entered = await client.get(f"/messages/{room_id}", headers=guests[2].auth)
        assert entered.status_code == 403


async def test_a_refused_invitation_sends_no_notice(nursery: trio.Nursery, config: Config) -> None:
    server = await start_server(nursery, limited(config, rate_invites="1/hour"))
    owner, first, second = [await account(server, name) for name in ("owner", "first", "second")]
    room_id = await create_room(server, owner, "secret", private=True)
    async with open_clients(server) as clients:
        second_ws = await clients.json("/ws", token=second.token)
        async with http_client(server) as client:
            assert (await invite(client, owner, room_id, first)).status_code == 200
            assert (await invite(client, owner, room_id, second)).status_code == 429
        # Nothing came before the answer to a frame sent after the refusal.
        assert await second_ws.request({"Type": "enter", "RoomID": 0}) == {
            "Type": "left",
            "RoomID": 0,
        }


# --- direct conversations: a new one counts as an invitation ---


async def test_opening_direct_conversations_past_the_invitation_limit_gets_429(
    nursery: trio.Nursery, config: Config
) -> None:
    server = await start_server(nursery, limited(config, rate_invites="2/hour"))
    alice = await account(server, "alice")
    others = [await account(server, f"other{i}") for i in range(3)]
    async with http_client(server) as client:
        for other in others[:2]:
            assert (await client.get(f"/dm/{other.uid}", headers=alice.auth)).status_code == 200
        refused = await client.get(f"/dm/{others[2].uid}", headers=alice.auth)
        assert_refused(refused, "invitations and new conversations")
        assert len(await room_ids(client, others[2])) == 1  # the lobby only


async def test_invitations_and_new_conversations_share_one_limit(
    nursery: trio.Nursery, config: Config
) -> None:
    server = await start_server(nursery, limited(config, rate_invites="1/hour"))
    owner, guest, friend = [await account(server, name) for name in ("owner", "guest", "friend")]
    room_id = await create_room(server, owner, "secret", private=True)
    async with http_client(server) as client:
        assert (await invite(client, owner, room_id, guest)).status_code == 200
        refused = await client.get(f"/dm/{friend.uid}", headers=owner.auth)
        assert_refused(refused, "invitations and new conversations")


async def test_a_conversation_that_exists_is_not_counted_again(
    nursery: trio.Nursery, config: Config
) -> None:
    server = await start_server(nursery, limited(config, rate_invites="1/hour"))
    alice, bob = await account(server, "alice"), await account(server, "bob")
    async with http_client(server) as client:
        first = await client.get(f"/dm/{bob.uid}", headers=alice.auth)
        assert first.status_code == 200
        for user, other in ((alice, bob), (alice, bob), (bob, alice)):
            again = await client.get(f"/dm/{other.uid}", headers=user.auth)
            assert again.json() == first.json()


@pytest.mark.parametrize("path", ["/ws", "/"])
async def test_a_first_direct_message_past_the_limit_gets_an_error_frame_and_is_not_stored(
    nursery: trio.Nursery, config: Config, path: str
) -> None:
    server = await start_server(nursery, limited(config, rate_invites="1/hour"))
    alice, bob, carol = [await account(server, name) for name in ("alice", "bob", "carol")]
    async with open_clients(server) as clients:
        sender = await clients.json(path, token=alice.token)
        carol_ws = await clients.json("/ws", token=carol.token)
        sent = await sender.request({"from": alice.uid, "to": bob.uid, "content": "hi bob"})
        assert sent["content"] == "hi bob"  # the sender's copy: stored
        refused = await sender.request({"from": alice.uid, "to": carol.uid, "content": "hi carol"})
        assert refused["error"].startswith("too many invitations and new conversations: ")
        # The conversation with bob goes on; carol got nothing and has no conversation.
        again = await sender.request({"from": alice.uid, "to": bob.uid, "content": "still?"})
        assert again["content"] == "still?"
        assert await carol_ws.request({"Type": "enter", "RoomID": 0}) == {
            "Type": "left",
            "RoomID": 0,
        }
    async with http_client(server) as client:
        assert len(await room_ids(client, carol)) == 1  # the lobby only


async def test_a_new_group_conversation_past_the_limit_is_refused_and_not_made(
    nursery: trio.Nursery, config: Config
) -> None:
    server = await start_server(nursery, limited(config, rate_invites="1/hour"))
    ann, bob, cat, dan = [await account(server, name) for name in ("ann", "bob", "cat", "dan")]
    async with http_client(server) as client:
        first = await client.post("/dm", headers=ann.auth, json={"UIDs": [bob.uid, cat.uid]})
        assert first.status_code == 201, first.text
        again = await client.post("/dm", headers=ann.auth, json={"UIDs": [cat.uid, bob.uid]})
        assert again.json() == first.json()  # the one that exists: not counted again
        refused = await client.post("/dm", headers=ann.auth, json={"UIDs": [bob.uid, dan.uid]})
        assert_refused(refused, "invitations and new conversations")
        rooms = (await client.get("/rooms/details", headers=dan.auth)).json()
    assert [room for room in rooms if room.get("Members")] == []
