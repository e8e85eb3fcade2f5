"""A session while it has tasks: its nursery, open, and the receive loop running beside them.

`chat.ws.session.client_session.ClientSession.run` alternates. *Idle*, its task waits
for the next frame outside any nursery (a nursery is about 1 KiB, and most connections
are idle most of the time). *Busy*, it opens a nursery, makes a `BusySpell` over it,
and receives frames (`receive`) while the handler, the writer and requests run as tasks
of the spell; once the last of them has ended, `receive` returns, `run` closes the
nursery and drops the spell, and the session is idle again.

Who owns what:

- the nursery is `run`'s: it opens it before the spell and closes it after;
- every task of the session is started here (`start_soon`), and wakes the receive loop
  as it ends (`Receiver.wake`), so that the loop sees when the last one has;
- the handler task owns the inbox it was started with (`chat.ws.session.inbox`): the
  receive loop puts frames in it while the task runs, and the task drops it as it ends.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol

import trio
from trio_websocket import ConnectionClosed

from chat.ws.session.inbox import Inbox

#: What a session's task runs (`BusySpell.start_soon`).
TaskFunction = Callable[..., Awaitable[object]]

#: The dialect's handling of one frame (`contracts.FrameHandler.handle`).
Handle = Callable[[str | bytes], Awaitable[None]]


class Receiver(Protocol):
    """The connection, as the receive loop reads it (`chat.ws.transport.ServerConnection`)."""

    async def next_message(self) -> str | bytes | None:
        """The client's next message, or None once `wake` was called."""

    @property
    def wakeable(self) -> bool:
        """Whether `wake` ends a wait in `next_message` at once."""

    def wake(self) -> None: ...


class BusySpell:
    """One busy spell of a session: its open nursery, and the handler task's inbox."""

    __slots__ = ("_inbox", "_ws", "nursery")

    def __init__(self, nursery: trio.Nursery, ws: Receiver) -> None:
        #: The session's nursery, open for this spell (`run`'s: it closes it).
        self.nursery = nursery
        self._ws = ws
        # The running handler task's (`_handle_inbox`), None while no handler runs.
        self._inbox: Inbox | None = None

    def start_soon(self, async_fn: TaskFunction, *args: object) -> None:
        """Start `async_fn(*args)` as a task of the session, in this spell's nursery."""
        self.nursery.start_soon(self._task, async_fn, *args, name=async_fn)

    async def _task(self, async_fn: TaskFunction, *args: object) -> None:
        """One of the session's tasks. As it ends, however it ends, the receive loop is
        woken, to find out whether it was the last (`receive`)."""
        try:
            await async_fn(*args)
        finally:
            self._ws.wake()

    async def receive(
        self,
        handle: Handle,
        message: str | bytes | None,
        ignoring: Callable[[], bool],
    ) -> bool:
        """The receive loop while busy: hand `message` (the frame that made the session
        busy, if one did) and the frames that follow to the handler task, which calls
        `handle` with each (unless `ignoring()`: the session is closing).

        Returns False once no task is left, with no await between finding none and
        returning, so no task can start before the caller closes the nursery; True once
        the client has gone (or answered our close frame). Where a wake cannot end the
        idle wait (`Receiver.wakeable` false: not Trio's epoll), it does not return
        until then: the nursery stays open."""
        wakeable = self._ws.wakeable
        while True:
            if message is not None:
                # Starts a handler task, or waits for room in its inbox.
                await self._to_handler(handle, message, ignoring)
            elif wakeable and not self.nursery.child_tasks:
                return False  # nothing runs: idle again
            try:
                message = await self._ws.next_message()  # None: a task ended (or is wanted)
            except ConnectionClosed:
                return True

    async def handler_finished(self) -> None:
        """Wait until the handler task, if one runs, has handled the frames received so
        far (a message the client sent just before it closed is still stored), or was
        cancelled. No await between the check and the wait: it cannot end unseen."""
        if self._inbox is not None:
            await self._inbox.finished()

    async def _to_handler(
        self, handle: Handle, message: str | bytes, ignoring: Callable[[], bool]
    ) -> None:
        """Give `message` to the handler: start a handler task with a new inbox if none
        runs, else put it in the inbox, waiting while the inbox is full (the receive loop
        then reads no more, and TCP flow control pushes back on the client)."""
        inbox = self._inbox
        if inbox is None:
            self._inbox = Inbox(message)
            self.start_soon(self._handle_inbox, handle, self._inbox, ignoring)
            return
        await inbox.put(message)

    async def _handle_inbox(
        self, handle: Handle, inbox: Inbox, ignoring: Callable[[], bool]
    ) -> None:
        """The handler task: the inbox's frames, in order, until it has been empty for
        `chat.ws.session.inbox.HANDLER_REST_S`; then it ends (the next frame starts
        another). Between the inbox found empty and dropped there is no await, so a frame
        is never put in an inbox that no task will handle. Cancelled or failing, the
        frames left are dropped with the inbox."""
        try:
            await inbox.handle_all(handle, ignoring)
        finally:
            self._inbox = None
