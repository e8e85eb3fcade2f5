"""The client for users' addresses (chat/net/outbound.py): what it refuses to reach.

Refusals are proven against a real site on loopback that counts what reaches it: a
refused URL leaves it untouched. Addresses that no test can listen on (10/8, the metadata
service...) are refused before any connection is tried, which `RefusedAddress` says.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import AsyncIterator

import pytest
import trio
from web_site import Reply, WebSite, open_web_site

from chat.net.outbound import (
    HostAllowList,
    OutboundError,
    OutboundHttp,
    RefusedAddress,
    is_public_address,
)

REFUSED_ADDRESSES = [
    "127.0.0.1",
    "127.1.2.3",
    "::1",
    "10.1.2.3",
    "172.16.0.1",
    "172.31.255.255",
    "192.168.1.1",
    "169.254.169.254",  # cloud metadata
    "fd00::1",
    "fe80::1",
    "::ffff:127.0.0.1",  # IPv4-mapped IPv6
    "::ffff:10.0.0.1",
    "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1
    "2002:7f00:1::1",  # 6to4 of 127.0.0.1
    "0.0.0.0",
    "100.64.0.1",  # shared address space
    "224.0.0.1",
    "ff02::1",
    "255.255.255.255",
]


def _client(*listed: str, timeout_s: float = 5) -> OutboundHttp:
    return OutboundHttp(HostAllowList.of(listed), timeout_s=timeout_s)


@pytest.fixture
async def web_site() -> AsyncIterator[WebSite]:
    async with open_web_site() as site:
        yield site


@pytest.mark.parametrize("text", REFUSED_ADDRESSES)
def test_an_address_of_this_network_is_not_public(text: str) -> None:
    assert not is_public_address(ipaddress.ip_address(text))


@pytest.mark.parametrize("text", ["93.184.215.14", "8.8.8.8", "2606:4700::1111"])
def test_a_globally_routed_address_is_public(text: str) -> None:
    assert is_public_address(ipaddress.ip_address(text))


@pytest.mark.parametrize(
    "host",
    ["10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "[fd00::1]", "[fe80::1]"],
)
async def test_a_private_address_is_refused_before_connecting(host: str) -> None:
    http = _client()
    with pytest.raises(RefusedAddress):
        await http.request("GET", f"http://{host}/", max_bytes=1000)


def _loopback_forms(port: int) -> list[str]:
    forms = [
        f"http://127.0.0.1:{port}/page",
        f"http://2130706433:{port}/page",  # 127.0.0.1 in decimal
        f"http://0177.0.0.1:{port}/page",  # in octal
        f"http://0x7f.1:{port}/page",  # in hexadecimal, two parts
        f"http://localhost:{port}/page",  # a name resolving to loopback
        f"http://[::ffff:127.0.0.1]:{port}/page",
    ]
    return forms


async def test_every_form_of_a_loopback_address_is_refused_and_never_reached(
    web_site: WebSite,
) -> None:
    web_site.page("/page", Reply(body=b"secret"))
    http = _client()
    for url in _loopback_forms(web_site.port):
        with pytest.raises(RefusedAddress):
            await http.request("GET", url, max_bytes=1000)
    assert web_site.requests == []


async def test_ipv6_loopback_is_refused_and_never_reached() -> None:
    if not socket.has_ipv6:
        pytest.skip("no IPv6 on this machine")
    try:
        opened = open_web_site("::1")
        site = await opened.__aenter__()
    except OSError:
        pytest.skip("no IPv6 loopback on this machine")
    try:
        site.page("/page", Reply(body=b"secret"))
        http = _client()
        with pytest.raises(RefusedAddress):
            await http.request("GET", site.url("/page"), max_bytes=1000)
        assert site.requests == []
    finally:
        await opened.__aexit__(None, None, None)


async def test_a_listed_host_and_port_is_fetched_although_private(web_site: WebSite) -> None:
    url = web_site.page("/page", Reply(body=b"<title>hello</title>"))
    http = _client(web_site.host_entry)
    answer = await http.request("GET", url, max_bytes=1000)
    assert (answer.status, answer.body, answer.content_type) == (
        200,
        b"<title>hello</title>",
        "text/html",
    )


async def test_the_same_host_on_another_port_is_not_listed(web_site: WebSite) -> None:
    web_site.page("/page", Reply(body=b"secret"))
    async with open_web_site() as other:
        other.page("/page", Reply(body=b"secret"))
        http = _client(web_site.host_entry)
        with pytest.raises(RefusedAddress):
            await http.request("GET", other.url("/page"), max_bytes=1000)
        assert other.requests == []


async def test_a_redirect_from_a_listed_host_to_loopback_is_refused(web_site: WebSite) -> None:
    async with open_web_site() as inside:
        inside.page("/admin", Reply(body=b"secret"))
        start = web_site.page("/go", Reply(302, headers=(("location", inside.url("/admin")),)))
        http = _client(web_site.host_entry)
        with pytest.raises(RefusedAddress):
            await http.request("GET", start, max_bytes=1000, redirects=3)
        assert inside.requests == []


async def test_a_redirect_is_not_followed_unless_asked(web_site: WebSite) -> None:
    web_site.page("/there", Reply(body=b"there"))
    start = web_site.page("/go", Reply(301, headers=(("location", "/there"),)))
    http = _client(web_site.host_entry)
    answer = await http.request("GET", start, max_bytes=1000)
    followed = await http.request("GET", start, max_bytes=1000, redirects=1)
    assert (answer.status, followed.status, followed.body) == (301, 200, b"there")
    assert followed.url == web_site.url("/there")


async def test_a_body_over_the_bound_fails_or_is_cut_when_asked(web_site: WebSite) -> None:
    url = web_site.page("/big", Reply(body=b"x" * 300_000))
    http = _client(web_site.host_entry)
    with pytest.raises(OutboundError, match="over 100000 bytes"):
        await http.request("GET", url, max_bytes=100_000)
    cut = await http.request("GET", url, max_bytes=100_000, truncate=True)
    assert (len(cut.body), cut.truncated) == (100_000, True)


async def test_a_content_type_not_asked_for_is_refused(web_site: WebSite) -> None:
    url = web_site.page("/file", Reply(body=b"MZ", content_type="application/octet-stream"))
    http = _client(web_site.host_entry)
    with pytest.raises(OutboundError, match="application/octet-stream"):
        await http.request("GET", url, max_bytes=1000, content_types=("text/html", "image/"))


async def test_a_site_that_does_not_answer_in_time_fails(web_site: WebSite) -> None:
    url = web_site.page("/slow", Reply(body=b"late", delay=30))
    http = _client(web_site.host_entry, timeout_s=0.5)
    with trio.fail_after(10), pytest.raises(OutboundError, match=r"no answer within 0\.5 s"):
        await http.request("GET", url, max_bytes=1000)


@pytest.mark.parametrize(
    "url", ["ftp://example.com/", "file:///etc/passwd", "http://user:pw@example.com/"]
)
async def test_only_plain_http_urls_without_credentials_are_fetched(url: str) -> None:
    http = _client()
    with pytest.raises(OutboundError):
        await http.request("GET", url, max_bytes=1000)


async def test_a_post_carries_its_body_and_headers(web_site: WebSite) -> None:
    url = web_site.page("/hook", Reply(body=b'{"Text":"ok"}', content_type="application/json"))
    http = _client(web_site.host_entry)
    answer = await http.request(
        "POST",
        url,
        headers=[("Content-Type", "application/json"), ("X-Chat-Signature", "sha256=ab")],
        body=b'{"Command":"/deploy"}',
        max_bytes=1000,
    )
    [request] = web_site.to("/hook")
    assert (request.method, request.body, request.headers["x-chat-signature"]) == (
        "POST",
        b'{"Command":"/deploy"}',
        "sha256=ab",
    )
    assert answer.body == b'{"Text":"ok"}'
