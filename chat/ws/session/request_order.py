"""The order of one client's answers while its requests run concurrently.

A request whose answer is read from the database (``history N``, a support thread) runs
as a task of its own (`launch`), so the client's later frames are handled while its
query runs. Its answer still comes back in request order:

- each request is handed the previous one's *done* event; it runs its query at once,
  then waits for that event before it sends its frames, and sets its own however it
  ended (answered, failed, cancelled). So two requests' frames never interleave, while
  their queries overlap;
- anything else the handler sends waits for the last request first (`turn`), so the
  answers as a whole come back in the order the frames were sent;
- before its query, a request waits for the writes the client pipelined before it
  (`track_write`): a client reads its own writes. `writes_settled` waits for all of them;
- at most `MAX_REQUESTS` run at once; `launch` waits for a free place, and the client's
  next frames with it, so TCP pushes back on a client that floods requests;
- the work runs bound to the client (`bound_to_client`): when the client disconnects
  (`client_gone`), it is cancelled, since nobody would read the answer.

Made for a session the first time it needs one (most connections never send a request).
It holds no reference to the session: what it starts tasks with and delivers answers to
is handed to `launch` with each request.

An answer's frames are written by `send_answer`, a request's or one from memory alike.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Protocol

import trio

from chat.app.messages.pending import PendingMessage
from chat.core.frames import text_frame

#: Requests (`RequestOrder.launch`) one client may have running at once.
MAX_REQUESTS = 4

#: A request's answer (frames of history) is written in pieces of at most this many
#: bytes: few writes for a page, and still the outbox's back-pressure for a long one.
ANSWER_WRITE_BYTES = 64 * 1024


class AnswerOutbox(Protocol):
    """Where an answer is written (`chat.ws.session.outbox.Outbox`)."""

    async def send(self, data: bytes) -> None: ...


async def send_answer(
    outbox: AnswerOutbox, texts: Sequence[str], charge: Callable[[int], None]
) -> None:
    """Write `texts`, an answer's frames, in order, one WebSocket frame each, written
    together up to `ANSWER_WRITE_BYTES` (ten frames of history in one write instead of
    ten: a tenth of the system calls, and of the outbox's turns, for the commonest
    answer). `charge` is told the size of each piece before it is written (the
    connection's history budget). Cancelled (the client has gone, or the server shuts
    down), the pieces charged stay charged, written or not: nobody is left to spend the
    budget, and a piece is either queued whole or not at all (`Outbox.send`)."""
    chunk: list[bytes] = []
    size = 0
    for text in texts:
        frame = text_frame(text)
        if chunk and size + len(frame) > ANSWER_WRITE_BYTES:
            charge(size)
            await outbox.send(b"".join(chunk))
            chunk, size = [], 0
        chunk.append(frame)
        size += len(frame)
    if chunk:
        charge(size)
        await outbox.send(b"".join(chunk))


class RequestOrder:
    """One client's launched requests, its pipelined writes, and the work bound to it."""

    __slots__ = ("_gone", "_last", "_places", "_scopes", "_writes")

    def __init__(self, *, client_gone: bool = False) -> None:
        self._gone = client_gone
        # Each made when first needed: most clients only write, or only read.
        self._places: trio.Semaphore | None = None
        self._last: trio.Event | None = None  # the last launched request's "done"
        self._writes: list[PendingMessage] | None = None  # maybe not committed yet
        self._scopes: list[trio.CancelScope] | None = None  # bound to the client

    # --- answers in order ---

    async def turn(self) -> None:
        """Wait until every request launched so far has sent its frames."""
        if self._last is not None:
            await self._last.wait()  # a checkpoint even if it is set

    async def launch(
        self,
        start_soon: Callable[..., object],
        answer: Callable[[], Awaitable[Sequence[str]]],
        deliver: Callable[[Sequence[str]], Awaitable[None]],
    ) -> None:
        """Run `answer` as a task started by `start_soon` (in the session's nursery) and
        `deliver` the frames it returns (in order, one WebSocket frame each), once every
        request launched before it has delivered its own. Returns as soon as the task is
        started; waits only while `MAX_REQUESTS` are running. The task first waits for
        the writes tracked before it."""
        if self._places is None:
            self._places = trio.Semaphore(MAX_REQUESTS)
        await self._places.acquire()
        # In this order, with no await between: the request order is the caller's.
        previous, self._last = self._last, trio.Event()
        earlier_writes = list(self._writes or ())
        start_soon(self._run, answer, deliver, earlier_writes, previous, self._last)

    async def _run(
        self,
        answer: Callable[[], Awaitable[Sequence[str]]],
        deliver: Callable[[Sequence[str]], Awaitable[None]],
        earlier_writes: list[PendingMessage],
        previous: trio.Event | None,
        done: trio.Event,
    ) -> None:
        assert self._places is not None
        try:
            with self.bound_to_client():
                for pending in earlier_writes:
                    await pending.done.wait()
                frames = await answer()  # concurrently with the requests before this one
                if previous is not None:
                    await previous.wait()  # their frames first, all of them
                await deliver(frames)
        finally:
            # Set however it ended (answered, cancelled, failed): the next may answer.
            done.set()
            self._places.release()

    def quiet(self) -> bool:
        """Whether nothing launched is still to answer and every write tracked is settled:
        an answer ready now may then be sent at once, in order, by the handler itself."""
        if self._last is not None and not self._last.is_set():
            return False
        return all(pending.done.is_set() for pending in self._writes or ())

    # --- read your writes ---

    def track_write(self, pending: PendingMessage) -> None:
        """Remember a pipelined write, so that a later read can wait for it."""
        self._writes = [w for w in self._writes or () if not w.done.is_set()]
        self._writes.append(pending)

    async def writes_settled(self) -> None:
        """Wait until every write tracked so far is committed (or failed)."""
        for pending in self._writes or ():
            await pending.done.wait()
        self._writes = None

    # --- work bound to the client ---

    @contextmanager
    def bound_to_client(self) -> Iterator[trio.CancelScope]:
        """A cancel scope that `client_gone` cancels (already cancelled after it).

        Work that only produces an answer for this client (a history query) runs inside
        one: there is no point finishing it for nobody. Writes (posting a message) do
        not: what the client sent before it left is still stored.
        """
        scope = trio.CancelScope()
        if self._gone:
            scope.cancel()
        if self._scopes is None:
            self._scopes = []
        self._scopes.append(scope)
        try:
            with scope:
                yield scope
        finally:
            self._scopes.remove(scope)

    def client_gone(self) -> None:
        """The client disconnected: cancel the work bound to it, now and from now on."""
        self._gone = True
        for scope in self._scopes or ():
            scope.cancel()
