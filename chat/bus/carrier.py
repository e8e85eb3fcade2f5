"""The carrier: sends this instance's committed messages and changes to the others.

The writer (`MessageWriter`) hands each batch it commits to `Carrier.carry`, which never
waits; the carrier's task (`Carrier.run`) packs everything handed to it since its last
send into as few payloads as fit the bus (`chat.bus.carried.pack`) and sends them
(`Bus.send_carried`). The other instances publish what it carries without reading the
table, instead of reading every other instance's messages back from it.

Nothing depends on a payload arriving: the table stays the source of truth. A payload
that cannot be sent (the bus is away) or that was never sent (this instance died after its
commit) leaves a gap in the positions that the receivers see and fill from the table
(`MessageWriter`, ``GAP_GRACE_S``); on PostgreSQL the commit's own notification wakes them
for it, on Redis the position announced after the commit or the poll does.

So an instance that hears no other (`listening` says so: presence knows every live
instance, `chat.app.presence.tracker`) carries nothing. A lone instance on PostgreSQL
would otherwise encode every batch for nobody, send it, and hear it back on its own
listening connection (a tenth of its CPU per delivery in fanout-100). An instance that
starts is
heard within moments (its first presence snapshot goes out as it starts); until then it
finds what it was not carried in the table, woken as always.

Memory: what waits to be sent is bounded (`MAX_WAITING`). Past it the oldest items are
dropped and replaced by a read marker ("read the table up to N"), which is all the
receivers need to find them.

Ownership: the carrier owns its queue; `run` is a child of the root nursery
(`chat.server.serving.serve`) and sends through the bus, which owns the connections.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, NoReturn

import trio

from chat.bus.carried import Item, pack
from chat.core.errors import Unavailable

if TYPE_CHECKING:
    from chat.bus.interface import Bus

log = logging.getLogger(__name__)

#: The most items waiting to be sent; past it, the oldest become a read marker.
MAX_WAITING = 4096


class Carrier:
    """Owns the items waiting to be carried to the other instances, and the task that
    sends them."""

    def __init__(
        self, bus: Bus, *, enabled: bool = True, listening: Callable[[], bool] | None = None
    ) -> None:
        self._bus = bus
        #: Whether committed items travel on the bus at all: not with one instance (the
        #: local bus), nor with ``CHAT_BUS_CARRY=off`` (every instance reads the table).
        self.enabled = enabled and bus.carries
        # Whether another instance is heard now (None: assume so); asked per batch.
        self._listening = listening
        self._waiting: list[Item] = []
        self._read = 0  # a read marker to send: positions up to it are in the table
        self._ready = trio.Event()  # set while something waits to be sent
        #: Items sent, payloads sent, and items given up (dropped or not sent): plain
        #: counts read by `chat.app.metrics`.
        self.items_sent = 0
        self.payloads_sent = 0
        self.items_not_sent = 0

    @property
    def with_commit(self) -> bool:
        """Whether a committed batch is carried by notifications its commit sends
        (`notifications`) rather than by `carry` (PostgreSQL's bus)."""
        return self.enabled and self._bus.carries_with_commit

    @property
    def heard(self) -> bool:
        """Whether another instance is heard now: carrying to nobody is skipped."""
        return self._listening is None or self._listening()

    def notifications(self, items: Sequence[Item]) -> list[tuple[str, str]]:
        """The notifications (channel, payload) that carry `items` to the other
        instances, for the store to send with their commit (`with_commit` buses); none
        while no other instance is heard. Never waits: called by the store, between the
        commit and its answer."""
        if not self.heard:
            return []
        payloads = pack(items, 0, self._bus.max_payload_bytes)
        self.payloads_sent += len(payloads)
        self.items_sent += sum(len(payload.texts) for payload in payloads)
        return [self._bus.notification(payload) for payload in payloads]

    def carry(self, items: Sequence[Item], read: int = 0) -> None:
        """Send `items` (committed here, in position order) and a read marker to the
        other instances, soon; nothing while no other instance is heard. Never waits."""
        if not self.enabled or not self.heard:
            return
        self._waiting.extend(items)
        if len(self._waiting) > MAX_WAITING:
            dropped = self._waiting[:-MAX_WAITING]
            del self._waiting[:-MAX_WAITING]
            self.items_not_sent += len(dropped)
            read = max(read, dropped[-1][0].position)
        if read > self._read:
            self._read = read
        self._ready.set()

    async def run(
        self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> NoReturn:
        """Send what is handed to `carry`, in batches, as it comes. Runs until cancelled."""
        task_status.started()
        while True:
            await self._ready.wait()
            self._ready = trio.Event()
            items, read = self._waiting, self._read
            self._waiting, self._read = [], 0
            for payload in pack(items, read, self._bus.max_payload_bytes):
                try:
                    await self._bus.send_carried(payload)
                except Unavailable as error:
                    # The receivers find what this held in the table (see the module).
                    self.items_not_sent += len(payload.texts)
                    log.info("bus: committed items not carried to other instances: %s", error)
                    continue
                self.payloads_sent += 1
                self.items_sent += len(payload.texts)
