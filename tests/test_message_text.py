"""Multi-line text: line breaks and tabs inside a message are stored and
delivered exactly as sent, on every dialect; every other control character is refused
with a clear error, and nothing is stored."""

from __future__ import annotations

import pytest
from support import Clients, Server, account, entered, room_history
from test_support import support_client

#: The lobby's RoomID: the first room, made by the first migration.
LOBBY = 1
#: Two lines, an indented third, a CR LF break as a Windows client sends it, a blank line.
TEXT = "first line\nsecond line\n\tindented\r\nafter a CR LF\n\nlast"


async def test_a_room_message_keeps_its_line_breaks_and_tabs_live_and_in_history(
    server: Server, clients: Clients
) -> None:
    alice, bob = await account(server, "alice"), await account(server, "bob")
    sender, receiver = (
        await entered(clients, alice, LOBBY),
        await entered(clients, bob, LOBBY),
    )
    await sender.send({"Type": "message", "Text": TEXT})
    assert (await receiver.receive())["Text"] == TEXT
    assert (await sender.receive())["Text"] == TEXT
    assert [item["Text"] for item in await room_history(server, bob, LOBBY)] == [TEXT]


async def test_a_tokentalker_message_keeps_its_line_breaks_live_and_in_history(
    server: Server, clients: Clients
) -> None:
    alice, bob = await account(server, "alice"), await account(server, "bob")
    talker = await clients.talker(token=alice.token, name="alice")
    listener = await clients.talker(token=bob.token, name="bob")
    await talker.say(TEXT)
    assert (await listener.receive())["message"] == TEXT
    await listener.say("history 1")
    assert (await listener.receive())["message"] == TEXT


async def test_a_direct_message_keeps_its_line_breaks(server: Server, clients: Clients) -> None:
    alice, bob = await account(server, "alice"), await account(server, "bob")
    sender = await clients.json("/", token=alice.token)
    receiver = await clients.json("/", token=bob.token)
    await sender.send({"from": alice.uid, "to": bob.uid, "content": TEXT})
    assert (await receiver.receive())["content"] == TEXT


async def test_a_support_message_keeps_its_line_breaks(server: Server, clients: Clients) -> None:
    user = await account(server, "user")
    ws, _ = await support_client(clients, user)
    await ws.request({"method": "message.send", "params": [TEXT], "id": 2})
    _, answer = await support_client(clients, user, request_id=3)
    assert [m["message_text"] for m in answer["result"]["messages"]] == [TEXT]


@pytest.mark.parametrize(
    "text,code",
    [
        ("ding\x07", "0007"),
        ("\x1b[2Jscreen wiped", "001B"),
        ("overwrite\rthe line", "000D"),
        ("ends in a bare CR\r", "000D"),
        ("a C1 control \x85", "0085"),
        ("vertical\x0btab", "000B"),
    ],
)
async def test_other_control_characters_are_refused_by_name_and_nothing_is_stored(
    server: Server, clients: Clients, text: str, code: str
) -> None:
    alice = await account(server, "alice")
    ws = await entered(clients, alice, LOBBY)
    answer = await ws.request({"Type": "message", "Text": text})
    assert answer == {
        "Type": "error",
        "Error": "message text must not contain control characters other than line breaks"
        f" and tabs (U+{code})",
    }
    assert await room_history(server, alice, LOBBY) == []


async def test_a_message_of_line_breaks_only_is_empty(server: Server, clients: Clients) -> None:
    alice = await account(server, "alice")
    ws = await entered(clients, alice, LOBBY)
    answer = await ws.request({"Type": "message", "Text": "\n\t\r\n"})
    assert answer == {"Type": "error", "Error": "message text must not be empty"}
