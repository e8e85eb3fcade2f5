"""Deletions: ``{"Type": "delete", "MessageID"}`` by the message's
author, or by the creator of the group room, leaves a tombstone (id, room, sender, time):
the text, its earlier versions and its reactions are erased from the database, not
hidden. Every connection in the room receives ``deleted``; deleting twice is not an
error; TokenTalker's ``history N`` skips deleted messages; a resent ClientMsgID of a
deleted message does not bring it back; a reply to it is refused."""

from __future__ import annotations

import pytest
from support import (
    Account,
    Clients,
    Server,
    TalkerClient,
    account,
    create_room,
    entered,
    http_client,
    room_history,
    select_rows,
)

from chat.core.config import Config


async def test_a_deletion_reaches_everyone_in_the_room(server: Server, clients: Clients) -> None:
    alice, bob = await account(server, "alice"), await account(server, "bob")
    room_id = await create_room(server, alice, "room", bob)
    author, reader = await entered(clients, alice, room_id), await entered(clients, bob, room_id)
    sent = await author.request({"Type": "message", "Text": "oops, wrong room"})
    await reader.receive()
    await author.send({"Type": "delete", "MessageID": sent["MessageID"]})
    for ws in (author, reader):
        frame = await ws.receive()
        assert frame == {
            "Type": "deleted",
            "RoomID": room_id,
            "MessageID": sent["MessageID"],
            "Seq": frame["Seq"],
        }
        assert frame["Seq"] > sent["MessageID"]


async def test_history_keeps_a_tombstone_with_no_text(server: Server, clients: Clients) -> None:
    alice = await account(server, "alice")
    room_id = await create_room(server, alice, "room")
    ws = await entered(clients, alice, room_id)
    sent = await ws.request({"Type": "message", "Text": "secret"})
    await ws.request({"Type": "delete", "MessageID": sent["MessageID"]})
    (item,) = await room_history(server, alice, room_id)
    assert item == {
        "MessageID": sent["MessageID"],
        "RoomID": room_id,
        "UID": alice.uid,
        "Username": "alice",
        "Text": "",
        "CreatedAt": sent["CreatedAt"],
        "EditedAt": None,
        "Reactions": [],
        "Mentions": [],
        "Deleted": True,
    }


async def test_a_deletion_erases_the_text_its_versions_and_reactions_from_the_database(
    server: Server, clients: Clients, config: Config
) -> None:
    alice = await account(server, "alice")
    room_id = await create_room(server, alice, "room")
    ws = await entered(clients, alice, room_id)
    sent = await ws.request({"Type": "message", "Text": "password is hunter2"})
    message_id = sent["MessageID"]
    await ws.request({"Type": "edit", "MessageID": message_id, "Text": "password is hunter3"})
    await ws.request({"Type": "react", "MessageID": message_id, "Emoji": "🙈"})
    await ws.request({"Type": "delete", "MessageID": message_id})
    (row,) = await select_rows(
        config,
        "SELECT body, original_body, edited_at, reactions, deleted_at IS NOT NULL"
        f" FROM messages WHERE id = {message_id}",
    )
    assert row[:4] == ("", None, None, None) and row[4]
    changes = await select_rows(
        config, f"SELECT kind, body, reactions FROM message_changes WHERE message_id = {message_id}"
    )
    assert changes == [("deleted", None, None)]
    assert await select_rows(config, "SELECT * FROM message_reactions") == []
    everything = await select_rows(
        config, "SELECT body FROM messages UNION ALL SELECT body FROM message_changes"
    )
    assert not any("hunter" in str(value) for (value,) in everything)


async def test_deleting_twice_is_not_an_error(server: Server, clients: Clients) -> None:
    alice = await account(server, "alice")
    room_id = await create_room(server, alice, "room")
    ws = await entered(clients, alice, room_id)
    sent = await ws.request({"Type": "message", "Text": "x"})
    first = await ws.request({"Type": "delete", "MessageID": sent["MessageID"]})
    again = await ws.request({"Type": "delete", "MessageID": sent["MessageID"]})
    assert first["Type"] == "deleted" and "Seq" in first
    # Answered to this connection alone, with no Seq: nothing joined the stream.
    assert again == {"Type": "deleted", "RoomID": room_id, "MessageID": sent["MessageID"]}


async def test_the_room_creator_may_delete_anyones_message(
    server: Server, clients: Clients
) -> None:
    alice, bob = await account(server, "alice"), await account(server, "bob")
    room_id = await create_room(server, alice, "room", bob)
    creator, member = await entered(clients, alice, room_id), await entered(clients, bob, room_id)
    sent = await member.request({"Type": "message", "Text": "spam"})
    await creator.receive()
    deleted = await creator.request({"Type": "delete", "MessageID": sent["MessageID"]})
    assert deleted["Type"] == "deleted"


async def test_a_member_may_not_delete_anothers_message(server: Server, clients: Clients) -> None:
    alice, bob = await account(server, "alice"), await account(server, "bob")
    room_id = await create_room(server, alice, "room", bob)
    creator, member = await entered(clients, alice, room_id), await entered(clients, bob, room_id)
    sent = await creator.request({"Type": "message", "Text": "rules"})
    await member.receive()
    answer = await member.request({"Type": "delete", "MessageID": sent["MessageID"]})
    assert answer == {
        "Type": "error",
        "Error": f"only the author of message {sent['MessageID']} or a moderator of the room"
        " may delete it",
        "MessageID": sent["MessageID"],
    }


async def test_a_deleted_message_can_be_neither_edited_nor_reacted_to(
    server: Server, clients: Clients
) -> None:
    alice = await account(server, "alice")
    room_id = await create_room(server, alice, "room")
    ws = await entered(clients, alice, room_id)
    sent = await ws.request({"Type": "message", "Text": "x"})
    await ws.request({"Type": "delete", "MessageID": sent["MessageID"]})
    edit = await ws.request({"Type": "edit", "MessageID": sent["MessageID"], "Text": "y"})
    react = await ws.request({"Type": "react", "MessageID": sent["MessageID"], "Emoji": "👍"})
    assert edit["Error"] == react["Error"] == f"message {sent['MessageID']} was deleted"


async def test_a_reply_to_a_deleted_message_is_refused(server: Server, clients: Clients) -> None:
    alice = await account(server, "alice")
    room_id = await create_room(server, alice, "room")
    ws = await entered(clients, alice, room_id)
    sent = await ws.request({"Type": "message", "Text": "x"})
    await ws.request({"Type": "delete", "MessageID": sent["MessageID"]})
    answer = await ws.request({"Type": "message", "Text": "re", "ReplyTo": sent["MessageID"]})
    assert answer["Error"] == f"ReplyTo {sent['MessageID']} is not a message of room {room_id}"
    assert len(await room_history(server, alice, room_id)) == 1


async def test_a_resent_client_msg_id_of_a_deleted_message_does_not_bring_it_back(
    server: Server, clients: Clients
) -> None:
    alice = await account(server, "alice")
    room_id = await create_room(server, alice, "room")
    ws = await entered(clients, alice, room_id)
    sent = await ws.request({"Type": "message", "Text": "regret", "ClientMsgID": "c-1"})
    await ws.request({"Type": "delete", "MessageID": sent["MessageID"]})
    resent = await ws.request({"Type": "message", "Text": "regret", "ClientMsgID": "c-1"})
    assert (resent["MessageID"], resent["Text"], resent["Deleted"]) == (sent["MessageID"], "", True)
    (item,) = await room_history(server, alice, room_id)
    assert item["Deleted"] is True


async def _lobby_id(server: Server, user: Account) -> int:
    async with http_client(server) as client:
        response = await client.get("/rooms", headers=user.auth)
    assert response.status_code == 200, response.text
    return int(response.json()[0])


async def _nothing_but_the_answer_to_sync(talker: TalkerClient) -> None:
    """Send a frame the server always answers (an error) and check it is the next frame
    the client gets: nothing else was on its way."""
    await talker.ws.send_message("sync")
    assert (await talker.receive())["error"].startswith("frame is not valid JSON")


async def test_tokentalker_history_skips_deleted_messages_and_shows_edits(
    server: Server, clients: Clients
) -> None:
    alice = await account(server, "alice")
    ws = await entered(clients, alice, await _lobby_id(server, alice))
    kept = await ws.request({"Type": "message", "Text": "kept"})
    gone = await ws.request({"Type": "message", "Text": "gone"})
    await ws.request({"Type": "edit", "MessageID": kept["MessageID"], "Text": "kept, edited"})
    await ws.request({"Type": "delete", "MessageID": gone["MessageID"]})
    talker = await clients.talker(token=alice.token, name="alice")
    await talker.say("history 2")
    first = await talker.receive()
    assert (first["id"], first["message"]) == (kept["MessageID"], "kept, edited")
    await _nothing_but_the_answer_to_sync(talker)  # the deleted message was skipped


@pytest.mark.parametrize("kind", ["delete", "edit"])
async def test_changes_are_not_sent_to_tokentalker_clients(
    server: Server, clients: Clients, kind: str
) -> None:
    alice = await account(server, "alice")
    talker = await clients.talker(token=alice.token, name="alice")
    ws = await entered(clients, alice, await _lobby_id(server, alice))
    sent = await ws.request({"Type": "message", "Text": "hello"})
    assert (await talker.receive())["message"] == "hello"
    changed = await ws.request({"Type": kind, "MessageID": sent["MessageID"], "Text": "changed"})
    assert "Seq" in changed  # fanned out to the room, the TokenTalker client included
    await _nothing_but_the_answer_to_sync(talker)


async def test_a_deleted_message_is_no_longer_unread(server: Server, clients: Clients) -> None:
    alice, bob = await account(server, "alice"), await account(server, "bob")
    room_id = await create_room(server, alice, "room", bob)
    ws = await entered(clients, alice, room_id)
    await ws.request({"Type": "message", "Text": "kept"})
    gone = await ws.request({"Type": "message", "Text": "sent to the wrong room"})
    await ws.request({"Type": "delete", "MessageID": gone["MessageID"]})
    async with http_client(server) as client:
        counts = (await client.get("/rooms/unread", headers=bob.auth)).json()
    assert {"RoomID": room_id, "Unread": 1, "Mentions": 0} in counts  # the one kept
