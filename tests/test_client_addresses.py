"""Clients by network: the limits count an IPv4 client by its address and an IPv6 client by
its /64 (CHAT_IPV6_PREFIX), over real IPv6 sockets on ::1 and through a trusted proxy's
X-Forwarded-For; log lines keep the full address. (chat/core/client_address.py)"""

from __future__ import annotations

import ipaddress
import logging
import socket
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import trio
from support import STEP, TLS, Server, in_ci, raw_upgrade, start_server, status_of
from test_rate_limits import limited
from test_slow_clients import read_response

from chat.core.client_address import ClientAddresses, normalise
from chat.core.config import Config, ConfigError, load
from chat.core.logs import ACCESS_HTTP

#: Two clients in one /64, and one in the /64 next to it (RFC 3849's documentation prefix).
ONE_LAN = ("2001:db8:1:2::1", "2001:db8:1:2:a:b:c:d")
NEXT_LAN = "2001:db8:1:3::1"


# --- the key ---------------------------------------------------------------------------------


def test_an_ipv4_client_is_keyed_by_its_address() -> None:
    assert ClientAddresses().key("203.0.113.7") == "203.0.113.7"


def test_an_ipv6_client_is_keyed_by_its_64() -> None:
    addresses = ClientAddresses()
    assert addresses.key("2001:db8:1:2::1") == "2001:db8:1:2::/64"
    assert addresses.key("2001:DB8:1:2:a:b:c:d") == "2001:db8:1:2::/64"
    assert addresses.key(NEXT_LAN) == "2001:db8:1:3::/64"


def test_an_ipv4_mapped_ipv6_address_is_keyed_as_ipv4() -> None:
    assert ClientAddresses().key("::ffff:203.0.113.7") == "203.0.113.7"


def test_a_scoped_ipv6_address_is_keyed_by_its_network_without_the_scope() -> None:
    assert ClientAddresses().key("fe80::1%eth0") == "fe80::/64"


def test_what_is_not_an_address_is_its_own_key() -> None:
    assert ClientAddresses().key("unknown") == "unknown"


#: Spellings near an IPv4 address: the quick path for plain ones must not take these.
IPV4_LOOKALIKES = (
    "203.0.113.7",
    "0.0.0.0",
    "255.255.255.255",
    "203.0.113.07",
    "0203.0.113.7",
    "203.0.113",
    "203.0.113.7.1",
    "203.0.113.256",
    " 203.0.113.7",
    "203.0.113.7 ",
    "[203.0.113.7]",
    "203.0.113.7\x00",
    "\uff12\uff10\uff13.0.113.7",  # fullwidth digits
    "::ffff:203.0.113.7",
    "0x7f.0.0.1",
    "",
)


@pytest.mark.parametrize("spelling", IPV4_LOOKALIKES)
def test_normalising_and_keying_agree_with_the_ipaddress_module(spelling: str) -> None:
    """A plain IPv4 address skips the parse; every spelling gets what the parse gives."""
    try:
        ip = ipaddress.ip_address(spelling.strip().strip("[]"))
    except ValueError:
        canonical = None
    else:
        mapped = getattr(ip, "ipv4_mapped", None)
        canonical = str(mapped or ip)
    assert normalise(spelling) == canonical
    assert ClientAddresses().key(spelling) == (canonical or spelling)


def test_the_key_of_a_forwarded_client_is_its_network() -> None:
    addresses = ClientAddresses(["::1"])
    assert addresses.resolve_key("::1", ["2001:db8:1:2::99"]) == "2001:db8:1:2::/64"
    assert addresses.resolve("::1", ["2001:db8:1:2::99"]) == "2001:db8:1:2::99"


def test_chat_ipv6_prefix_sets_the_network_size() -> None:
    config = load(environ={"CHAT_IPV6_PREFIX": "56"})
    assert config.ipv6_prefix == 56
    addresses = ClientAddresses(ipv6_prefix=config.ipv6_prefix)
    assert addresses.key("2001:db8:1:2ff::1") == "2001:db8:1:200::/56"
    assert ClientAddresses(ipv6_prefix=128).key("2001:db8::1") == "2001:db8::1/128"


@pytest.mark.parametrize("value", ["0", "129", "64.5", "/64"])
def test_a_bad_ipv6_prefix_is_refused_naming_the_setting(value: str) -> None:
    with pytest.raises(ConfigError, match="CHAT_IPV6_PREFIX: the IPv6 prefix length must be"):
        load(environ={"CHAT_IPV6_PREFIX": value})


# --- a real server on ::1 --------------------------------------------------------------------


def ipv6_loopback_or_skip() -> None:
    """Skip (fail under CI=true) if this machine cannot bind ::1."""
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as probe:
            probe.bind(("::1", 0))
    except OSError as error:
        message = f"this machine has no IPv6 loopback (binding ::1: {error})"
        if in_ci():
            pytest.fail(message + " (CI=true: the IPv6 tests must run)")
        pytest.skip(message)


def on_ipv6(config: Config, **changes: Any) -> Config:
    """`config` served on ::1 with rate limits on, every one generous except `changes`."""
    ipv6_loopback_or_skip()
    return limited(config, host="::1", **changes)


def behind_a_proxy_on_ipv6(config: Config, **changes: Any) -> Config:
    """`on_ipv6`, the test itself being a trusted proxy that connects from ::1."""
    return on_ipv6(config, trusted_proxies=("::1",), **changes)


def authority(server: Server) -> str:
    return f"[{server.host}]:{server.port}"


def ipv6_client(server: Server) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=f"http://{authority(server)}", timeout=STEP, verify=TLS)


async def failed_login(client: httpx.AsyncClient, forwarded_for: str | None = None) -> int:
    """The status of a wrong-password login through `/auth` (from `forwarded_for`)."""
    headers = {} if forwarded_for is None else {"X-Forwarded-For": forwarded_for}
    response = await client.post(
        "/auth", json={"name": "nobody", "password": "guess-guess"}, headers=headers
    )
    return response.status_code


async def held_connection(server: Server, forwarded_for: str | None = None) -> trio.SocketStream:
    """A keep-alive IPv6 connection that asked GET /healthz (from `forwarded_for`); the
    caller reads the answer (`answer_status`) and closes it."""
    stream = await trio.open_tcp_stream(server.host, server.port)
    forwarded = "" if forwarded_for is None else f"X-Forwarded-For: {forwarded_for}\r\n"
    head = f"GET /healthz HTTP/1.1\r\nHost: {authority(server)}\r\n{forwarded}\r\n"
    await stream.send_all(head.encode())
    return stream


async def answer_status(stream: trio.SocketStream) -> bytes:
    """The status of the response to the request sent on `stream`."""
    return status_of(await read_response(stream))


@pytest.fixture
async def held() -> AsyncIterator[list[trio.SocketStream]]:
    """Connections a test holds open; closed at its end."""
    streams: list[trio.SocketStream] = []
    yield streams
    for stream in streams:
        await stream.aclose()


async def test_an_ipv6_peer_over_its_cap_gets_429(
    nursery: trio.Nursery, config: Config, held: list[trio.SocketStream]
) -> None:
    server = await start_server(nursery, on_ipv6(config, max_connections_per_address=2))
    for _ in range(2):
        held.append(await held_connection(server))
        assert await answer_status(held[-1]) == b"200"
    held.append(await held_connection(server))
    assert await answer_status(held[-1]) == b"429"


async def login_after_three_failures(
    nursery: trio.Nursery, config: Config, first: str, then: str, **changes: Any
) -> int:
    """The status `then` gets for a failed login after `first` failed three times, on a
    server that allows three login attempts a minute per client address."""
    config = behind_a_proxy_on_ipv6(config, rate_login="3/minute", **changes)
    server = await start_server(nursery, config)
    async with ipv6_client(server) as client:
        for _ in range(3):
            assert await failed_login(client, first) == 401
        return await failed_login(client, then)


async def test_clients_in_one_64_share_the_login_limit(
    nursery: trio.Nursery, config: Config
) -> None:
    assert await login_after_three_failures(nursery, config, ONE_LAN[0], ONE_LAN[1]) == 429


async def test_clients_in_different_64s_do_not_share_the_login_limit(
    nursery: trio.Nursery, config: Config
) -> None:
    assert await login_after_three_failures(nursery, config, ONE_LAN[0], NEXT_LAN) == 401


async def test_with_a_prefix_of_128_each_ipv6_address_has_its_own_limit(
    nursery: trio.Nursery, config: Config
) -> None:
    status = await login_after_three_failures(
        nursery, config, ONE_LAN[0], ONE_LAN[1], ipv6_prefix=128
    )
    assert status == 401


async def test_an_ipv4_mapped_client_and_its_ipv4_address_share_the_login_limit(
    nursery: trio.Nursery, config: Config
) -> None:
    mapped, plain = "::ffff:203.0.113.7", "203.0.113.7"
    assert await login_after_three_failures(nursery, config, mapped, plain) == 429


async def test_clients_in_one_64_share_the_registration_limit(
    nursery: trio.Nursery, config: Config
) -> None:
    server = await start_server(nursery, behind_a_proxy_on_ipv6(config, rate_register="1/minute"))
    async with ipv6_client(server) as client:
        statuses = []
        for n, forwarded_for in enumerate(ONE_LAN):
            response = await client.post(
                "/api/reg",
                json={"username": f"user{n}", "password": "correct horse"},
                headers={"X-Forwarded-For": forwarded_for},
            )
            statuses.append(response.status_code)
    assert statuses == [201, 429]


async def second_client_status(
    nursery: trio.Nursery, config: Config, held: list[trio.SocketStream], first: str, then: str
) -> bytes:
    """The status `then` gets while `first` holds the one connection the cap allows."""
    config = behind_a_proxy_on_ipv6(config, max_connections_per_address=1)
    server = await start_server(nursery, config)
    held.append(await held_connection(server, first))
    assert await answer_status(held[-1]) == b"200"
    held.append(await held_connection(server, then))
    return await answer_status(held[-1])


async def test_clients_in_one_64_share_the_connection_cap(
    nursery: trio.Nursery, config: Config, held: list[trio.SocketStream]
) -> None:
    assert await second_client_status(nursery, config, held, ONE_LAN[0], ONE_LAN[1]) == b"429"


async def test_clients_in_different_64s_do_not_share_the_connection_cap(
    nursery: trio.Nursery, config: Config, held: list[trio.SocketStream]
) -> None:
    assert await second_client_status(nursery, config, held, ONE_LAN[0], NEXT_LAN) == b"200"


async def test_clients_in_one_64_share_the_websocket_connection_limit(
    nursery: trio.Nursery, config: Config
) -> None:
    server = await start_server(
        nursery, behind_a_proxy_on_ipv6(config, rate_connections="2/minute")
    )

    async def upgrade(forwarded_for: str) -> bytes:
        response = await raw_upgrade(
            server, "/", f"X-Forwarded-For: {forwarded_for}\r\n", host=authority(server)
        )
        return status_of(response)

    assert [await upgrade(ONE_LAN[0]), await upgrade(ONE_LAN[1])] == [b"101", b"101"]
    assert await upgrade("2001:db8:1:2::ffff") == b"429"
    assert await upgrade(NEXT_LAN) == b"101"


async def test_log_lines_keep_the_full_address_of_an_ipv6_client(
    nursery: trio.Nursery, config: Config, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=ACCESS_HTTP)
    server = await start_server(nursery, behind_a_proxy_on_ipv6(config))
    async with ipv6_client(server) as client:
        await client.get("/livez", headers={"X-Forwarded-For": ONE_LAN[1]})
        await client.get("/healthz")

    def addresses() -> list[str]:
        return [r.__dict__["address"] for r in caplog.records if r.name == ACCESS_HTTP]

    # A line is written once its answer is sent: the client may read the answer first.
    with trio.fail_after(STEP):
        while len(addresses()) < 2:  # noqa: ASYNC110 (the log has nothing to wait on)
            await trio.sleep(0.01)
    assert addresses() == [ONE_LAN[1], "::1"]
