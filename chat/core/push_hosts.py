"""Which push services the server sends to (`CHAT_PUSH_HOSTS`): an allow-list of hosts,
checked when a browser registers its endpoint and again before every push.

A subscription's endpoint is a URL the client chooses, and the server POSTs to it: without
a list, anyone with an account could make the server send requests to any address it can
reach (its own network, a metadata service). So an endpoint must be ``https://`` on a host
of the list, each entry a host name (the standard port, 443), a ``host:port``, or
``.example.com`` (that domain's subdomains, port 443). Plain ``http://`` is allowed only to
a loopback address (127.0.0.0/8, ::1, localhost) named with its port in the list: a push
service of the tests' own.

The default is the push services of today's browsers: Chrome's (Firebase Cloud
Messaging), Firefox's (Mozilla's autopush), Safari's (Apple) and Edge's (Windows
Notification Services, one host per region).

An endpoint is read with the HTTP client's own parser (`httpx.URL`), so the host checked
is the one a push would be sent to (IDNA-encoded), and an endpoint that client could not
send to (a host that is no valid IDNA name, such as ``☃.notify.windows.com``; a control
character) is refused when it is registered (`UnusableEndpoint`), not found out at every
push.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

import httpx

from chat.core.errors import InvalidInput

#: The push services of the major browsers.
BROWSER_PUSH_SERVICES = (
    "fcm.googleapis.com",
    "updates.push.services.mozilla.com",
    "web.push.apple.com",
    ".notify.windows.com",
)

#: The longest endpoint taken, in characters (the browsers' are a few hundred).
MAX_ENDPOINT_CHARS = 2048


@dataclass(frozen=True, slots=True)
class _Entry:
    name: str  # lower case; a leading "." matches subdomains
    port: int | None  # None: the scheme's standard port


def parse_entry(text: str) -> tuple[str, int | None]:
    """One `CHAT_PUSH_HOSTS` entry as (host, port or None); ValueError if it is not one."""
    entry = text.strip().lower().rstrip(".")
    if not entry or any(ch in entry for ch in "/@?#\\ \t"):
        raise ValueError(f"{text!r} is not a host or host:port")
    if entry.startswith("["):  # [::1]:8080
        host, sep, rest = entry[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            raise ValueError(f"{text!r} is not a host or host:port")
        port_text = rest[1:] if rest else None
    elif entry.count(":") == 1:
        host, port_text = entry.split(":")
    elif ":" in entry:
        raise ValueError(f"{text!r}: write an IPv6 address in brackets, like [::1]:8080")
    else:
        host, port_text = entry, None
    if not host or host == ".":
        raise ValueError(f"{text!r} is not a host or host:port")
    if port_text is None:
        return host, None
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError(f"{text!r} has no valid port")
    return host, int(port_text)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class UnusableEndpoint(InvalidInput):
    """An endpoint the HTTP client cannot send to at all (not a URL it parses, a host
    that is no valid IDNA name): no push to it can ever be sent."""


def endpoint_url(endpoint: str) -> httpx.URL:
    """`endpoint` as the HTTP client reads it; `UnusableEndpoint` if it cannot. The host
    is decoded here as it would be when sending (IDNA errors are `ValueError`s: idna's
    own, or httpx's `InvalidURL` for a host it will not encode)."""
    try:
        url = httpx.URL(endpoint)
        _ = url.host, url.port
    except (httpx.InvalidURL, ValueError) as error:
        raise UnusableEndpoint(
            f'field "endpoint" is not a URL this server can send to: {error}'
        ) from None
    return url


class PushHosts:
    """The allow-list: `check` refuses an endpoint on any other host."""

    def __init__(self, entries: tuple[str, ...]) -> None:
        self._entries = [_Entry(*parse_entry(entry)) for entry in entries]

    def check(self, endpoint: object) -> str:
        """`endpoint` if the server may push to it; else `InvalidInput` saying why
        (`UnusableEndpoint` when no push could ever be sent to it)."""
        if not isinstance(endpoint, str) or not endpoint:
            raise InvalidInput('field "endpoint" must be the push service URL the browser gave')
        if len(endpoint) > MAX_ENDPOINT_CHARS:
            raise InvalidInput(
                f'field "endpoint" must be at most {MAX_ENDPOINT_CHARS} characters long'
            )
        url = endpoint_url(endpoint)
        # The ASCII (IDNA-encoded) host the client connects to; its port, None for the
        # scheme's standard one.
        host, port = url.raw_host.decode("ascii").rstrip("."), url.port
        if url.scheme not in ("https", "http") or not host:
            raise InvalidInput('field "endpoint" must be an https:// URL')
        if url.userinfo or url.fragment or any(ch.isspace() for ch in endpoint):
            raise InvalidInput('field "endpoint" is not a push service URL')
        if url.scheme == "http":
            named = any(e.name == host and e.port == port for e in self._entries)
            if port is None or not _is_loopback(host) or not named:
                raise InvalidInput(
                    'field "endpoint" must be an https:// URL (plain http only to a'
                    " loopback host:port named in CHAT_PUSH_HOSTS)"
                )
            return endpoint
        if not any(self._allows(entry, host, port) for entry in self._entries):
            shown = host if port is None else f"{host}:{port}"
            raise InvalidInput(
                f'field "endpoint": the push service {shown} is not one this server sends'
                " to (CHAT_PUSH_HOSTS)"
            )
        return endpoint

    @staticmethod
    def _allows(entry: _Entry, host: str, port: int | None) -> bool:
        if entry.name.startswith("."):
            matches = host.endswith(entry.name) and len(host) > len(entry.name)
        else:
            matches = host == entry.name
        wanted = entry.port if entry.port is not None else 443
        return matches and (port if port is not None else 443) == wanted
