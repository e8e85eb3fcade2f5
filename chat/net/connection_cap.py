"""A cap on the connections one client address holds open at once.

Each open connection costs memory and a task whatever it does: 2,000 connections from
one address, each sending a request body one byte every two seconds, held 75 MB. The
front door takes a slot for a connection's client address when it arrives and gives it
back when the connection ends; past ``CHAT_MAX_CONNECTIONS_PER_ADDRESS`` the request is
answered 429 and the connection closed.

Which address: the peer's, known at accept, so connections that never finish their
request head count too; for a trusted proxy (`chat.core.client_address`), whose connections
carry many clients, the address it forwards, known once the head is read. Either way the
cap counts the address's key (`ClientAddresses.key`): an IPv6 client's /64, whose hosts
may each take any address in it. A key in a trusted network (``CHAT_TRUSTED_NETWORKS``:
an office behind one NAT address, `chat.core.trusted_networks`) may hold
``CHAT_TRUSTED_NETWORK_MULTIPLIER`` times as many.
"""

from __future__ import annotations

from chat.core.trusted_networks import TrustedNetworks
from chat.net.raw_response import json_response

#: A client over its cap may try again after this many seconds.
RETRY_AFTER_S = 5


class ConnectionCap:
    """Counts open connections per client address key. Plain methods: Trio runs one task at
    a time, and none of them awaits."""

    def __init__(
        self,
        per_address: int,
        *,
        enabled: bool = True,
        networks: TrustedNetworks | None = None,
        multiplier: int = 1,
    ) -> None:
        self.per_address = per_address
        self.enabled = enabled
        self._networks = networks or TrustedNetworks()
        #: The cap of a key in a trusted network.
        self.per_trusted_address = per_address * multiplier
        self._open: dict[str, int] = {}
        # The whole answers to a connection over either cap.
        self._refusals = {
            cap: too_many_connections_response(cap)
            for cap in (self.per_address, self.per_trusted_address)
        }

    def cap(self, address: str) -> int:
        """How many connections `address` (a key) may hold open at once."""
        if self._networks.network_of(address) is not None:
            return self.per_trusted_address
        return self.per_address

    def take(self, address: str) -> bool:
        """Take a slot for `address`; False (taking nothing) if it has as many connections
        open as its `cap` already. Whoever took one gives it back (`give_back`)."""
        if not self.enabled:
            return True
        count = self._open.get(address, 0)
        # The trusted networks are looked at only past the ordinary cap.
        if count >= self.per_address and count >= self.cap(address):
            return False
        self._open[address] = count + 1
        return True

    def refusal(self, address: str) -> bytes:
        """The whole HTTP response that turns away a connection of `address` over its cap."""
        return self._refusals[self.cap(address)]

    def give_back(self, address: str) -> None:
        """Give back a slot `take` gave (for a disabled cap, there is nothing to do)."""
        if not self.enabled:
            return
        left = self._open[address] - 1
        if left:
            self._open[address] = left
        else:
            del self._open[address]


def too_many_connections_response(per_address: int) -> bytes:
    """The whole HTTP response that turns away a connection over the cap."""
    return json_response(
        429,
        f"too many open connections from your address (the limit is {per_address})",
        {"Retry-After": str(RETRY_AFTER_S)},
    )
