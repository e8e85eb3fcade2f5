"""The server answers only to its own names (DNS rebinding), over HTTP and WebSocket, and
a WebSocket's Origin is compared with those names, never with the Host a request claims."""

from __future__ import annotations

import pytest
import trio
from support import STEP, Server, account, raw_upgrade, start_server, status_of

from chat.core.config import Config
from chat.core.host_names import HostPolicy


async def raw_get(server: Server, path: str, head: str) -> bytes:
    """A GET request written by hand (`head`: its header lines, CRLF-terminated); the
    response's status line and headers."""
    with trio.fail_after(STEP):
        async with await trio.open_tcp_stream(server.host, server.port) as stream:
            await stream.send_all(
                f"GET {path} HTTP/1.1\r\n{head}Connection: close\r\n\r\n".encode()
            )
            response = b""
            while chunk := await stream.receive_some():
                response += chunk
    return response


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1", "LOCALHOST.", "app.localhost", "[::1]"])
async def test_loopback_names_are_answered(server: Server, host: str) -> None:
    response = await raw_get(server, "/healthz", f"Host: {host}:{server.port}\r\n")
    assert status_of(response) == b"200", response


async def test_http_with_a_foreign_host_gets_400_naming_the_setting(server: Server) -> None:
    response = await raw_get(server, "/healthz", "Host: evil.example\r\n")
    assert status_of(response) == b"400", response
    assert b"CHAT_ALLOWED_HOSTS" in response


async def test_http_without_a_host_gets_400(server: Server) -> None:
    with trio.fail_after(STEP):
        async with await trio.open_tcp_stream(server.host, server.port) as stream:
            await stream.send_all(b"GET /healthz HTTP/1.0\r\n\r\n")
            response = await stream.receive_some()
    assert status_of(response) == b"400", response


async def test_a_rebound_websocket_is_refused_before_the_upgrade(server: Server) -> None:
    user = await account(server, "victim")
    response = await raw_upgrade(
        server,
        f"/ws?token={user.token}",
        "Origin: http://evil.example\r\n",
        host="evil.example",
    )
    assert status_of(response) == b"400", response


async def test_a_websocket_from_the_servers_own_page_is_accepted(server: Server) -> None:
    user = await account(server, "user")
    own = f"http://{server.host}:{server.port}"
    response = await raw_upgrade(server, f"/ws?token={user.token}", f"Origin: {own}\r\n")
    assert status_of(response) == b"101", response


async def test_a_websocket_from_another_page_on_an_allowed_host_is_refused(
    server: Server,
) -> None:
    user = await account(server, "user")
    other_port = f"http://{server.host}:{server.port + 1}"
    response = await raw_upgrade(server, f"/ws?token={user.token}", f"Origin: {other_port}\r\n")
    assert status_of(response) == b"403", response


async def test_the_public_urls_host_and_origin_are_the_servers_own(
    nursery: trio.Nursery, config: Config
) -> None:
    server = await start_server(nursery, config.replace(public_url="https://chat.example.com"))
    user = await account(server, "user")
    response = await raw_upgrade(
        server,
        f"/ws?token={user.token}",
        "Origin: https://chat.example.com\r\n",
        host="chat.example.com",
    )
    assert status_of(response) == b"101", response


async def test_allowed_hosts_are_answered(nursery: trio.Nursery, config: Config) -> None:
    server = await start_server(nursery, config.replace(allowed_hosts=(".example.org",)))
    for host in ("example.org", "chat.example.org"):
        response = await raw_get(server, "/healthz", f"Host: {host}\r\n")
        assert status_of(response) == b"200", response
    response = await raw_get(server, "/healthz", "Host: example.org.evil.example\r\n")
    assert status_of(response) == b"400", response


def test_a_server_bound_to_every_address_answers_any_ip_but_no_foreign_name() -> None:
    policy = HostPolicy(Config(host="0.0.0.0"))
    assert policy.allows("192.0.2.7:9000")
    assert policy.allows("[2001:db8::1]:9000")
    assert not policy.allows("evil.example:9000")


def test_a_server_bound_to_one_address_answers_that_address_only() -> None:
    policy = HostPolicy(Config(host="192.0.2.7"))
    assert policy.allows("192.0.2.7:9000")
    assert not policy.allows("192.0.2.8:9000")


def test_an_origin_is_never_compared_with_a_foreign_host() -> None:
    policy = HostPolicy(Config())
    assert not policy.origin_allowed("http://evil.example", "evil.example")
    assert policy.origin_allowed("http://localhost:9000", "localhost:9000")
    assert policy.origin_allowed(None, "localhost:9000")


@pytest.mark.parametrize(
    "host", [".", "a..b", "a" * 64, "xn--zz", "\u00e9", "localhost..", ".localhost"]
)
async def test_a_host_no_name_could_have_gets_400_on_http_and_websocket(
    server: Server, host: str
) -> None:
    # Each once made the name machinery of a library fail: werkzeug's on HTTP (a 500),
    # wsproto's on an upgrade (the connection dropped).
    response = await raw_get(server, "/healthz", f"Host: {host}\r\n")
    assert status_of(response) == b"400", response
    assert status_of(await raw_upgrade(server, "/", host=host)) == b"400"


async def test_an_upgrade_with_a_header_outside_ascii_gets_400(server: Server) -> None:
    response = await raw_upgrade(server, "/", "Sec-WebSocket-Protocol: \u00e9\r\n")
    assert status_of(response) == b"400", response
    assert b"must be ASCII" in response
