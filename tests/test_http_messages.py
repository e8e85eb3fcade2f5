"""POST /messages/{roomID}: a message from a bot or a script, stored and delivered as a
/ws message frame is."""

from __future__ import annotations

import pytest
from support import Clients, Server, account, create_room, entered, http_client, room_history


async def test_a_posted_message_is_stored_delivered_and_answered_as_history_shows_it(
    server: Server, clients: Clients
) -> None:
    bot, reader = await account(server, "bot"), await account(server, "reader")
    room_id = await create_room(server, bot, "builds", reader)
    listening = await entered(clients, reader, room_id)
    async with http_client(server) as client:
        response = await client.post(
            f"/messages/{room_id}", headers=bot.auth, json={"Text": "build 7\nis green"}
        )
    assert response.status_code == 201, response.text
    posted = response.json()
    assert (posted["RoomID"], posted["UID"]) == (room_id, bot.uid)
    assert posted["Text"] == "build 7\nis green"
    assert await listening.receive() == {"Type": "message", **posted}
    assert await room_history(server, reader, room_id) == [posted]


async def test_a_posted_reply_names_what_it_answers(server: Server) -> None:
    bot = await account(server, "bot")
    room_id = await create_room(server, bot, "builds")
    async with http_client(server) as client:
        first = await client.post(f"/messages/{room_id}", headers=bot.auth, json={"Text": "a"})
        reply = await client.post(
            f"/messages/{room_id}",
            headers=bot.auth,
            json={"Text": "b", "ReplyTo": first.json()["MessageID"]},
        )
        stray = await client.post(
            f"/messages/{room_id}", headers=bot.auth, json={"Text": "c", "ReplyTo": 424242}
        )
    assert reply.status_code == 201 and reply.json()["ReplyTo"] == first.json()["MessageID"]
    assert stray.status_code == 400
    assert stray.json() == {"error": f"ReplyTo 424242 is not a message of room {room_id}"}


async def test_posting_again_with_the_same_client_msg_id_gives_200_and_the_original(
    server: Server,
) -> None:
    bot = await account(server, "bot")
    room_id = await create_room(server, bot, "builds")
    body = {"Text": "deployed", "ClientMsgID": "deploy-88"}
    async with http_client(server) as client:
        first = await client.post(f"/messages/{room_id}", headers=bot.auth, json=body)
        again = await client.post(f"/messages/{room_id}", headers=bot.auth, json=body)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()
    assert len(await room_history(server, bot, room_id)) == 1


async def test_posting_to_a_room_one_is_not_in_is_403_and_to_no_room_404(server: Server) -> None:
    owner, outsider = await account(server, "owner"), await account(server, "outsider")
    room_id = await create_room(server, owner, "closed", private=True)
    async with http_client(server) as client:
        forbidden = await client.post(
            f"/messages/{room_id}", headers=outsider.auth, json={"Text": "let me in"}
        )
        missing = await client.post("/messages/999", headers=owner.auth, json={"Text": "?"})
        anonymous = await client.post(f"/messages/{room_id}", json={"Text": "?"})
    assert (forbidden.status_code, missing.status_code, anonymous.status_code) == (403, 404, 401)
    assert await room_history(server, owner, room_id) == []


@pytest.mark.parametrize(
    "body,problem",
    [
        ({}, 'field "Text" is required'),
        ({"Text": "   "}, "message text must not be empty"),
        ({"Text": "\x1b[2J"}, "control characters other than line breaks and tabs (U+001B)"),
        ({"Text": "x", "ReplyTo": "1"}, 'field "ReplyTo" must be an integer'),
        ({"Text": "x", "ClientMsgID": ""}, 'field "ClientMsgID" must be 1 to 64 characters long'),
    ],
)
async def test_a_bad_post_is_400_naming_the_problem(
    server: Server, body: dict, problem: str
) -> None:
    bot = await account(server, "bot")
    room_id = await create_room(server, bot, "builds")
    async with http_client(server) as client:
        response = await client.post(f"/messages/{room_id}", headers=bot.auth, json=body)
    assert response.status_code == 400
    assert problem in response.json()["error"]
    assert await room_history(server, bot, room_id) == []
