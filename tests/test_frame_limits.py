"""Per-connection frame limits (chat/ws/session/frame_limits.py), through a real server on both
backends: every kind of frame a client sends has a limit on its connection (room changes,
read markers, history requests and the bytes they send, pings of both kinds, typing,
authentications, invalid frames); past it the frame is refused with the dialect's error
frame, and a client that keeps going is closed with 1008. CHAT_RATE_LIMITS=off turns them
off, and the defaults let a browser-like session through."""

from __future__ import annotations

import contextlib
import re
import sys
from typing import Any

import pytest
import trio
import trio.testing
from browser import in_browser, open_client
from support import (
    STEP,
    Account,
    Clients,
    JsonClient,
    Server,
    account,
    create_room,
    http_client,
    open_clients,
    start_server,
)
from trio_websocket import ConnectionClosed

from chat.core.config import Config, ConfigError, load
from chat.ws.session.client_session import MAX_REFUSALS
from chat.ws.session.frame_limits import AUTHENTICATIONS, INVALID_FRAMES, TYPING, parse_rate
from chat.ws.transport import ServerConnection

LOBBY = 1
RETRY = re.compile(r": try again in (\d+) s$")


def frame_limited(config: Config, **changes: Any) -> Config:
    """`config` with rate limits on: the defaults, but `changes`."""
    return config.replace(rate_limits=True, **changes)


async def limited_server(
    nursery: trio.Nursery, config: Config, name: str, **changes: Any
) -> tuple[Server, Account]:
    """A server with rate limits on (the defaults, but `changes`), and a user of it."""
    server = await start_server(nursery, frame_limited(config, **changes))
    return server, await account(server, name)


def refusal_text(frame: Any) -> str:
    """The text of an error frame, in the shape of any dialect but support's."""
    assert isinstance(frame, dict), frame
    text = frame.get("Error") if frame.get("Type") == "error" else frame.get("error")
    assert isinstance(text, str), frame
    return text


def assert_refused(frame: Any, what: str) -> int:
    """Check that `frame` refuses something done too often; its retry-after, in seconds."""
    text = refusal_text(frame)
    assert text.startswith(f"{what}: try again in "), frame
    match = RETRY.search(text)
    assert match is not None, text
    assert int(match[1]) >= 1
    return int(match[1])


async def in_room(clients: Clients, user: Account, room_id: int = LOBBY) -> JsonClient:
    ws = await clients.json("/ws", token=user.token)
    entered = await ws.request({"Type": "enter", "RoomID": room_id, "Presence": False})
    assert entered["Type"] == "entered", entered
    return ws


async def ping_quietly(client: JsonClient, payload: bytes) -> None:
    """Send a WebSocket ping and wait for its pong, which may never come."""
    with contextlib.suppress(ConnectionClosed):
        await client.ws.ping(payload)


async def closed_by_server(client: JsonClient) -> ConnectionClosed:
    """Read until the server closes the connection; how it closed it."""
    with pytest.raises(ConnectionClosed) as closed, trio.fail_after(STEP):
        while True:
            await client.receive()
    return closed.value


async def seed_lobby(clients: Clients, writer: Account, count: int, size: int) -> None:
    """`count` lobby messages of `size` characters, stored once this returns."""
    talker = await clients.talker(token=writer.token)
    for n in range(count):
        await talker.say(f"{n:04} " + "x" * (size - 5))
    await talker.stored()


# --- settings ---


def test_a_per_connection_allowance_is_one_limit() -> None:
    assert parse_rate("60/minute") == (60, 60.0)
    assert parse_rate("5 per 15 minutes") == (5, 900.0)
    with pytest.raises(ValueError, match="not a single limit"):
        parse_rate("10/second;60/minute")


def test_an_invalid_frame_limit_names_its_setting() -> None:
    with pytest.raises(ConfigError, match="CHAT_RATE_ROOM_CHANGES"):
        load(environ={"CHAT_RATE_ROOM_CHANGES": "often"})


# --- one limit per kind of frame ---


async def test_room_changes_past_the_limit_are_refused_and_the_client_stays_in_its_room(
    nursery: trio.Nursery, config: Config
) -> None:
    server, user = await limited_server(nursery, config, "hopper", rate_room_changes="3/minute")
    room_id = await create_room(server, user, "elsewhere")
    async with open_clients(server) as clients:
        ws = await in_room(clients, user, room_id)
        for target in (LOBBY, room_id):
            entered = await ws.request({"Type": "enter", "RoomID": target, "Presence": False})
            assert entered["Type"] == "entered"
        assert_refused(
            await ws.request({"Type": "enter", "RoomID": LOBBY, "Presence": False}),
            "too many room changes",
        )
        await ws.send({"Type": "message", "Text": "still here"})
        assert (await ws.receive())["RoomID"] == room_id


async def test_read_markers_past_the_limit_are_refused(
    nursery: trio.Nursery, config: Config
) -> None:
    server, user = await limited_server(nursery, config, "reader", rate_read_markers="2/minute")
    async with open_clients(server) as clients:
        ws = await in_room(clients, user)
        message_id = (await ws.request({"Type": "message", "Text": "hello"}))["MessageID"]
        read = {"Type": "read", "RoomID": LOBBY, "MessageID": message_id}
        for _ in range(2):
            assert (await ws.request(read))["Type"] == "read"
        assert_refused(await ws.request(read), "too many read markers")


async def test_typing_frames_past_the_connection_limit_are_refused(
    nursery: trio.Nursery, config: Config
) -> None:
    server, user = await limited_server(nursery, config, "typist")
    async with open_clients(server) as clients:
        ws = await in_room(clients, user)
        for _ in range(parse_rate(TYPING)[0]):
            await ws.send({"Type": "typing"})  # never answered
        assert_refused(await ws.request({"Type": "typing"}), "too many typing frames")


@pytest.mark.parametrize("path", ["/", "/ws", "/v1/ws"])
async def test_text_pings_past_the_limit_get_the_dialects_error_frame(
    nursery: trio.Nursery, config: Config, path: str
) -> None:
    server, user = await limited_server(nursery, config, "pinger", rate_pings="2/minute")
    async with open_clients(server) as clients:
        client = await clients.json(path, token=user.token)
        if path == "/v1/ws":
            await client.receive()  # the greeting: the user's (empty) support thread
        for _ in range(2):
            await client.send("ping")
            with trio.fail_after(STEP):
                assert await client.ws.get_message() == "pong"
        refused = await client.request("ping")
        if path == "/v1/ws":
            assert refused == {
                "error": {"code": 5, "message": "Too many requests."},
                "result": None,
                "id": None,
            }
        else:
            assert_refused(refused, "too many pings")


async def test_websocket_pings_past_the_limit_get_an_error_frame_instead_of_a_pong(
    nursery: trio.Nursery, config: Config
) -> None:
    server, user = await limited_server(nursery, config, "pinger", rate_pings="2/minute")
    async with open_clients(server) as clients:
        client = await clients.json("/ws", token=user.token)
        with trio.fail_after(STEP):
            await client.ws.ping(b"1")  # returns once the pong came
            await client.ws.ping(b"2")
        async with trio.open_nursery() as waiting:
            waiting.start_soon(ping_quietly, client, b"3")  # no pong comes
            assert_refused(await client.receive(), "too many pings")
            waiting.cancel_scope.cancel()


async def test_a_client_that_keeps_pinging_past_the_limit_is_closed_with_1008(
    nursery: trio.Nursery, config: Config
) -> None:
    server, user = await limited_server(nursery, config, "pinger", rate_pings="1/minute")
    async with open_clients(server) as clients:
        client = await clients.json("/ws", token=user.token)
        async with trio.open_nursery() as waiting:
            for n in range(MAX_REFUSALS + 3):
                waiting.start_soon(ping_quietly, client, str(n).encode())
            closed = await closed_by_server(client)
            waiting.cancel_scope.cancel()
        assert closed.reason.code == 1008
        assert closed.reason.reason == "rate limit exceeded: too many pings"


async def test_history_requests_past_the_limit_are_refused(
    nursery: trio.Nursery, config: Config
) -> None:
    server, user = await limited_server(nursery, config, "historian", rate_history="2/minute")
    async with open_clients(server) as clients:
        await seed_lobby(clients, user, 1, 10)  # its last step is a history request
        talker = await clients.talker(token=user.token)
        await talker.say("history 1")
        assert (await talker.receive())["message"].startswith("0000")
        await talker.say("history 1")
        assert (await talker.receive())["message"].startswith("0000")
        await talker.say("history 1")
        assert_refused(await talker.receive(), "too many history requests")


@pytest.mark.parametrize("dialect", ["TokenTalker", "support"])
async def test_authentications_past_the_limit_are_refused(
    nursery: trio.Nursery, config: Config, dialect: str
) -> None:
    server, user = await limited_server(nursery, config, "again")
    allowed = parse_rate(AUTHENTICATIONS)[0]
    async with open_clients(server) as clients:
        if dialect == "TokenTalker":
            talker = await clients.talker()
            for _ in range(allowed):
                await talker.auth(user.token)
            await talker.say(f"auth {user.token}")
            assert_refused(await talker.receive(), "too many authentications")
        else:
            client = await clients.json("/v1/ws")
            for n in range(allowed):
                frame = {"method": "message.auth", "params": [user.token], "id": n}
                assert (await client.request(frame))["error"] is None
            frame = {"method": "message.auth", "params": [user.token], "id": allowed}
            refused = await client.request(frame)
            assert refused["error"] == {"code": 5, "message": "Too many requests."}


async def test_invalid_frames_past_their_limit_close_the_connection_with_1008(
    nursery: trio.Nursery, config: Config
) -> None:
    server, user = await limited_server(nursery, config, "garbler")
    async with open_clients(server) as clients:
        client = await clients.json("/ws", token=user.token)
        for _ in range(parse_rate(INVALID_FRAMES)[0]):
            answer = await client.request("nonsense")
            assert refusal_text(answer).startswith("frame is not valid JSON")
        for _ in range(MAX_REFUSALS + 1):
            await client.send("nonsense")  # each still answered with its own error
        closed = await closed_by_server(client)
        assert closed.reason.code == 1008
        assert closed.reason.reason == "rate limit exceeded: too many invalid frames"


async def test_frame_limit_refusals_are_counted_in_the_metrics(
    nursery: trio.Nursery, config: Config
) -> None:
    server, user = await limited_server(nursery, config, "hopper", rate_room_changes="1/minute")
    async with open_clients(server) as clients:
        ws = await in_room(clients, user)
        refused = await ws.request({"Type": "enter", "RoomID": LOBBY, "Presence": False})
        assert_refused(refused, "too many room changes")
    async with http_client(server) as client:
        metrics = (await client.get("/metrics")).text
    assert 'chat_rate_limit_refusals_total{limit="room-changes"} 1.0' in metrics
    assert 'chat_rate_limit_refusals_total{limit="history-bytes"} 0.0' in metrics


async def test_answering_pings_within_limits_costs_an_idle_connection_one_pointer() -> None:
    # The connection's instance dictionary shares its keys with every other connection's
    # only up to 30 of them; past that each idle connection holds 1.3 KiB more.
    stream, _peer = trio.testing.memory_stream_pair()
    connection = ServerConnection(stream, max_message_size=1024, close_timeout=1.0)
    assert connection.ping_policy is None
    assert "ping_policy" not in vars(connection)
    assert sys.getsizeof(vars(connection)) < 512


# --- history data, in bytes ---


async def test_history_past_the_byte_budget_is_refused_with_a_retry_after(
    nursery: trio.Nursery, config: Config
) -> None:
    server, user = await limited_server(nursery, config, "historian", rate_history_bytes=3000)
    async with open_clients(server) as clients:
        await seed_lobby(clients, user, 10, 1000)  # charged 1 message to a connection of its own
        talker = await clients.talker(token=user.token)
        await talker.say("history 10")  # 10 kB: more than the budget, sent all the same
        for n in range(10):
            assert (await talker.receive())["message"].startswith(f"{n:04}")
        await talker.say("history 1")
        # 7 kB of debt at 3 kB a minute: paid back in about 140 s.
        assert assert_refused(await talker.receive(), "too much history sent") > 100


async def test_a_resume_past_the_byte_budget_is_refused_and_the_client_stays_in_its_room(
    nursery: trio.Nursery, config: Config
) -> None:
    server, user = await limited_server(nursery, config, "resumer", rate_history_bytes=3000)
    writer = await account(server, "writer")
    room_id = await create_room(server, user, "elsewhere")
    async with open_clients(server) as clients:
        await seed_lobby(clients, writer, 10, 1000)
        ws = await in_room(clients, user, room_id)
        resume = {"Type": "enter", "RoomID": LOBBY, "SinceID": 0, "Presence": False}
        assert (await ws.request(resume))["Type"] == "entered"
        for n in range(10):
            assert (await ws.receive())["Text"].startswith(f"{n:04}")
        back = {"Type": "enter", "RoomID": room_id, "Presence": False}
        assert (await ws.request(back))["Type"] == "entered"
        assert_refused(await ws.request(resume), "too much history sent")
        await ws.send({"Type": "message", "Text": "still here"})
        frame = await ws.receive()
        assert frame.get("RoomID") == room_id, frame


async def test_full_resumes_in_a_row_stop_at_the_default_budget(
    nursery: trio.Nursery, config: Config
) -> None:
    # The attack the budget stops: a thousand messages of 4,000 characters (4 MB) resumed
    # again and again on one connection. The default budget (8 MiB a minute) and one answer
    # more: three at the most.
    async with trio.open_nursery() as seeding:  # limits off, for the thousand messages
        seeder = await start_server(seeding, config)
        writer = await account(seeder, "writer")
        async with open_clients(seeder) as clients:
            await seed_lobby(clients, writer, 1000, 4000)
        seeding.cancel_scope.cancel()
    server = await start_server(nursery, frame_limited(config))
    async with open_clients(server) as clients:
        ws = await clients.json("/ws", token=writer.token)
        resume = {"Type": "enter", "RoomID": LOBBY, "SinceID": 0, "Presence": False}
        resumed = 0
        for _ in range(4):
            answer = await ws.request(resume)
            if answer["Type"] == "error":
                break
            assert answer["Type"] == "entered"
            texts = [(await ws.receive())["Text"] for _ in range(1000)]
            assert sum(map(len, texts)) == 1000 * 4000
            resumed += 1
        assert_refused(answer, "too much history sent")
        assert 2 <= resumed <= 3


async def test_a_client_that_keeps_asking_for_history_past_the_budget_is_closed_with_1008(
    nursery: trio.Nursery, config: Config
) -> None:
    server, user = await limited_server(nursery, config, "historian", rate_history_bytes=100)
    async with open_clients(server) as clients:
        await seed_lobby(clients, user, 1, 200)
        talker = await clients.talker(token=user.token)
        await talker.say("history 1")  # answered: more than the budget
        await talker.receive()
        for _ in range(MAX_REFUSALS + 1):
            await talker.say("history 1")
        closed = await closed_by_server(JsonClient(talker.ws))
        assert closed.reason.code == 1008
        assert closed.reason.reason == "rate limit exceeded: too much history sent"


# --- off, and the defaults ---


async def test_rate_limits_off_turns_the_frame_limits_off(
    nursery: trio.Nursery, config: Config
) -> None:
    once = "1/minute"
    server = await start_server(
        nursery,
        config.replace(
            rate_limits=False,
            rate_room_changes=once,
            rate_read_markers=once,
            rate_history=once,
            rate_history_bytes=1,
            rate_pings=once,
        ),
    )
    user = await account(server, "free")
    async with open_clients(server) as clients:
        ws = await in_room(clients, user)
        message_id = (await ws.request({"Type": "message", "Text": "hello"}))["MessageID"]
        for _ in range(3):
            resume = {"Type": "enter", "RoomID": LOBBY, "SinceID": 0, "Presence": False}
            assert (await ws.request(resume))["Type"] == "entered"
            assert (await ws.receive())["MessageID"] == message_id
            read = {"Type": "read", "RoomID": LOBBY, "MessageID": message_id}
            assert (await ws.request(read))["Type"] == "read"
            await ws.send("ping")
            with trio.fail_after(STEP):
                assert await ws.ws.get_message() == "pong"
                await ws.ws.ping()


async def test_the_defaults_let_a_browser_like_session_through(
    nursery: trio.Nursery, config: Config
) -> None:
    # What the browser client (chat/static/) sends, faster than a busy person: a resume on
    # connecting, rooms clicked through, a read marker on each arrival, typing, keep-alive
    # pings.
    server, user = await limited_server(nursery, config, "busy")
    room_id = await create_room(server, user, "elsewhere")
    async with open_clients(server) as clients:
        ws = await clients.json("/ws", token=user.token)
        latest = {}
        for target in (room_id, LOBBY):
            resume = {"Type": "enter", "RoomID": target, "SinceID": 0, "Presence": False}
            assert (await ws.request(resume))["Type"] == "entered"
            message = await ws.request({"Type": "message", "Text": "hello"})
            latest[target] = message["MessageID"]
        for n in range(30):
            target = room_id if n % 2 == 0 else LOBBY
            entered = await ws.request({"Type": "enter", "RoomID": target, "Presence": False})
            assert entered["Type"] == "entered", entered
            await ws.send({"Type": "typing"})
            read = {"Type": "read", "RoomID": target, "MessageID": latest[target]}
            assert (await ws.request(read))["Type"] == "read"
            await ws.send("ping")
            with trio.fail_after(STEP):
                assert await ws.ws.get_message() == "pong"


# --- the browser client ---


async def test_the_page_says_so_when_rooms_are_changed_too_fast_and_stays_where_it_was(
    nursery: trio.Nursery, config: Config
) -> None:
    server = await start_server(nursery, frame_limited(config, rate_room_changes="3/minute"))

    def scenario(browser: Any) -> None:
        alice = open_client(browser, server.http)
        alice.register("alice")  # enters the lobby: one
        alice.create_room("plans")  # two
        alice.page.locator("#rooms button", has_text="lobby").click()  # three
        alice.wait_for_room("lobby")
        alice.page.locator("#rooms button", has_text="plans").click()  # one too many
        alice.wait_for_text("#error", "too many room changes: try again in")
        alice.say("still in the lobby")
        alice.wait_for_message("still in the lobby")
        alice.wait_for_room("lobby")

    await in_browser(scenario)
