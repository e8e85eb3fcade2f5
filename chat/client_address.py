"""Who a client is, by address: the peer of its TCP connection, or, when that peer is a
proxy the operator trusts (``CHAT_TRUSTED_PROXIES``), the address the proxy names in
``X-Forwarded-For``.

Anyone can send ``X-Forwarded-For``, so it is read only from trusted proxies, and only as
far as they vouch for it: each proxy appends the address it received the request from,
so the header is read from the right, skipping trusted proxies, and the first address
that is not one of them is the client. Rate limits and connection caps count by it.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def normalise(address: str) -> str | None:
    """An IP address in its canonical form (IPv4-mapped IPv6 as IPv4), or None."""
    try:
        ip = ipaddress.ip_address(address.strip().strip("[]"))
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return str(ip)


class ClientAddresses:
    """Resolves client addresses, trusting ``X-Forwarded-For`` from `trusted` proxies."""

    def __init__(self, trusted: Iterable[str] = ()) -> None:
        self._trusted: list[IPNetwork] = [
            ipaddress.ip_network(network, strict=False) for network in trusted
        ]

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
