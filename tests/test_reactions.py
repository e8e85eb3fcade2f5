"""Reactions: ``{"Type": "react" | "unreact", "MessageID", "Emoji"}``
with one emoji or a ``:shortcode:``; a user reacts with a given emoji at most once per
message, at most 20 different emoji per message; every connection in the room receives
the message's whole reaction state in a ``reactions`` frame; history shows it."""

from __future__ import annotations

import pytest
from support import Clients, JsonClient, Server, account, create_room, entered, room_history


async def _one_message(server: Server, clients: Clients) -> tuple[JsonClient, int, int]:
    """alice's connection in a room of her own, and a message of hers there."""
    alice = await account(server, "alice")
    room_id = await create_room(server, alice, "room")
    ws = await entered(clients, alice, room_id)
    sent = await ws.request({"Type": "message", "Text": "ship it?"})
    return ws, room_id, sent["MessageID"]


async def test_a_reaction_reaches_everyone_with_the_whole_state(
    server: Server, clients: Clients
) -> None:
    alice, bob = await account(server, "alice"), await account(server, "bob")
    room_id = await create_room(server, alice, "room", bob)
    mine, theirs = await entered(clients, alice, room_id), await entered(clients, bob, room_id)
    sent = await mine.request({"Type": "message", "Text": "ship it?"})
    await theirs.receive()
    await mine.send({"Type": "react", "MessageID": sent["MessageID"], "Emoji": "👍"})
    assert (await theirs.receive())["Reactions"] == (await mine.receive())["Reactions"]
    await theirs.send({"Type": "react", "MessageID": sent["MessageID"], "Emoji": "👍"})
    await mine.receive()
    frame = await theirs.receive()
    assert frame == {
        "Type": "reactions",
        "RoomID": room_id,
        "MessageID": sent["MessageID"],
        "Reactions": [{"Emoji": "👍", "Count": 2, "UIDs": [alice.uid, bob.uid]}],
        "Seq": frame["Seq"],
    }


async def test_reacting_twice_with_the_same_emoji_changes_nothing(
    server: Server, clients: Clients
) -> None:
    ws, _room_id, message_id = await _one_message(server, clients)
    first = await ws.request({"Type": "react", "MessageID": message_id, "Emoji": "🎉"})
    again = await ws.request({"Type": "react", "MessageID": message_id, "Emoji": "🎉"})
    assert "Seq" in first and "Seq" not in again
    assert (
        again["Reactions"]
        == first["Reactions"]
        == [{"Emoji": "🎉", "Count": 1, "UIDs": first["Reactions"][0]["UIDs"]}]
    )


async def test_unreact_takes_the_reaction_back(server: Server, clients: Clients) -> None:
    ws, _room_id, message_id = await _one_message(server, clients)
    await ws.request({"Type": "react", "MessageID": message_id, "Emoji": ":shipit:"})
    taken_back = await ws.request({"Type": "unreact", "MessageID": message_id, "Emoji": ":shipit:"})
    assert taken_back["Reactions"] == [] and "Seq" in taken_back


async def test_history_shows_reactions_in_the_order_each_emoji_was_first_used(
    server: Server, clients: Clients
) -> None:
    alice, bob = await account(server, "alice"), await account(server, "bob")
    room_id = await create_room(server, alice, "room", bob)
    mine, theirs = await entered(clients, alice, room_id), await entered(clients, bob, room_id)
    sent = await mine.request({"Type": "message", "Text": "done"})
    for ws, emoji in ((theirs, "🎉"), (mine, "👍"), (mine, "🎉")):
        await ws.send({"Type": "react", "MessageID": sent["MessageID"], "Emoji": emoji})
        await mine.receive()
        await theirs.receive()
    (item,) = await room_history(server, alice, room_id)
    assert item["Reactions"] == [
        {"Emoji": "🎉", "Count": 2, "UIDs": [bob.uid, alice.uid]},
        {"Emoji": "👍", "Count": 1, "UIDs": [alice.uid]},
    ]


async def test_a_message_has_no_reactions_until_someone_reacts(
    server: Server, clients: Clients
) -> None:
    alice = await account(server, "alice")
    room_id = await create_room(server, alice, "room")
    sent = await (await entered(clients, alice, room_id)).request({"Type": "message", "Text": "x"})
    assert sent["Reactions"] == []


@pytest.mark.parametrize(
    "emoji",
    ["👍", "👍🏽", "👨‍👩‍👧", "🇫🇷", "❤️", ":party_parrot:", ":a-b:"],
)
async def test_one_emoji_or_a_shortcode_is_a_reaction(
    server: Server, clients: Clients, emoji: str
) -> None:
    ws, _room_id, message_id = await _one_message(server, clients)
    frame = await ws.request({"Type": "react", "MessageID": message_id, "Emoji": emoji})
    assert frame["Reactions"][0]["Emoji"] == emoji


@pytest.mark.parametrize(
    ("typed", "stored"),
    [(":thumbsup:", "👍"), (":+1:", "👍"), (":heart:", "❤️"), ("👍\ufe0f", "👍")],
)
async def test_a_known_shortcode_or_a_selector_variant_is_stored_as_the_emoji(
    server: Server, clients: Clients, typed: str, stored: str
) -> None:
    ws, _room_id, message_id = await _one_message(server, clients)
    frame = await ws.request({"Type": "react", "MessageID": message_id, "Emoji": typed})
    assert [r["Emoji"] for r in frame["Reactions"]] == [stored]


async def test_a_shortcode_and_its_emoji_are_one_reaction(server: Server, clients: Clients) -> None:
    ws, _room_id, message_id = await _one_message(server, clients)
    await ws.request({"Type": "react", "MessageID": message_id, "Emoji": ":thumbsup:"})
    same = await ws.request({"Type": "react", "MessageID": message_id, "Emoji": "👍"})
    assert [(r["Emoji"], r["Count"]) for r in same["Reactions"]] == [("👍", 1)]
    gone = await ws.request({"Type": "unreact", "MessageID": message_id, "Emoji": ":+1:"})
    assert gone["Reactions"] == []


@pytest.mark.parametrize(
    "emoji",
    ["x", "👍👍", "👍 ", "<b>", ":UPPER:", "::", ":" + "a" * 33 + ":", "", "\u200b"],
)
async def test_anything_else_is_refused_naming_the_message(
    server: Server, clients: Clients, emoji: str
) -> None:
    ws, _room_id, message_id = await _one_message(server, clients)
    answer = await ws.request({"Type": "react", "MessageID": message_id, "Emoji": emoji})
    assert answer["Type"] == "error" and answer["MessageID"] == message_id
    assert answer["Error"].startswith(
        "Emoji must be one emoji or a :shortcode: of 1-32 characters from [a-z0-9_+-]"
    )


async def test_a_message_takes_at_most_twenty_different_emoji(
    server: Server, clients: Clients
) -> None:
    ws, _room_id, message_id = await _one_message(server, clients)
    for n in range(20):
        frame = await ws.request({"Type": "react", "MessageID": message_id, "Emoji": f":e{n}:"})
        assert len(frame["Reactions"]) == n + 1
    refused = await ws.request({"Type": "react", "MessageID": message_id, "Emoji": ":one_more:"})
    assert refused["Error"] == (
        f"message {message_id} already has 20 different reactions: react with one of them"
    )
    same = await ws.request({"Type": "unreact", "MessageID": message_id, "Emoji": ":e0:"})
    assert len(same["Reactions"]) == 19


async def test_reactions_need_a_room_member(server: Server, clients: Clients) -> None:
    alice, eve = await account(server, "alice"), await account(server, "eve")
    room_id = await create_room(server, alice, "room", private=True)
    ws = await clients.json("/ws", token=eve.token)
    answer = await ws.request({"Type": "enter", "RoomID": room_id})
    assert answer["Error"] == f"you are not a member of room {room_id}"
