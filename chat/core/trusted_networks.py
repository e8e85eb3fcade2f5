"""Trusted networks (``CHAT_TRUSTED_NETWORKS``): client networks whose addresses share a
larger budget of connections and logins than one address gets.

An office behind one NAT address looks like one client to limits counted by address: 50
people reconnecting after a restart are 100 WebSocket upgrades from one address, past
``CHAT_RATE_CONNECTIONS``. For an address inside a trusted network the rate limits
(`chat.app.limits.rate_limits`) count people instead, with the network as a whole held to a
ceiling: ``CHAT_TRUSTED_NETWORK_MULTIPLIER`` times the per-address limit. docs/DEPLOYMENT.md
("An office behind one address") and docs/SECURITY.md ("Trusted networks") say what that
gives and what it gives up.

Matching works on the keys the limits count by (`chat.core.client_address.ClientAddresses.key`):
an IPv4 address, or an IPv6 client's network (a /64 by default); the settings refuse an IPv6
trusted network narrower than that prefix, which no key could fall into.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

#: The most networks ``CHAT_TRUSTED_NETWORKS`` may list (each check looks at every one).
MAX_TRUSTED_NETWORKS = 64


def parse_network(text: str) -> IPNetwork:
    """One trusted network in CIDR notation (``10.20.0.0/16``, ``2001:db8:5::/48``; a bare
    address is its own /32 or /128). `ValueError` with the reason for anything else: host
    bits set (``10.20.1.7/16``: a typo for a host or for the network?), or a network of
    every address (``0.0.0.0/0``: turn rate limits off instead)."""
    try:
        network = ipaddress.ip_network(text.strip(), strict=True)
    except ValueError as error:
        if "has host bits set" in str(error):
            widest = ipaddress.ip_network(text.strip(), strict=False)
            raise ValueError(
                f"{text.strip()!r} has host bits set: did you mean {widest}?"
            ) from None
        raise ValueError(f"{text.strip()!r} is not an IP network like 10.20.0.0/16") from None
    if network.prefixlen == 0:
        raise ValueError(f"{network} is every address: set CHAT_RATE_LIMITS=off instead")
    return network


class TrustedNetworks:
    """The trusted networks, and which of them a client's key falls in."""

    def __init__(self, networks: Iterable[str] = ()) -> None:
        parsed = [parse_network(text) for text in networks]
        # Most specific first: a key in two networks is counted under the narrower one.
        parsed.sort(key=lambda network: -network.prefixlen)
        self._networks: tuple[IPNetwork, ...] = tuple(parsed)
        self._names = tuple(str(network) for network in parsed)

    def __bool__(self) -> bool:
        return bool(self._networks)

    def network_of(self, key: str) -> str | None:
        """The trusted network (``"10.20.0.0/16"``) that the client counted as `key` (an
        address, or an IPv6 client's network) is in; None if it is in none, or is not an
        address at all (``"unknown"``)."""
        if not self._networks:
            return None
        try:
            client: IPNetwork = ipaddress.ip_network(key, strict=False)
        except ValueError:
            return None
        for network, name in zip(self._networks, self._names, strict=True):
            if client.version == network.version and client.subnet_of(network):  # type: ignore[arg-type]
                return name
        return None

    def narrower_than(self, ipv6_prefix: int) -> list[str]:
        """The IPv6 trusted networks narrower than `ipv6_prefix`, by which IPv6 clients are
        keyed: none of them could ever match."""
        return [
            name
            for network, name in zip(self._networks, self._names, strict=True)
            if network.version == 6 and network.prefixlen > ipv6_prefix
        ]
