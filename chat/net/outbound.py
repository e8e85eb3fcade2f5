"""HTTP requests to addresses users choose (link previews, webhooks), never to this network.

A URL in a message or a webhook's settings makes the server send a request: unguarded,
anyone with an account could make it read the instance's own ports, the database's, a
cloud's metadata service (169.254.169.254) or anything on the private network. So the
address is checked where it cannot be dodged: when the connection is made, on the address
the host name resolved to (`GuardedBackend`, `connect_guarded`). A name that
resolves to a private address, an address written in decimal or octal (``2130706433``,
``0177.0.0.1``: the resolver reads them as 127.0.0.1), an IPv4 address inside IPv6
(``::ffff:127.0.0.1``), a redirect to any of these: each arrives at the check as the
address it is, and is refused unless the URL's ``host:port`` is on the instance's
allow-list (`HostAllowList`: intranet services, the tests' own pages on loopback).

Only addresses that are globally routable unicast are fetched (`is_public_address`).
Each request has one deadline for all of it (redirects, connecting, the body), a bound on
the bytes read, and optionally a list of content types; redirects are followed only when
the caller asks, each hop checked again.
"""

from __future__ import annotations

import ipaddress
import ssl
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import h11
import trio

from chat.core.push_hosts import parse_entry

#: What the server says it is, to the sites it reads.
USER_AGENT = "chat-server (link previews and webhooks; +https://github.com/)"

#: The redirect statuses followed when a caller asks (each hop is checked again).
_REDIRECTS = frozenset({301, 302, 303, 307, 308})

#: The IPv6 prefix of NAT64 (RFC 6052): the IPv4 address it carries is what is reached.
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


class OutboundError(Exception):
    """A request to a user's address did not give an answer to use; says why, in words
    safe to show the user who gave the address."""


class RefusedAddress(OutboundError):
    """The URL's host resolved only to addresses this server does not send to."""


def is_public_address(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Whether `address` is a globally routable unicast address: not loopback, private,
    link-local (the metadata services), shared (100.64/10), multicast, reserved or
    unspecified; an IPv4 address carried in IPv6 (mapped, NAT64, 6to4) is judged as itself."""
    if isinstance(address, ipaddress.IPv6Address):
        carried = address.ipv4_mapped or address.sixtofour
        if carried is None and address in _NAT64:
            carried = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if carried is not None:
            return is_public_address(carried)
    return address.is_global and not address.is_multicast


@dataclass(frozen=True, slots=True)
class HostAllowList:
    """``host:port`` entries (`CHAT_LINK_PREVIEW_HOSTS`, `CHAT_WEBHOOK_HOSTS`) that may be
    reached although their address is private. An entry without a port stands for the
    standard ports, 80 and 443."""

    entries: frozenset[tuple[str, int | None]] = frozenset()

    @classmethod
    def of(cls, texts: Iterable[str]) -> HostAllowList:
        return cls(frozenset(parse_entry(text) for text in texts))

    def lists(self, host: str, port: int) -> bool:
        host = host.lower().rstrip(".").strip("[]")
        return (host, port) in self.entries or (port in (80, 443) and (host, None) in self.entries)


@dataclass(frozen=True, slots=True)
class Answer:
    """What a request gave: the URL it was answered from (after redirects), its status,
    its content type (lower case, without parameters) and its body, cut at the bound
    (`truncated`) when the caller allowed that."""

    url: str
    status: int
    content_type: str
    headers: dict[str, str]
    body: bytes
    truncated: bool = False


async def connect_guarded(allowed: HostAllowList, host: str, port: int) -> trio.SocketStream:
    """A TCP connection to `host`, made to an address checked first: a public one, or any
    when ``host:port`` is listed. The name is resolved here and the connection made to the
    address checked, so what is checked is what is reached (a name that resolves
    differently a moment later changes nothing)."""
    listed = allowed.lists(host, port)
    addresses = await _resolve(host, port)
    usable = [a for a in addresses if listed or is_public_address(a)]
    if not usable:
        raise RefusedAddress(
            f"{host} is not an address this server fetches (private, loopback or"
            " link-local, and not on its allow-list)"
        )
    try:
        return await trio.open_tcp_stream(str(usable[0]), port)
    except OSError as error:
        raise OutboundError(f"{host} refused the connection") from error


async def _resolve(host: str, port: int) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    """The addresses `host` names, in the resolver's order (literals in any form the
    resolver reads, such as decimal or octal IPv4, come back as the address they are)."""
    try:
        infos = await trio.socket.getaddrinfo(host.strip("[]"), port, type=trio.socket.SOCK_STREAM)
    except OSError as error:
        raise OutboundError(f"{host} could not be resolved") from error
    found = []
    for _family, _type, _proto, _name, sockaddr in infos:
        address = ipaddress.ip_address(str(sockaddr[0]).partition("%")[0])
        if address not in found:
            found.append(address)
    return found


class OutboundHttp:
    """Requests to users' addresses, with the instance's allow-list. Each request has a
    connection of its own, closed when it is answered: these requests are few and to many
    hosts, and a connection pool would keep sockets to strangers open."""

    def __init__(self, allowed: HostAllowList, *, timeout_s: float) -> None:
        self._allowed = allowed
        self.timeout_s = timeout_s
        self._tls = ssl.create_default_context()

    async def request(
        self,
        method: str,
        url: str,
        *,
        headers: Sequence[tuple[str, str]] = (),
        body: bytes = b"",
        max_bytes: int,
        content_types: Sequence[str] | None = None,
        redirects: int = 0,
        truncate: bool = False,
    ) -> Answer:
        """One request, all of it within the client's `timeout_s` seconds: `OutboundError` (a
        `RefusedAddress` for an address not fetched) when it cannot be made, times out,
        answers a content type not in `content_types` (prefixes, such as ``image/``) or
        a body over `max_bytes` (unless `truncate`: the first `max_bytes` are kept).
        Follows at most `redirects` redirects (for GET), each to a checked address."""
        try:
            with trio.fail_after(self.timeout_s):
                for _hop in range(redirects + 1):
                    answer = await self._one(
                        method, url, headers, body, max_bytes, content_types, truncate
                    )
                    location = answer.headers.get("location")
                    if (
                        answer.status not in _REDIRECTS
                        or location is None
                        or not redirects
                        or method != "GET"
                    ):
                        return answer  # a redirect not followed is the caller's answer
                    url = urljoin(url, location)
                raise OutboundError("too many redirects")
        except trio.TooSlowError:
            raise OutboundError(f"no answer within {self.timeout_s:g} s") from None

    async def _one(
        self,
        method: str,
        url: str,
        headers: Sequence[tuple[str, str]],
        body: bytes,
        max_bytes: int,
        content_types: Sequence[str] | None,
        truncate: bool,
    ) -> Answer:
        parts = urlsplit(url)
        try:
            host, port = parts.hostname, parts.port
        except ValueError:
            raise OutboundError("the URL's port is not a number") from None
        if parts.scheme not in ("http", "https") or not host:
            raise OutboundError("only http:// and https:// URLs are fetched")
        if parts.username is not None or parts.password is not None:
            raise OutboundError("a URL with a user name or password is not fetched")
        port = port or (443 if parts.scheme == "https" else 80)
        stream: trio.abc.Stream = await connect_guarded(self._allowed, host, port)
        try:
            if parts.scheme == "https":
                stream = trio.SSLStream(
                    stream, self._tls, server_hostname=host, https_compatible=True
                )
            target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            netloc = parts.netloc.rpartition("@")[2]
            sent = [
                ("Host", netloc),
                ("User-Agent", USER_AGENT),
                ("Accept-Encoding", "identity"),
                ("Connection", "close"),
                ("Content-Length", str(len(body))),
                *headers,
            ]
            conn = h11.Connection(h11.CLIENT, max_incomplete_event_size=32 * 1024)
            await stream.send_all(
                conn.send(h11.Request(method=method, target=target, headers=sent))
                + conn.send(h11.Data(data=body))
                + conn.send(h11.EndOfMessage())
            )
            return await _read_answer(conn, stream, url, max_bytes, content_types, truncate)
        except (OSError, trio.BrokenResourceError, ssl.SSLError) as error:
            raise OutboundError(f"the request failed: {type(error).__name__}") from None
        except h11.ProtocolError:
            raise OutboundError("the answer was not HTTP/1.1 this server reads") from None
        finally:
            await trio.aclose_forcefully(stream)


async def _read_answer(
    conn: h11.Connection,
    stream: trio.abc.Stream,
    url: str,
    max_bytes: int,
    content_types: Sequence[str] | None,
    truncate: bool,
) -> Answer:
    """The answer's head, then its body up to `max_bytes` (see `OutboundHttp.request`)."""
    head: h11.Response | None = None
    chunks: list[bytes] = []
    size = 0
    while True:
        event = conn.next_event()
        if event is h11.NEED_DATA:
            conn.receive_data(bytes(await stream.receive_some(65536)))
        elif isinstance(event, h11.Response):
            head = event
            headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in head.headers}
            content_type = headers.get("content-type", "").partition(";")[0].strip().lower()
            if (
                content_types is not None
                and head.status_code not in _REDIRECTS
                and not content_type.startswith(tuple(content_types))
            ):
                raise OutboundError(f"the answer is {content_type or 'of no type'}")
        elif isinstance(event, h11.Data):
            size += len(event.data)
            if size > max_bytes:
                if not truncate:
                    raise OutboundError(f"the answer is over {max_bytes} bytes")
                chunks.append(bytes(event.data[: len(event.data) - (size - max_bytes)]))
                break
            chunks.append(bytes(event.data))
        elif isinstance(event, (h11.EndOfMessage, h11.ConnectionClosed)):
            break
    if head is None:
        raise OutboundError("the connection closed before an answer")
    return Answer(url, head.status_code, content_type, headers, b"".join(chunks), size > max_bytes)
