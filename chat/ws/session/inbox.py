"""One client's frames received and not yet handled, while its handler task runs.

The receive loop puts frames in (`put`); the handler task takes them out, one at a time
and in order, and hands them to the dialect (`handle_all`). The session makes an inbox
with the frame that finds no handler running, starts the handler task with it, and
drops it when that task ends: a connection that has said what it had to and now only
listens holds neither (most connections, most of the time). The handler rests for
`HANDLER_REST_S` with the inbox empty before it ends, so that a client sending frames in
quick succession (a bot, a bridge, a burst) keeps one handler and one busy spell rather
than opening a nursery and starting a task for each frame (about half the task steps of
a message at low rates).

Bounded: past `INBOX_SIZE` frames the receive loop waits for room, so it reads no more
and TCP flow control pushes back on a client that pipelines requests.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import trio

#: Frames received but not yet handled; past this the receive loop stops reading.
INBOX_SIZE = 16
#: How long the handler waits with the inbox empty for another frame before it ends:
#: short, so that a connection is idle (no nursery, one task) a moment after it spoke.
HANDLER_REST_S = 0.1


class Inbox:
    """Frames on their way from the receive loop to the handler task."""

    __slots__ = ("_arrived", "_done", "_frames", "_over", "_room")

    def __init__(self, first: str | bytes) -> None:
        self._frames: list[str | bytes] = [first]
        # Each made only when someone waits: for room (the receive loop, `put`), or for
        # the handler to finish (`finished`).
        self._room: trio.Event | None = None
        self._done: trio.Event | None = None
        self._over = False  # the handler has ended: nothing more is taken out
        # Made while the handler rests, the inbox empty: set by the next `put`.
        self._arrived: trio.Event | None = None

    async def put(self, message: str | bytes) -> None:
        """Add `message` behind the frames waiting, then wait while more than
        `INBOX_SIZE` are waiting (until the handler takes one, or ends). Cancelled while
        waiting, the frame stays in: it was received, and will be handled."""
        self._frames.append(message)
        arrived = self._arrived
        if arrived is not None:
            self._arrived = None
            arrived.set()
        while len(self._frames) > INBOX_SIZE and not self._over:
            self._room = trio.Event()
            await self._room.wait()

    async def handle_all(
        self,
        handle: Callable[[str | bytes], Awaitable[None]],
        ignoring: Callable[[], bool],
    ) -> None:
        """Hand the frames to `handle` in order, until none is left and none has come
        for `HANDLER_REST_S` (returns then, with no await between finding the inbox empty
        and returning: the caller drops it before a frame can be put in that nobody would
        handle). A frame taken while `ignoring()` (the session is closing) is dropped
        unhandled, and a closing session's handler does not rest.

        Also when cancelled or failing (the session is ending then), the frames left are
        dropped, and whoever waits for room or for the end is let go."""
        frames = self._frames
        try:
            while True:
                while frames:
                    message = frames.pop(0)
                    room = self._room
                    if room is not None:
                        self._room = None
                        room.set()
                    if not ignoring():
                        await handle(message)
                # Every frame received so far is handled: whoever waits for that
                # (`finished`) need not wait for the rest as well.
                done = self._done
                if done is not None:
                    self._done = None
                    done.set()
                if ignoring():
                    break
                self._arrived = arrived = trio.Event()
                with trio.move_on_after(HANDLER_REST_S):
                    await arrived.wait()
                self._arrived = None
                # A frame put in as the rest ran out is here: handled, not lost.
                if not frames:
                    break
        finally:
            self._over = True
            for event in (self._room, self._done):
                if event is not None:
                    event.set()
            self._room = None

    async def finished(self) -> None:
        """Wait until the frames received so far are handled (the handler resting or
        ended), or the handler was cancelled. The caller checks that one runs: between
        that check and the event made here there is no await, so it cannot end unseen."""
        if self._over or (self._arrived is not None and not self._frames):
            return
        self._done = trio.Event()
        await self._done.wait()
