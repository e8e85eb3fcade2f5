"""Subscribed before open: a connection hears what is published from the moment the
server accepted it (docs/DESIGN.md, "A connection starts in three steps").

The server subscribes a connection to its user's topics (and files it where its user's
notices and rooms' activity find it) before it answers the upgrade with 101, or, on
``/ws?auth=frame``, before it answers the first frame with ``authenticated``; what is
published meanwhile is kept and sent right after that answer. The race is widest where
these tests make it: a direct message published by a task the server's answer itself
triggers (`answer_then`), before the server goes on, as well as one sent the moment the
client sees the answer. On code that subscribes after answering, the first is missed on
every try.
"""

from __future__ import annotations

import gc
import json
import socket
import struct
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
import trio
import trio.testing
from support import (
    STEP,
    Account,
    Clients,
    JsonClient,
    Server,
    account,
    create_room,
    open_clients,
    start_server,
)
from trio_websocket import WebSocketConnection, WebSocketRequest, open_websocket

from chat.core.config import Config
from chat.ws.session.client_session import ClientSession
from chat.ws.transport import ServerConnection

#: Fresh connections opened, each racing a direct message published as it opens.
TRIES = 1000
#: The same race on ``?auth=frame``, whose answer is a frame (fewer: each costs a frame
#: and a token check more).
AUTH_FRAME_TRIES = 300
#: The same race with the message sent through another instance (fewer: each crosses
#: the bus twice).
ACROSS_TRIES = 200

Action = Callable[[], Awaitable[None]]


def answer_then(monkeypatch: pytest.MonkeyPatch) -> list[Action | None]:
    """Make the server run an action right after it answers an upgrade with 101, before
    it goes on: the returned one-item list holds the action for the next answer (None:
    nothing). The action runs in the server's handshake task."""
    armed: list[Action | None] = [None]
    accept = WebSocketRequest.accept

    async def accept_then_act(self: WebSocketRequest, **options: Any) -> WebSocketConnection:
        ws = await accept(self, **options)
        action, armed[0] = armed[0], None
        if action is not None:
            await action()
        return ws

    monkeypatch.setattr(WebSocketRequest, "accept", accept_then_act)
    return armed


def authenticated_then(monkeypatch: pytest.MonkeyPatch) -> list[Action | None]:
    """`answer_then` for ``?auth=frame``'s answer: the action runs right after the server
    has written ``{"Type": "authenticated", ...}``."""
    armed: list[Action | None] = [None]
    send_message = ServerConnection.send_message

    async def send_then_act(self: ServerConnection, message: str | bytes) -> None:
        await send_message(self, message)
        if isinstance(message, str) and '"authenticated"' in message:
            action, armed[0] = armed[0], None
            if action is not None:
                await action()

    monkeypatch.setattr(ServerConnection, "send_message", send_then_act)
    return armed


async def send_direct(sender: JsonClient, frm: Account, to: Account, content: str) -> None:
    """Send a direct message and return once it has been delivered: the sender's own copy
    comes in the same fan-out as the recipient's."""
    await sender.send({"from": frm.uid, "to": to.uid, "content": content})
    while (await sender.receive()).get("content") != content:
        pass


async def direct_messages(ws: WebSocketConnection, count: int) -> list[str]:
    """The contents of the next `count` direct messages `ws` receives (other frames, such
    as the support protocol's greeting on /v1/ws, are passed over)."""
    contents: list[str] = []
    with trio.fail_after(STEP):
        while len(contents) < count:
            frame = json.loads(await ws.get_message())
            if isinstance(frame, dict) and "content" in frame:
                contents.append(frame["content"])
    return contents


async def missed_first(ws: WebSocketConnection, i: int) -> list[str] | None:
    """None if `ws` gets try `i`'s two direct messages, the one published as it opened
    first; else what it got instead of that one."""
    first = await direct_messages(ws, 1)
    if first != [f"as it opened {i}"]:
        return first
    assert await direct_messages(ws, 1) == [f"once open {i}"]
    return None


@asynccontextmanager
async def fresh(server: Server, target: str) -> AsyncIterator[WebSocketConnection]:
    """A new connection to `target`, open once the client has the 101."""
    with trio.fail_after(STEP):
        async with open_websocket(server.host, server.port, target, use_ssl=False) as ws:
            yield ws


async def test_a_direct_message_published_as_a_connection_opens_reaches_it(
    server: Server, clients: Clients, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice, bob = await account(server, "alice"), await account(server, "bob")
    sender = await clients.json("/", token=alice.token)
    armed = answer_then(monkeypatch)
    missed: list[tuple[str, list[str]]] = []
    for i in range(TRIES):
        path = ("/", "/ws", "/v1/ws")[i % 3]
        # Published while the server is between its 101 and whatever follows it.
        armed[0] = lambda i=i: send_direct(sender, alice, bob, f"as it opened {i}")
        async with fresh(server, f"{path}?token={bob.token}") as ws:
            # And the race as a client sees it: sent the moment the 101 is in.
            await send_direct(sender, alice, bob, f"once open {i}")
            if (first := await missed_first(ws, i)) is not None:
                missed.append((path, first))
    assert not missed, f"{len(missed)} of {TRIES} fresh connections missed it: {missed[:5]}"


async def test_a_direct_message_published_as_auth_frame_is_answered_reaches_it(
    server: Server, clients: Clients, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice, bob = await account(server, "alice"), await account(server, "bob")
    sender = await clients.json("/", token=alice.token)
    armed = authenticated_then(monkeypatch)
    missed: list[list[str]] = []
    for i in range(AUTH_FRAME_TRIES):
        armed[0] = lambda i=i: send_direct(sender, alice, bob, f"as it opened {i}")
        async with fresh(server, "/ws?auth=frame") as ws:
            await ws.send_message(json.dumps({"Type": "auth", "Token": bob.token}))
            with trio.fail_after(STEP):
                answer = json.loads(await ws.get_message())
            assert answer["Type"] == "authenticated", answer  # the answer comes first
            await send_direct(sender, alice, bob, f"once open {i}")
            if (first := await missed_first(ws, i)) is not None:
                missed.append(first)
    assert not missed, f"{len(missed)} of {AUTH_FRAME_TRIES} missed it: {missed[:5]}"


@pytest.mark.cluster
async def test_a_direct_message_from_another_instance_as_a_connection_opens_reaches_it(
    nursery: trio.Nursery, postgres_config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Two instances on one PostgreSQL database and its bus, in this process: the fresh
    # connections on `here`, the sender on `there`.
    here = await start_server(nursery, postgres_config)
    there = await start_server(
        nursery, postgres_config.replace(data_dir=postgres_config.data_dir / "there")
    )
    alice, bob = await account(there, "alice"), await account(here, "bob")
    async with open_clients(here) as on_here, open_clients(there) as on_there:
        sender = await on_there.json("/", token=alice.token)
        # Bob's connection already open here: a message it has is delivered here.
        watcher = await on_here.json("/", token=bob.token)
        armed = answer_then(monkeypatch)
        missed: list[list[str]] = []
        for i in range(ACROSS_TRIES):

            async def across(i: int = i) -> None:
                await send_direct(sender, alice, bob, f"as it opened {i}")
                assert await direct_messages(watcher.ws, 1) == [f"as it opened {i}"]

            armed[0] = across
            async with fresh(here, f"/?token={bob.token}") as ws:
                await send_direct(sender, alice, bob, f"once open {i}")
                if (first := await missed_first(ws, i)) is not None:
                    missed.append(first)
            assert await direct_messages(watcher.ws, 1) == [f"once open {i}"]
    assert not missed, f"{len(missed)} of {ACROSS_TRIES} missed it: {missed[:5]}"


async def test_activity_in_a_room_published_as_a_connection_opens_reaches_it(
    server: Server, clients: Clients, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A /ws connection hears of activity in its user's rooms from the 101 on: the server
    # indexes the user's rooms before it answers.
    alice, bob = await account(server, "alice"), await account(server, "bob")
    room_id = await create_room(server, alice, "plans", bob)
    sender = await clients.json("/ws", token=alice.token)
    assert (await sender.request({"Type": "enter", "RoomID": room_id}))["Type"] == "entered"
    armed = answer_then(monkeypatch)

    async def post() -> None:
        await sender.send({"Type": "message", "Text": "as it opened"})
        while (await sender.receive()).get("Text") != "as it opened":
            pass  # delivered: activity has it too

    armed[0] = post
    async with fresh(server, f"/ws?token={bob.token}") as ws:
        with trio.fail_after(STEP):
            frame = json.loads(await ws.get_message())
    assert (frame["Type"], frame["RoomID"]) == ("activity", room_id), frame


def sessions_of(user: Account) -> list[ClientSession]:
    """The sessions of `user` anything still holds (the broadcaster, a registry)."""
    gc.collect()
    return [
        session
        for session in gc.get_objects()
        if isinstance(session, ClientSession)
        and session.identity is not None
        and session.identity.user_id == user.uid
    ]


def reset(sock: socket.socket) -> None:
    """Drop the connection with a reset (SO_LINGER 0): the server's next write fails."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


@pytest.mark.parametrize("path", ["/", "/ws", "/v1/ws"])
async def test_a_client_gone_before_the_101_leaves_no_subscription_behind(
    server: Server, clients: Clients, monkeypatch: pytest.MonkeyPatch, path: str
) -> None:
    alice, bob = await account(server, "alice"), await account(server, "bob")
    sender = await clients.json("/", token=alice.token)
    accept = WebSocketRequest.accept
    client = socket.create_connection((server.host, server.port))
    answered = trio.Event()

    async def accept_after_the_client_left(
        self: WebSocketRequest, **options: Any
    ) -> WebSocketConnection:
        # Subscribed by now: the client leaves, and the 101 finds the connection reset.
        reset(client)
        await trio.sleep(0.05)
        try:
            return await accept(self, **options)
        finally:
            answered.set()

    monkeypatch.setattr(WebSocketRequest, "accept", accept_after_the_client_left)
    request = (
        f"GET {path}?token={bob.token} HTTP/1.1\r\nHost: {server.host}:{server.port}\r\n"
        "Upgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    client.sendall(request.encode())
    with trio.fail_after(STEP):
        await answered.wait()
    await trio.testing.wait_all_tasks_blocked()
    assert sessions_of(bob) == []
    # And the server goes on: bob's next connection hears what is sent to it.
    monkeypatch.setattr(WebSocketRequest, "accept", accept)
    async with fresh(server, f"{path}?token={bob.token}") as ws:
        await send_direct(sender, alice, bob, "after")
        assert await direct_messages(ws, 1) == ["after"]
