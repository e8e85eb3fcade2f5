"""Who a client is, by address: the peer of its TCP connection, or, when that peer is a
proxy the operator trusts (``CHAT_TRUSTED_PROXIES``), the address the proxy names in
``X-Forwarded-For``.

Anyone can send ``X-Forwarded-For``, so it is read only from trusted proxies, and only as
far as they vouch for it: each proxy appends the address it received the request from,
so the header is read from the right, skipping trusted proxies, and the first address
that is not one of them is the client.

Rate limits, the connection cap and the login code count clients by a *key*, not by the
address itself (`ClientAddresses.key`): an IPv4 address is its own key, but an IPv6 client
is keyed by its network (``CHAT_IPV6_PREFIX``, /64 by default). One subscriber's LAN gets a
/64 (RFC 6177), and a host in it may take any of its 2^64 addresses, so counting IPv6 by
address would give one client as many allowances as it cares to use addresses. (IPv4-mapped
IPv6 addresses are IPv4 addresses, and keyed as such.) Log lines keep the full address.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def _plain_ipv4(address: str) -> bool:
    """True if `address` is an IPv4 address spelt as `ipaddress` spells it (what the kernel
    reports for an IPv4 peer): it is then its own canonical form and key, without the
    parse, which costs several times more and runs more than once per connection."""
    try:
        return (
            socket.inet_ntop(socket.AF_INET, socket.inet_pton(socket.AF_INET, address)) == address
        )
    except (OSError, ValueError):  # not IPv4 (OSError), or not text inet_pton takes
        return False


def normalise(address: str) -> str | None:
    """An IP address in its canonical form (IPv4-mapped IPv6 as IPv4), or None."""
    if _plain_ipv4(address):
        return address
    try:
        ip = ipaddress.ip_address(address.strip().strip("[]"))
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return _same(address, str(ip))


def _same(address: str, canonical: str) -> str:
    """`address` itself if it is already `canonical`: a connection keeps its address (and
    its key for the connection cap) for its life, and one string then serves all of them."""
    return address if address == canonical else canonical


#: The IPv6 prefix length clients are keyed by unless told otherwise (one LAN, RFC 6177).
DEFAULT_IPV6_PREFIX = 64


class ClientAddresses:
    """Resolves client addresses, trusting ``X-Forwarded-For`` from `trusted` proxies, and
    keys them for the limits (IPv6 by its `ipv6_prefix` network)."""

    def __init__(
        self, trusted: Iterable[str] = (), *, ipv6_prefix: int = DEFAULT_IPV6_PREFIX
    ) -> None:
        self._trusted: list[IPNetwork] = [
            ipaddress.ip_network(network, strict=False) for network in trusted
        ]
        if not 0 < ipv6_prefix <= 128:
            raise ValueError(f"an IPv6 prefix length is from 1 to 128, not {ipv6_prefix}")
        self._ipv6_prefix = ipv6_prefix

    def is_trusted(self, address: str) -> bool:
        """True if `address` is one of the trusted proxies."""
        if not self._trusted:
            return False
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in self._trusted)

    def resolve(self, peer: str, forwarded_for: Iterable[str] = ()) -> str:
        """The client's address, given the connection's `peer` address and the values of
        every ``X-Forwarded-For`` header of the request."""
        client = normalise(peer) or peer
        if not self.is_trusted(client):
            return client
        hops = [hop for value in forwarded_for for hop in value.split(",") if hop.strip()]
        for hop in reversed(hops):
            address = normalise(hop)
            if address is None:
                return client  # garbled past this point: the last proxy's word is all we have
            client = address
            if not self.is_trusted(address):
                return address
        return client

    def key(self, address: str) -> str:
        """What the limits count `address` by: an IPv4 address itself (IPv4-mapped IPv6
        included), an IPv6 address its network (``2001:db8:1:2::/64``); anything that is
        not an IP address (``"unknown"``) as it is."""
        if _plain_ipv4(address):
            return address
        try:
            ip = ipaddress.ip_address(address.strip().strip("[]"))
        except ValueError:
            return address
        if isinstance(ip, ipaddress.IPv6Address):
            if ip.ipv4_mapped is None:
                # Built from the address's integer: a scope (``fe80::1%eth0``) is dropped.
                return str(ipaddress.IPv6Network((int(ip), self._ipv6_prefix), strict=False))
            ip = ip.ipv4_mapped
        return _same(address, str(ip))

    def resolve_key(self, peer: str, forwarded_for: Iterable[str] = ()) -> str:
        """The key (`key`) of the client `resolve` finds."""
        return self.key(self.resolve(peer, forwarded_for))
