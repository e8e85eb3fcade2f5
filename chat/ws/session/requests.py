"""A WebSocket session's requests: answers of history, in order, and read-your-writes.

The part of `chat.ws.session.client_session.ClientSession` that dialects call to answer a request
from the database (``history N``, a resume, a support thread) and to pipeline writes:
`chat.ws.session.request_order.RequestOrder` runs the requests as tasks of the session, keeps
their answers in request order and makes a read wait for the writes before it; this
part makes that order on first use (most connections never ask) and writes the answers,
charged to the connection's history budget (`chat.ws.session.limits`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractContextManager
from typing import Protocol

import trio

from chat.app.messages.pending import PendingMessage
from chat.core.frames import text_frame
from chat.ws.session.outbox import Outbox
from chat.ws.session.request_order import RequestOrder

#: A request's answer (frames of history) is written in pieces of at most this many
#: bytes: few writes for a page, and still the outbox's back-pressure for a long one.
ANSWER_WRITE_BYTES = 64 * 1024


class _Session(Protocol):
    """What `SessionRequests` reads and calls of the session it is part of."""

    peer_gone: bool
    _requests: RequestOrder | None
    _nursery: trio.Nursery | None
    _outbox: Outbox | None

    def _open_outbox(self) -> Outbox: ...

    def _spend_history(self, data: bytes) -> bytes: ...

    def _start_soon(self, async_fn: Callable[..., Awaitable[object]], *args: object) -> None: ...

    def _request_order(self) -> RequestOrder: ...

    async def _deliver_history(self, texts: Sequence[str]) -> None: ...


class SessionRequests:
    """Answering a connection's requests (a part of `ClientSession`, which holds the
    state in its slots: `_requests`)."""

    __slots__ = ()

    # The session's slot this part writes (declared here for the type checker).
    _requests: RequestOrder | None

    async def send_history(self: _Session, text: str) -> None:
        """`send` for a frame of history (a resumed message), charged to this connection's
        history budget (`check_history` refuses the next request once it is spent)."""
        if self._requests is not None:
            await self._requests.turn()
        await self._deliver_history((text,))

    async def _deliver_history(self: _Session, texts: Sequence[str]) -> None:
        """Frames of history (a request's own answer, or `send_history`'s one), in order,
        charged to the history budget without waiting for the requests: one WebSocket
        frame each, written together up to `ANSWER_WRITE_BYTES` (ten frames of history
        in one write instead of ten: a tenth of the system calls, and of the outbox's
        turns, for the commonest answer)."""
        outbox = self._outbox or self._open_outbox()
        chunk: list[bytes] = []
        size = 0
        for text in texts:
            frame = text_frame(text)
            if chunk and size + len(frame) > ANSWER_WRITE_BYTES:
                await outbox.send(self._spend_history(b"".join(chunk)))
                chunk, size = [], 0
            chunk.append(frame)
            size += len(frame)
        if chunk:
            await outbox.send(self._spend_history(b"".join(chunk)))

    def _request_order(self: _Session) -> RequestOrder:
        if self._requests is None:
            self._requests = RequestOrder(client_gone=self.peer_gone)
        return self._requests

    async def launch_request(
        self: _Session, answer: Callable[[], Awaitable[Sequence[str]]]
    ) -> None:
        """Run `answer` (a database query turned into frames) as a task of this session's
        nursery, and send the frames it returns, one each, once every request launched
        before it has sent its own (`chat.ws.session.request_order`). Returns as soon as the task
        is started, so the client's next frame is handled while the query runs; waits only
        while `MAX_REQUESTS` are running. The task waits for the writes the client
        pipelined before it (the answer includes what it just sent), and is cancelled if
        the client disconnects. Requests read history (``history N``, a support thread):
        the frames are charged to the connection's history budget (`check_history`)."""
        if self._nursery is None:
            return  # the session is over: nobody to answer
        # The request's task is the session's (its nursery, open: the handler that calls
        # this runs in it): a disconnect or a shutdown cancels it with the other tasks.
        await self._request_order().launch(self._start_soon, answer, self._deliver_history)

    async def answer_now(self: _Session, answer: Callable[[], Sequence[str] | None]) -> bool:
        """Send the frames `answer` returns at once, if nothing launched before is still
        to answer and every write this client pipelined is settled (so that the answer
        is in order and reads its writes); False, sending nothing, if it is not so or
        `answer` returns None (not ready without waiting: `launch_request` then). For an
        answer from memory: no query to run, so no task of its own (a request's task
        was a quarter of ``history 10``'s latency from memory)."""
        if self._requests is not None and not self._requests.quiet():
            return False
        frames = answer()
        if frames is None:
            return False
        await self._deliver_history(frames)
        return True

    def track_write(self: _Session, pending: PendingMessage) -> None:
        """Remember a pipelined write, so that a later read can wait for it."""
        self._request_order().track_write(pending)

    async def writes_settled(self: _Session) -> None:
        """Wait until every write this client pipelined is committed (or failed): a read
        that follows a write sees it."""
        if self._requests is not None:
            await self._requests.writes_settled()

    def bound_to_client(self: _Session) -> AbstractContextManager[trio.CancelScope]:
        """A cancel scope the receive loop cancels when the client disconnects.

        Work that only produces an answer for this client (a history query) runs inside
        one: there is no point finishing it for nobody. Writes (posting a message) do not:
        what the client sent before it left is still stored.
        """
        return self._request_order().bound_to_client()
