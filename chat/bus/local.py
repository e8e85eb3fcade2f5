"""The bus of a chat with one instance (SQLite): there is nobody to tell anything."""

from __future__ import annotations

from typing import Any, NoReturn

import trio

from chat.bus.carried import Payload
from chat.bus.interface import BusState, EventSink, Wake


class LocalBus:
    """No other instances: announcing and sending events are no-ops, nothing ever wakes."""

    description = "none (one instance)"
    carries = False  # nobody to carry committed items to
    max_payload_bytes = 0
    carries_with_commit = False

    def __init__(self) -> None:
        self.dropped: dict[str, int] = {}  # nothing is sent, so nothing is ever dropped
        # No connection to lose: it always "listens" (to nobody).
        self.state = BusState("local", connected=True)

    def announce(self, position: int) -> None:
        pass

    async def send_event(self, event: dict[str, Any]) -> None:
        await trio.lowlevel.checkpoint()

    async def send_carried(self, payload: Payload) -> None:
        await trio.lowlevel.checkpoint()

    def notification(self, payload: Payload) -> tuple[str, str]:
        raise NotImplementedError("the local bus carries nothing")

    def send_when_stopping(self, event: dict[str, Any]) -> None:
        pass

    async def run(
        self,
        wake: Wake,
        on_event: EventSink | None = None,
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> NoReturn:
        """Runs until cancelled, doing nothing: it is in the task tree for the shape's sake."""
        task_status.started()
        await trio.sleep_forever()
