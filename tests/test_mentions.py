"""Mentions: ``@name`` in a message's text mentions that user if they
may read the room (names compared as logging in compares them; the longest name that
matches wins), ``@room`` every member (in rooms over 50 members, from the creator only).
Frames and history items carry ``"Mentions": [UID, ...]`` and ``"MentionsRoom": true``;
``GET /rooms/unread`` counts unread mentions; an edit mentions who its new text names."""

from __future__ import annotations

from typing import Any

import trio
from support import (
    Account,
    Clients,
    Server,
    account,
    create_room,
    entered,
    http_client,
    room_history,
)

from chat.app.messages.mentions import LARGE_ROOM, MAX_MENTIONS, name_prefixes

LOBBY = 1


async def _unread(server: Server, user: Account) -> dict[int, dict[str, Any]]:
    async with http_client(server) as client:
        response = await client.get("/rooms/unread", headers=user.auth)
    assert response.status_code == 200, response.text
    return {row["RoomID"]: row for row in response.json()}


def test_a_mention_may_end_at_any_word_end_longest_first() -> None:
    assert name_prefixes("hi @Ann Lee, look") == [["Ann Lee, look", "Ann Lee,", "Ann Lee", "Ann"]]


def test_an_address_and_code_mention_nobody() -> None:
    assert name_prefixes("mail bob@example.com or run `@bob` or\n```\n@bob\n```") == []


def test_a_mention_ends_at_the_end_of_its_line() -> None:
    assert name_prefixes("@bob\nsecond line") == [["bob"]]


def test_what_is_looked_at_is_bounded_whatever_the_text() -> None:
    found = name_prefixes(" ".join(["@a b c d e f g h i j k l m n o p q r s t"] * 500))
    assert len(found) == MAX_MENTIONS
    assert all(len(each) <= 12 for each in found)


async def test_a_mention_reaches_frames_and_history(server: Server, clients: Clients) -> None:
    alice, bob = await account(server, "alice"), await account(server, "bob")
    room_id = await create_room(server, alice, "room", bob)
    ws = await entered(clients, alice, room_id)
    sent = await ws.request({"Type": "message", "Text": "@bob have a look"})
    assert sent["Mentions"] == [bob.uid]
    assert "MentionsRoom" not in sent
    (item,) = await room_history(server, alice, room_id)
    assert item["Mentions"] == [bob.uid]


async def test_a_message_without_mentions_carries_an_empty_list(
    server: Server, clients: Clients
) -> None:
    alice = await account(server, "alice")
    ws = await entered(clients, alice, LOBBY)
    sent = await ws.request({"Type": "message", "Text": "nobody here, write to a@b.c"})
    assert sent["Mentions"] == []


async def test_names_are_compared_case_and_look_alikes_aside(
    server: Server, clients: Clients
) -> None:
    alice, bob = await account(server, "alice"), await account(server, "bob")
    ws = await entered(clients, alice, LOBBY)
    # Capitals, and the Cyrillic small letter o (U+043E) for the Latin one.
    sent = await ws.request({"Type": "message", "Text": "@BOB and @b\u043eb"})
    assert sent["Mentions"] == [bob.uid]


async def test_the_longest_name_that_matches_wins(server: Server, clients: Clients) -> None:
    ann, ann_lee = await account(server, "ann"), await account(server, "ann lee")
    ws = await entered(clients, ann, LOBBY)
    sent = await ws.request({"Type": "message", "Text": "thanks @Ann Lee! and @ann."})
    assert sent["Mentions"] == [ann_lee.uid, ann.uid]


async def test_someone_who_cannot_read_the_room_is_not_mentioned(
    server: Server, clients: Clients
) -> None:
    alice, bob = await account(server, "alice"), await account(server, "bob")
    room_id = await create_room(server, alice, "secret", private=True)
    ws = await entered(clients, alice, room_id)
    sent = await ws.request({"Type": "message", "Text": "@bob can't see this"})
    assert sent["Mentions"] == []
    assert (await _unread(server, bob)).get(room_id) is None


async def test_a_mention_counts_as_unread_until_read(server: Server, clients: Clients) -> None:
    alice, bob = await account(server, "alice"), await account(server, "bob")
    room_id = await create_room(server, alice, "room", bob)
    ws = await entered(clients, alice, room_id)
    await ws.request({"Type": "message", "Text": "plain"})
    mention = await ws.request({"Type": "message", "Text": "@bob over to you"})
    assert (await _unread(server, bob))[room_id] == {
        "RoomID": room_id,
        "Unread": 2,
        "Mentions": 1,
    }
    reader = await entered(clients, bob, room_id)
    await reader.request({"Type": "read", "RoomID": room_id, "MessageID": mention["MessageID"]})
    assert (await _unread(server, bob))[room_id]["Mentions"] == 0


async def test_a_deleted_mention_no_longer_counts(server: Server, clients: Clients) -> None:
    alice, bob = await account(server, "alice"), await account(server, "bob")
    room_id = await create_room(server, alice, "room", bob)
    ws = await entered(clients, alice, room_id)
    sent = await ws.request({"Type": "message", "Text": "@bob oops"})
    await ws.request({"Type": "delete", "MessageID": sent["MessageID"]})
    assert (await _unread(server, bob))[room_id]["Mentions"] == 0
    (item,) = await room_history(server, alice, room_id)
    assert item["Mentions"] == []


async def test_at_room_mentions_every_member_but_the_sender(
    server: Server, clients: Clients
) -> None:
    alice, bob, carol = [await account(server, n) for n in ("alice", "bob", "carol")]
    room_id = await create_room(server, alice, "room", bob, carol)
    ws = await entered(clients, bob, room_id)
    sent = await ws.request({"Type": "message", "Text": "@room standup in 5"})
    assert (sent["Mentions"], sent["MentionsRoom"]) == ([], True)
    assert (await _unread(server, alice))[room_id]["Mentions"] == 1
    assert (await _unread(server, carol))[room_id]["Mentions"] == 1
    assert (await _unread(server, bob))[room_id]["Mentions"] == 0


async def test_a_message_naming_someone_and_the_room_counts_once(
    server: Server, clients: Clients
) -> None:
    alice, bob = await account(server, "alice"), await account(server, "bob")
    room_id = await create_room(server, alice, "room", bob)
    ws = await entered(clients, alice, room_id)
    sent = await ws.request({"Type": "message", "Text": "@room and @bob"})
    assert (sent["Mentions"], sent["MentionsRoom"]) == ([bob.uid], True)
    assert (await _unread(server, bob))[room_id]["Mentions"] == 1


async def _crowd(server: Server, owner: Account, size: int) -> tuple[int, list[Account]]:
    """A group room of `owner` and `size` others, who join it."""
    others: list[Account] = []
    registering = trio.CapacityLimiter(4)  # what the password queue takes at once

    async def one(i: int) -> None:
        async with registering:
            others.append(await account(server, f"member{i}"))

    async with trio.open_nursery() as nursery:
        for i in range(size):
            nursery.start_soon(one, i)
    return await create_room(server, owner, "crowd", *others), others


async def test_only_the_creator_may_mention_a_large_room(server: Server, clients: Clients) -> None:
    owner = await account(server, "owner")
    room_id, others = await _crowd(server, owner, LARGE_ROOM)  # one more than LARGE_ROOM
    member = await entered(clients, others[0], room_id)
    refused = await member.request({"Type": "message", "Text": "@room hello all"})
    assert refused["Type"] == "error"
    assert "only the room's creator" in refused["Error"]
    creator = await entered(clients, owner, room_id)
    sent = await creator.request({"Type": "message", "Text": "@room hello all"})
    assert sent["MentionsRoom"] is True


async def test_an_edit_that_adds_a_mention_mentions_them(server: Server, clients: Clients) -> None:
    alice, bob = await account(server, "alice"), await account(server, "bob")
    room_id = await create_room(server, alice, "room", bob)
    ws = await entered(clients, alice, room_id)
    sent = await ws.request({"Type": "message", "Text": "ask someone"})
    edited = await ws.request({"Type": "edit", "MessageID": sent["MessageID"], "Text": "ask @bob"})
    assert edited["Mentions"] == [bob.uid]
    assert (await _unread(server, bob))[room_id]["Mentions"] == 1
    (item,) = await room_history(server, alice, room_id)
    assert item["Mentions"] == [bob.uid]


async def test_an_edit_that_drops_a_mention_unmentions_them(
    server: Server, clients: Clients
) -> None:
    alice, bob = await account(server, "alice"), await account(server, "bob")
    room_id = await create_room(server, alice, "room", bob)
    ws = await entered(clients, alice, room_id)
    sent = await ws.request({"Type": "message", "Text": "ask @bob"})
    edited = await ws.request({"Type": "edit", "MessageID": sent["MessageID"], "Text": "ask me"})
    assert edited["Mentions"] == []
    assert (await _unread(server, bob))[room_id]["Mentions"] == 0


async def test_http_posts_mention_too(server: Server) -> None:
    alice, bob = await account(server, "alice"), await account(server, "bob")
    async with http_client(server) as client:
        posted = await client.post(
            f"/messages/{LOBBY}", headers=alice.auth, json={"Text": "hey @bob"}
        )
    assert posted.status_code == 201, posted.text
    assert posted.json()["Mentions"] == [bob.uid]
