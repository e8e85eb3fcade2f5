"""Typing indicators on /ws (chat.app.presence.tracker): to the room's other connections, never
stored, limited per user; on one server (both backends) and across two instances."""

from __future__ import annotations

from typing import Any

import trio
from cluster import Instance
from support import Account, Clients, JsonClient, Server, account
from test_presence import bob_on_a_and_alice_on_b, bob_then_alice_in_a_room, pair

from chat.app.presence.tracker import TYPING_LIMIT

__all__ = ["pair"]  # the two-instance fixture, shared with tests/test_presence.py


def typing(room_id: int, user: Account) -> dict[str, Any]:
    return {"Type": "typing", "RoomID": room_id, "UID": user.uid, "Username": user.name}


async def sync(ws: JsonClient) -> None:
    """Wait until the server has handled every frame `ws` sent: ask for an error."""
    assert (await ws.request({"Type": "nonsense"}))["Type"] == "error"


async def test_typing_reaches_the_others_in_the_room_but_not_the_sender(
    server: Server, clients: Clients
) -> None:
    them = await bob_then_alice_in_a_room(clients, clients)
    room_id, alice, bob_ws, alice_ws = them.room_id, them.alice, them.bob_ws, them.alice_ws
    await alice_ws.send({"Type": "typing"})
    assert await bob_ws.receive() == typing(room_id, alice)
    # The next frame alice gets is the answer to this, not her own typing frame.
    assert (await alice_ws.request({"Type": "nonsense"}))["Type"] == "error"


async def test_typing_outside_a_room_gets_the_room_protocols_error(
    server: Server, clients: Clients
) -> None:
    alice = await account(server, "alice")
    ws = await clients.json("/ws", token=alice.token)
    answer = await ws.request({"Type": "typing"})
    assert answer == {
        "Type": "error",
        "Error": 'enter a room first: {"Type": "enter", "RoomID": <id>}',
    }


async def test_typing_past_the_limit_is_dropped_without_an_error(
    server: Server, clients: Clients
) -> None:
    # The test server runs with CHAT_RATE_LIMITS=off: this limit is the protocol's own.
    assert server.config.rate_limits is False
    them = await bob_then_alice_in_a_room(clients, clients)
    room_id, alice, bob_ws, alice_ws = them.room_id, them.alice, them.bob_ws, them.alice_ws
    for _ in range(TYPING_LIMIT + 5):
        await alice_ws.send({"Type": "typing"})
    await sync(alice_ws)  # no error frame came before the answer to this
    await bob_ws.send({"Type": "message", "Text": "after the typing"})
    received = []
    while (frame := await bob_ws.receive())["Type"] != "message":
        received.append(frame)
    assert received == [typing(room_id, alice)] * TYPING_LIMIT


async def test_typing_crosses_instances(pair: list[Instance]) -> None:
    async with bob_on_a_and_alice_on_b(pair) as them:
        await them.alice_ws.send({"Type": "typing"})
        with trio.fail_after(10):
            assert await them.bob_ws.receive() == typing(them.room_id, them.alice)
