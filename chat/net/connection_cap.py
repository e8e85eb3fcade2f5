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
may each take any address in it.
"""

from __future__ import annotations

from chat.net.raw_response import json_response

#: A client over its cap may try again after this many seconds.
RETRY_AFTER_S = 5


class ConnectionCap:
    """Counts open connections per client address key. Plain methods: Trio runs one task at
    a time, and none of them awaits."""

    def __init__(self, per_address: int, *, enabled: bool = True) -> None:
        self.per_address = per_address
        self.enabled = enabled
        self._open: dict[str, int] = {}

    def take(self, address: str) -> bool:
        """Take a slot for `address`; False (taking nothing) if it has `per_address`
        connections open already. Whoever took one gives it back (`give_back`)."""
        if not self.enabled:
            return True
        count = self._open.get(address, 0)
        if count >= self.per_address:
            return False
        self._open[address] = count + 1
        return True

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
