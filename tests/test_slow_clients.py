"""Slow and greedy clients: a request body must arrive within CHAT_BODY_TIMEOUT, and one
client address may hold at most CHAT_MAX_CONNECTIONS_PER_ADDRESS connections open."""

from __future__ import annotations

import contextlib

import trio
from support import STEP, Server, start_server, status_of

from chat.core.config import Config

HEALTH = b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n"


async def read_response(stream: trio.SocketStream) -> bytes:
    """Everything the server sends until it closes or a whole response head arrived."""
    response = b""
    with trio.fail_after(STEP):
        while b"\r\n\r\n" not in response:
            chunk = await stream.receive_some()
            if not chunk:
                break
            response += chunk
    return response


async def test_a_body_that_trickles_in_gets_408_once_the_body_timeout_passes(
    nursery: trio.Nursery, config: Config
) -> None:
    server = await start_server(nursery, config.replace(body_timeout=1.0))
    async with await trio.open_tcp_stream(server.host, server.port) as stream:
        await stream.send_all(
            b"POST /auth HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100\r\n\r\n{"
        )
        started = trio.current_time()

        async def trickle() -> None:
            with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
                for _ in range(20):
                    await trio.sleep(0.5)
                    await stream.send_all(b" ")

        async with trio.open_nursery() as sending:
            sending.start_soon(trickle)
            response = await read_response(stream)
            sending.cancel_scope.cancel()
    assert status_of(response) == b"408", response
    assert trio.current_time() - started < 5  # not the 60 s it used to take


async def until_a_slot_is_free(server: Server) -> None:
    """Return once a new connection is answered 200 rather than 429 (over the cap);
    fails if that takes longer than `STEP`."""
    with trio.fail_after(STEP):
        while True:
            async with await trio.open_tcp_stream(server.host, server.port) as again:
                await again.send_all(HEALTH)
                status = status_of(await read_response(again))
            if status == b"200":
                return
            assert status == b"429", status
            await trio.sleep(0.05)


async def open_held(server: Server, count: int) -> list[trio.SocketStream]:
    """`count` keep-alive connections, each answered once, so each holds its slot."""
    streams = []
    for _ in range(count):
        stream = await trio.open_tcp_stream(server.host, server.port)
        streams.append(stream)
        await stream.send_all(HEALTH)
        assert status_of(await read_response(stream)) == b"200"
    return streams


async def test_connections_past_the_per_address_cap_get_429(
    nursery: trio.Nursery, config: Config
) -> None:
    server = await start_server(
        nursery, config.replace(rate_limits=True, max_connections_per_address=3)
    )
    held = await open_held(server, 3)
    try:
        async with await trio.open_tcp_stream(server.host, server.port) as extra:
            await extra.send_all(HEALTH)
            response = await read_response(extra)
        assert status_of(response) == b"429", response
        assert b"Retry-After: " in response
    finally:
        for stream in held:
            await stream.aclose()


async def test_a_closed_connection_gives_its_slot_back(
    nursery: trio.Nursery, config: Config
) -> None:
    server = await start_server(
        nursery, config.replace(rate_limits=True, max_connections_per_address=2)
    )
    held = await open_held(server, 2)
    await held.pop().aclose()
    try:
        # The server gives the slot back once it has seen the close.
        await until_a_slot_is_free(server)
    finally:
        for stream in held:
            await stream.aclose()


async def test_behind_a_trusted_proxy_each_forwarded_client_has_its_own_cap(
    nursery: trio.Nursery, config: Config
) -> None:
    config = config.replace(
        rate_limits=True, max_connections_per_address=1, trusted_proxies=("127.0.0.1",)
    )
    server = await start_server(nursery, config)

    async def request_from(client: str) -> trio.SocketStream:
        stream = await trio.open_tcp_stream(server.host, server.port)
        head = f"GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Forwarded-For: {client}\r\n\r\n"
        await stream.send_all(head.encode())
        return stream

    first = await request_from("203.0.113.1")
    assert status_of(await read_response(first)) == b"200"
    second = await request_from("203.0.113.2")  # another client through the same proxy
    third = await request_from("203.0.113.1")  # the first client's second connection
    try:
        assert status_of(await read_response(second)) == b"200"
        assert status_of(await read_response(third)) == b"429"
    finally:
        for stream in (first, second, third):
            await stream.aclose()


async def test_rate_limits_off_lifts_the_connection_cap(
    nursery: trio.Nursery, config: Config
) -> None:
    config = config.replace(max_connections_per_address=1, rate_limits=False)
    server = await start_server(nursery, config)
    held = await open_held(server, 3)
    try:
        async with await trio.open_tcp_stream(server.host, server.port) as extra:
            await extra.send_all(HEALTH)
            assert status_of(await read_response(extra)) == b"200"
    finally:
        for stream in held:
            await stream.aclose()
