"""The Python client library (chat/client/, docs/CLIENT.md) against a real server: logging
in and tokens, rooms, idempotent sends, history, uploads, the event stream (across a
server restart), the Bot helper, the documented example, and asyncio as well as Trio."""

from __future__ import annotations

import os
import re
import sys
from functools import partial
from pathlib import Path
from typing import Any, cast

import anyio
import pytest
import trio
from support import (
    PASSWORD,
    STEP,
    Account,
    Server,
    StoppableServer,
    account,
    create_room,
    http_client,
)

from chat.client import (
    AuthenticationFailed,
    Bot,
    BotRequest,
    ChatClient,
    ClientSettings,
    Event,
    FrameTooLarge,
    Message,
    MessageDeleted,
    MessageEdited,
    RoomEvents,
    RoomRefused,
    ServerRefused,
    connect,
)
from chat.client.backoff import Backoff
from chat.core.config import Config

ROOT = Path(__file__).resolve().parent.parent
CLIENT_DOC = ROOT / "docs" / "CLIENT.md"

#: Reconnect quickly: the tests' server comes back within moments.
QUICK = ClientSettings(reconnect_initial=0.05, reconnect_cap=0.5)


async def _token(server: Server, owner: Account, *scopes: str, uid: int | None = None) -> str:
    """A personal access token of `owner`'s (or of their bot `uid`)."""
    body: dict[str, Any] = {"Name": "script", "Scopes": list(scopes or ("read", "write"))}
    if uid is not None:
        body["UID"] = uid
    async with http_client(server) as client:
        made = await client.post("/tokens", json=body, headers=owner.auth)
    assert made.status_code == 201, made.text
    token: str = made.json()["Token"]
    return token


async def _bot_token(server: Server, owner: Account, name: str) -> tuple[int, str]:
    """A bot of `owner`'s and a token of its: (UID, token)."""
    async with http_client(server) as client:
        made = await client.post("/bots", json={"Name": name}, headers=owner.auth)
    assert made.status_code == 201, made.text
    uid: int = made.json()["UID"]
    return uid, await _token(server, owner, uid=uid)


async def _next_message(events: RoomEvents, *, skip_from: int | None = None) -> Message:
    """The next `Message` the stream yields (past those of `skip_from`'s UID)."""
    with trio.fail_after(STEP):
        async for event in events:
            if isinstance(event, Message) and event.uid != skip_from:
                return event
    raise AssertionError("the stream ended")


async def _present(server: Server, user: Account, room_id: int, uid: int) -> None:
    """Wait until `uid` has a connection in the room (GET /room/{id}/online)."""
    async with http_client(server) as client:
        with trio.fail_after(STEP):
            while True:
                online = await client.get(f"/room/{room_id}/online", headers=user.auth)
                assert online.status_code == 200, online.text
                if any(person["UID"] == uid for person in online.json()):
                    return
                await trio.sleep(0.02)


# --- credentials ---


async def test_a_password_login_connects_as_that_user(server: Server) -> None:
    alice = await account(server, "alice")
    async with connect(server.http, username="alice", password=PASSWORD) as chat:
        assert (chat.me.uid, chat.me.username, chat.me.kind) == (alice.uid, "alice", "person")


async def test_a_wrong_password_is_refused(server: Server) -> None:
    await account(server, "alice")
    with pytest.raises(AuthenticationFailed) as refused:
        async with connect(server.http, username="alice", password="not the password"):
            raise AssertionError("connected with a wrong password")
    assert refused.value.status == 401


async def test_a_personal_access_token_connects_and_acts_as_its_user(server: Server) -> None:
    alice = await account(server, "alice")
    token = await _token(server, alice)
    assert token.startswith("chat_pat_")
    room_id = await create_room(server, alice, "ops")
    async with connect(server.http, token=token) as chat:
        assert chat.me.uid == alice.uid
        sent = await chat.send(room_id, "from a script")
    assert sent.uid == alice.uid and sent.text == "from a script"


async def test_a_password_login_outlives_its_tokens_revocation(server: Server) -> None:
    alice, bob = await account(server, "alice"), await account(server, "bob")
    room_id = await create_room(server, alice, "ops", bob)
    async with (
        connect(server.http, username="alice", password=PASSWORD) as chat,
        chat.events(room_id) as events,
    ):
        revoked = chat.token
        async with http_client(server) as client:
            out = await client.post("/logout-everywhere", headers={"Authorization": revoked})
        assert out.status_code == 200, out.text
        assert await chat.history(room_id) == []  # answered 401, logged in again
        assert chat.token != revoked
        # The stream's connection is closed (1008, token revoked) within a moment: it
        # logs in again too, and resumes. Messages sent meanwhile come once each.
        sent, seen = [], []
        async with connect(server.http, token=bob.token) as bob_chat:
            with trio.fail_after(STEP):
                while events.reconnections == 0:
                    sent.append(await bob_chat.send(room_id, f"still there? {len(sent)}"))
                    seen.append(await _next_message(events))
                    await trio.sleep(0.05)  # a few messages while the close is on its way
            sent.append(await bob_chat.send(room_id, "after"))
            seen.append(await _next_message(events))
    assert [m.message_id for m in seen] == [m.message_id for m in sent]


async def test_a_read_token_may_read_but_not_send(server: Server) -> None:
    alice = await account(server, "alice")
    room_id = await create_room(server, alice, "ops")
    async with connect(server.http, token=await _token(server, alice, "read")) as chat:
        assert await chat.history(room_id) == []
        with pytest.raises(ServerRefused) as refused:
            await chat.send(room_id, "no")
    assert refused.value.status == 403


# --- rooms, sending, history, files ---


async def test_joining_a_public_room_lists_it_among_the_callers_rooms(server: Server) -> None:
    alice, bob = await account(server, "alice"), await account(server, "bob")
    room_id = await create_room(server, alice, "books")
    async with connect(server.http, token=bob.token) as chat:
        assert (room_id, "books") in await chat.public_rooms()
        await chat.join(room_id)
        rooms = await chat.rooms()
        mine = await chat.create_room("bob's own")
        assert [room.room_id for room in await chat.rooms()] == [
            *(room.room_id for room in rooms),
            mine,
        ]
    assert rooms[0].name == "lobby"
    assert any(room.room_id == room_id and room.name == "books" for room in rooms)


async def test_a_send_retried_with_its_client_msg_id_is_stored_once(server: Server) -> None:
    alice = await account(server, "alice")
    room_id = await create_room(server, alice, "ops")
    async with connect(server.http, token=alice.token) as chat:
        first = await chat.send(room_id, "build 1432 is green", client_msg_id="ci-1432")
        again = await chat.send(room_id, "build 1432 is green", client_msg_id="ci-1432")
        history = await chat.history(room_id)
    assert again.message_id == first.message_id
    assert first.client_msg_id == "ci-1432"
    assert [m.message_id for m in history] == [first.message_id]


async def test_every_send_carries_a_client_msg_id_of_its_own(server: Server) -> None:
    alice = await account(server, "alice")
    room_id = await create_room(server, alice, "ops")
    async with connect(server.http, token=alice.token) as chat:
        one, two = await chat.send(room_id, "same"), await chat.send(room_id, "same")
    assert one.client_msg_id and two.client_msg_id and one.client_msg_id != two.client_msg_id
    assert one.message_id != two.message_id


async def test_history_pages_back_through_every_message(server: Server) -> None:
    alice = await account(server, "alice")
    room_id = await create_room(server, alice, "ops")
    async with connect(server.http, token=alice.token) as chat:
        sent = [await chat.send(room_id, f"message {i}") for i in range(7)]
        newest = await chat.history(room_id, limit=3)
        older = await chat.history(room_id, before_id=newest[-1].message_id, limit=3)
        every = [m async for m in chat.iter_history(room_id, page_size=3)]
    ids = [m.message_id for m in reversed(sent)]
    assert [m.message_id for m in newest] == ids[:3]
    assert [m.message_id for m in older] == ids[3:6]
    assert [m.message_id for m in every] == ids
    assert every[0].text == "message 6"


async def test_an_uploaded_file_is_sent_with_a_message_and_read_back(
    server: Server, tmp_path: Path
) -> None:
    alice, bob = await account(server, "alice"), await account(server, "bob")
    room_id = await create_room(server, alice, "ops", bob)
    report = tmp_path / "report.txt"
    report.write_bytes(b"all green\n" * 1000)
    async with connect(server.http, token=alice.token) as chat:
        from_bytes = await chat.upload(b"hello file", name="hello.txt")
        from_disk = await chat.upload(report)
        sent = await chat.send(room_id, "", files=[from_bytes.file_id, from_disk.file_id])
    assert (from_disk.name, from_disk.size) == ("report.txt", 10_000)
    assert from_bytes.content_type.startswith("text/plain")
    assert [f.file_id for f in sent.files] == [from_bytes.file_id, from_disk.file_id]
    async with http_client(server) as client:
        read = await client.get(f"/files/{from_disk.file_id}/report.txt", headers=bob.auth)
    assert read.content == report.read_bytes()


# --- the event stream ---


async def test_the_stream_yields_another_users_messages_edits_and_deletions(
    server: Server,
) -> None:
    alice, bob = await account(server, "alice"), await account(server, "bob")
    room_id = await create_room(server, alice, "ops", bob)
    async with (
        connect(server.http, token=alice.token) as alice_chat,
        connect(server.http, token=bob.token) as bob_chat,
        alice_chat.events(room_id) as events,
    ):
        sent = await bob_chat.send(room_id, "hello @alice")
        await bob_chat.edit(room_id, sent.message_id, "hello again @alice")
        await bob_chat.delete(room_id, sent.message_id)
        seen: list[Event] = []
        with trio.fail_after(STEP):
            async for event in events:
                seen.append(event)
                if isinstance(event, MessageDeleted):
                    break
    about_the_room = [e for e in seen if not _notice(e)]
    assert len(about_the_room) == 3, seen  # what came instead, if a failure says so
    message, edited, deleted = about_the_room
    assert isinstance(message, Message) and message.uid == bob.uid
    assert message.text == "hello @alice" and message.mentions == (alice.uid,)
    assert isinstance(edited, MessageEdited) and edited.text == "hello again @alice"
    assert edited.message_id == deleted.message_id == sent.message_id
    assert events.position == deleted.position


def _notice(event: Event) -> bool:
    """A frame about the user rather than the room (late membership news, activity)."""
    return not isinstance(event, Message | MessageEdited | MessageDeleted)


async def test_a_stream_from_a_position_yields_what_came_after_it(server: Server) -> None:
    alice = await account(server, "alice")
    room_id = await create_room(server, alice, "ops")
    async with connect(server.http, token=alice.token) as chat:
        first = await chat.send(room_id, "one")
        later = [await chat.send(room_id, text) for text in ("two", "three")]
        async with chat.events(room_id, since_id=first.message_id) as events:
            seen = [await _next_message(events) for _ in later]
    assert [m.message_id for m in seen] == [m.message_id for m in later]


async def test_a_read_cancelled_while_waiting_loses_nothing(server: Server) -> None:
    alice, bob = await account(server, "alice"), await account(server, "bob")
    room_id = await create_room(server, alice, "ops", bob)
    async with (
        connect(server.http, token=alice.token) as alice_chat,
        connect(server.http, token=bob.token) as bob_chat,
        alice_chat.events(room_id) as events,
    ):
        with trio.move_on_after(0.1) as waited:
            await events.__anext__()  # nothing comes: cancelled while it waits
        assert waited.cancelled_caught
        sent = await bob_chat.send(room_id, "after the cancellation")
        assert (await _next_message(events)).message_id == sent.message_id
        assert events.reconnections == 0


async def test_a_stream_into_a_room_the_user_is_not_in_is_refused(server: Server) -> None:
    alice, bob = await account(server, "alice"), await account(server, "bob")
    room_id = await create_room(server, alice, "secret", private=True)
    async with connect(server.http, token=bob.token) as chat:
        with pytest.raises(RoomRefused, match="not a member"):
            async with chat.events(room_id):
                raise AssertionError("entered a private room")


async def test_a_stream_across_a_server_restart_loses_and_repeats_nothing(
    nursery: trio.Nursery, config: Config
) -> None:
    stoppable = StoppableServer(nursery, config)
    server = await stoppable.start()
    alice, bob = await account(server, "alice"), await account(server, "bob")
    room_id = await create_room(server, alice, "ops", bob)
    async with (
        connect(server.http, token=alice.token, settings=QUICK) as alice_chat,
        alice_chat.events(room_id) as events,
    ):
        async with connect(server.http, token=bob.token) as bob_chat:
            before = [await bob_chat.send(room_id, f"before {i}") for i in range(3)]
        # The stream has read the first one; the others wait in its socket, or not.
        seen = [await _next_message(events)]
        await stoppable.stop()
        server = await stoppable.start()
        # Sent while the stream is down or reconnecting: the resume brings them.
        async with connect(server.http, token=bob.token) as bob_chat:
            after = [await bob_chat.send(room_id, f"after {i}") for i in range(3)]
            last = await bob_chat.send(room_id, "the last")
        while seen[-1].message_id != last.message_id:
            seen.append(await _next_message(events))
    expected = [*before, *after, last]
    assert [m.message_id for m in seen] == [m.message_id for m in expected]
    assert [m.text for m in seen] == [m.text for m in expected]
    assert events.reconnections >= 1


async def test_a_stream_ends_on_a_frame_larger_than_it_reads(server: Server) -> None:
    alice = await account(server, "alice")
    room_id = await create_room(server, alice, "ops")
    small = ClientSettings(max_frame_bytes=1000)
    async with (
        connect(server.http, token=alice.token, settings=small) as chat,
        chat.events(room_id) as events,
    ):
        await chat.send(room_id, "small enough")
        await chat.send(room_id, "x" * 2000)
        assert (await _next_message(events)).text == "small enough"
        with pytest.raises(FrameTooLarge):
            await _next_message(events)


def test_the_backoff_doubles_with_jitter_up_to_its_cap() -> None:
    backoff = Backoff(initial=0.5, cap=4.0)
    delays = [backoff.next_delay() for _ in range(8)]
    ceilings = [0.5, 1.0, 2.0, 4.0, 4.0, 4.0, 4.0, 4.0]
    assert all(c / 2 <= d <= c for d, c in zip(delays, ceilings, strict=True)), delays
    assert backoff.next_delay(at_least=60.0) == 4.0  # a Retry-After past the cap: the cap
    backoff.reset()
    assert backoff.next_delay() <= 0.5


# --- the Bot helper ---


async def _running_bot(
    nursery: trio.Nursery, server: Server, owner: Account, room_id: int
) -> tuple[int, ChatClient]:
    """A bot of `owner`'s in the room, with an !echo command and a mention handler,
    running in `nursery` and listening already."""
    uid, token = await _bot_token(server, owner, "helper")
    chat = await nursery.start(_bot_client, server, token)
    await chat.join(room_id)
    bot = Bot(chat)

    @bot.command("!echo")
    async def echo(request: BotRequest) -> str:
        return f"{request.command}: {request.args}"

    @bot.on_mention
    async def mentioned(request: BotRequest) -> str:
        return f"hello {request.message.username}"

    await nursery.start(bot.run, [room_id])
    return uid, chat


async def _bot_client(server: Server, token: str, *, task_status: Any) -> None:
    """A client for the bot, open until the test's nursery is cancelled."""
    async with connect(server.http, token=token) as chat:
        task_status.started(chat)
        await trio.sleep_forever()


async def test_a_bot_answers_its_command_in_the_room(nursery: trio.Nursery, server: Server) -> None:
    alice = await account(server, "alice")
    room_id = await create_room(server, alice, "ops")
    bot_uid, _ = await _running_bot(nursery, server, alice, room_id)
    async with (
        connect(server.http, token=alice.token) as chat,
        chat.events(room_id) as events,
    ):
        asked = await chat.send(room_id, "!ECHO deploy now")
        answer = await _next_message(events, skip_from=alice.uid)
    assert answer.uid == bot_uid and answer.from_bot
    assert answer.text == "!ECHO: deploy now"
    assert answer.reply_to == asked.message_id


async def test_a_bot_answers_a_mention_and_ignores_other_messages(
    nursery: trio.Nursery, server: Server
) -> None:
    alice = await account(server, "alice")
    room_id = await create_room(server, alice, "ops")
    await _running_bot(nursery, server, alice, room_id)
    async with (
        connect(server.http, token=alice.token) as chat,
        chat.events(room_id) as events,
    ):
        await chat.send(room_id, "nothing for the bot here")
        asked = await chat.send(room_id, "@helper are you there?")
        answer = await _next_message(events, skip_from=alice.uid)
    assert answer.text == "hello alice"
    assert answer.reply_to == asked.message_id


# --- the documented example, and asyncio ---


def _documented_example() -> str:
    match = re.search(r"```python\n(.*?)```", CLIENT_DOC.read_text(encoding="utf-8"), re.S)
    assert match is not None, "docs/CLIENT.md has no Python example"
    return match.group(1)


def test_a_bot_command_may_not_be_a_slash_command() -> None:
    bot = Bot(cast(ChatClient, None))
    with pytest.raises(ValueError, match="slash command"):
        bot.command("/deploy")


def test_the_documented_example_is_a_bot_of_about_twenty_lines() -> None:
    lines = [line for line in _documented_example().splitlines() if line.strip()]
    assert len(lines) <= 25, len(lines)


async def test_the_documented_example_bot_answers_on_asyncio(
    nursery: trio.Nursery, server: Server
) -> None:
    alice = await account(server, "alice")
    room_id = await create_room(server, alice, "ops")
    bot_uid, token = await _bot_token(server, alice, "echo")
    async with connect(server.http, token=token) as bot_chat:
        await bot_chat.join(room_id)
    environment = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-c", _documented_example(), server.http, token]
    # The example runs until stopped: the nursery's end stops it.
    nursery.start_soon(partial(trio.run_process, command, env=environment, check=False))
    await _present(server, alice, room_id, bot_uid)
    async with (
        connect(server.http, token=alice.token) as chat,
        chat.events(room_id) as events,
    ):
        await chat.send(room_id, "!echo it works")
        echoed = await _next_message(events, skip_from=alice.uid)
        await chat.send(room_id, "hi @echo")
        greeted = await _next_message(events, skip_from=alice.uid)
    assert (echoed.uid, echoed.text) == (bot_uid, "it works")
    assert greeted.text == "hello alice! try !echo something"


async def test_the_client_runs_on_asyncio(server: Server) -> None:
    alice = await account(server, "alice")
    room_id = await create_room(server, alice, "ops")

    async def on_asyncio() -> tuple[Message, Message, list[Message]]:
        with anyio.fail_after(STEP):
            async with (
                connect(server.http, username="alice", password=PASSWORD) as chat,
                chat.events(room_id) as events,
            ):
                sent = await chat.send(room_id, "from asyncio")
                async for event in events:
                    if isinstance(event, Message):
                        return sent, event, await chat.history(room_id)
        raise AssertionError("the stream ended")

    # The server runs on this thread's Trio loop; the client on an asyncio loop of its own.
    sent, streamed, history = await trio.to_thread.run_sync(
        partial(anyio.run, on_asyncio, backend="asyncio")
    )
    assert streamed.message_id == sent.message_id and streamed.text == "from asyncio"
    assert [m.message_id for m in history] == [sent.message_id]
