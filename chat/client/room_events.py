"""`RoomEvents`: a room's events as an async iterator that survives dropped connections.

It holds one WebSocket on the room protocol (``/ws``), entered in the room. When the
connection drops (the network, a server restart: close codes 1001 and 1012, a slow
consumer's 1008) it connects again, with exponential backoff and jitter
(`chat.client.backoff`; at once, give or take half a second, after 1012, which the
server sends when it restarts on purpose), and enters the room with ``SinceID``, the
position of the last event it yielded: the server sends everything after it, then the
live frames, so nothing is lost. Events at or below that position (a frame that came
both before the drop and in the resume) are dropped, so nothing comes twice, and the
events come in the room's order.

One gap is the server's: a resume leaves out thread replies that were not also sent to
the room (they are not on its timeline), though the ``thread`` summary changes of their
threads come. A client that follows threads reads them again after a reconnection
(`ChatClient.thread_history`); ``reconnections`` counts them.

A stream started without ``since_id`` starts at the room's present: it enters with a
page of one message, the newest, whose id becomes its position. (``entered`` does not
say the stream's position itself, so a change made between that message and the entry,
an edit of an older message say, would be yielded if the first connection dropped
before any event came: late, never twice.)

Resource handling: the stream owns its WebSocket and closes it when its ``async with``
block ends. It starts no task: everything happens inside ``__anext__``, so cancelling
the task that iterates cancels it. A receive cancelled half-way loses nothing (the
WebSocket keeps what it read); a connection cancelled while it was being opened or
entered is closed, and the next ``__anext__`` starts again from the position.

Error handling: credentials the server refuses (401, with no password to log in again)
end the stream with `AuthenticationFailed`; a room it may not enter with `RoomRefused`;
a frame past ``settings.max_frame_bytes`` with `FrameTooLarge` (the resume would bring
it again);
``settings.max_reconnect_attempts`` failures in a row (if set) with the last error.
Being removed from the room yields the ``removed`` event and then ends the stream.
"""

from __future__ import annotations

import json
import random
from collections import deque
from types import TracebackType
from typing import Any, Protocol

import anyio

from chat.client.backoff import Backoff
from chat.client.errors import (
    AuthenticationFailed,
    ChatClientError,
    ConnectionLost,
    HandshakeRefused,
    RoomRefused,
    ServerRefused,
    ServerUnreachable,
)
from chat.client.events import Event, OtherEvent, Truncated, event_from_frame
from chat.client.settings import ClientSettings
from chat.client.websocket import WebSocket, connect_websocket

#: Close code of a server restarting on purpose: connect again at once (PROTOCOL.md).
SERVICE_RESTART = 1012
#: The spread of "at once" after a 1012, so that a crowd does not arrive together.
RESTART_JITTER = (0.1, 0.6)
#: Errors answering ``enter`` that pass: rate limits, a database away for a moment.
_PASSING_ERRORS = ("too many", "too much", "database unavailable")


class EventSource(Protocol):
    """What a stream needs of its client (`chat.client.client.ChatClient`)."""

    settings: ClientSettings

    @property
    def websocket_url(self) -> str: ...

    @property
    def token(self) -> str: ...

    def websocket_headers(self) -> list[tuple[str, str]]: ...

    async def log_in_again(self, refused_token: str) -> bool: ...


class _TryLater(Exception):
    """An ``enter`` refused for now (a rate limit): try again after a backoff."""


class _SinceIDUnknown(Exception):
    """The server knows no message at the stream's position any more."""


class RoomEvents:
    """The events of one room, in order, each once, across reconnections. Use it as
    ``async with chat.events(room_id) as events: async for event in events: ...``;
    entering the block connects and enters the room, so every event after that is
    yielded. ``position`` is the position of the last event yielded: keep it to
    resume later with ``chat.events(room_id, since_id=position)``."""

    def __init__(
        self,
        source: EventSource,
        room_id: int,
        *,
        since_id: int | None = None,
        presence: bool = False,
    ) -> None:
        self._source = source
        self.room_id = room_id
        self.position = since_id
        self._presence = presence
        settings = source.settings
        self._settings = settings
        self._backoff = Backoff(settings.reconnect_initial, settings.reconnect_cap)
        self._websocket: WebSocket | None = None
        self._delay = 0.0  # before the next connection
        self._failures = 0
        # Events read while entering (notices about the user, a `truncated` of our own):
        # yielded before anything read later.
        self._pending: deque[Event] = deque()
        self._finished = False
        #: How many times the connection was lost and opened again.
        self.reconnections = 0

    async def __aenter__(self) -> RoomEvents:
        await self._connect()
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        self._finished = True
        websocket, self._websocket = self._websocket, None
        if websocket is not None:
            await websocket.aclose()

    def __aiter__(self) -> RoomEvents:
        return self

    async def __anext__(self) -> Event:
        # Each turn reads one frame, or connects; it ends by cancellation, the stream's
        # end, or an error that retrying cannot help.
        while True:
            if self._pending:
                return self._pending.popleft()
            if self._finished:
                raise StopAsyncIteration
            if self._websocket is None:
                await self._connect()
                continue
            try:
                frame = await self._receive(self._websocket)
            except ConnectionLost as lost:
                await self._lost(lost)
                continue
            # Something arrived: the connection works, and the next drop backs off from
            # the start (reset here rather than on connecting, so that a server that
            # lets the stream in and drops it at once is still backed off from).
            self._backoff.reset()
            if frame is None:
                continue
            event = self._accept(frame)
            if event is not None:
                return event

    # --- reading ---

    async def _receive(self, websocket: WebSocket) -> dict[str, Any] | None:
        """The next frame as JSON (None for one that is not a JSON object). After
        ``keepalive_interval`` quiet seconds, a ping; nothing within
        ``keepalive_timeout`` more counts as a lost connection."""
        with anyio.move_on_after(self._settings.keepalive_interval):
            return _json_object(await websocket.receive_text())
        await websocket.ping()
        with anyio.move_on_after(self._settings.keepalive_timeout):
            return _json_object(await websocket.receive_text())
        raise ConnectionLost(1006, "the server did not answer a ping")

    def _accept(self, frame: dict[str, Any]) -> Event | None:
        """The event of a frame, or None for one already yielded (at or below the
        position). Moves the position."""
        event = event_from_frame(frame)
        position = event.position
        if position is not None and getattr(event, "room_id", None) == self.room_id:
            if self.position is not None and position <= self.position:
                return None
            self.position = position
        removed = isinstance(event, OtherEvent) and event.type == "removed"
        if removed and getattr(event, "room_id", None) == self.room_id:
            self._finished = True  # out of the room: this is its last event
        return event

    async def _lost(self, lost: ConnectionLost) -> None:
        websocket, self._websocket = self._websocket, None
        if websocket is not None:
            await websocket.aclose()
        self.reconnections += 1
        if lost.code == SERVICE_RESTART:
            self._delay = random.uniform(*RESTART_JITTER)
        else:
            self._delay = self._backoff.next_delay()

    # --- connecting ---

    async def _connect(self) -> None:
        """Connect and enter the room, again and again with backoff until it works."""
        while self._websocket is None:
            if self._delay:
                await anyio.sleep(self._delay)
            token = self._source.token
            try:
                self._websocket = await self._connect_once()
            except HandshakeRefused as refused:
                if refused.status == 401:
                    await self._log_in_again(token, refused)
                elif refused.status not in (408, 429) and refused.status < 500:
                    raise ServerRefused(refused.status, refused.error) from None
                self._failed(refused, refused.retry_after or 0.0)
            except _TryLater as later:
                self._failed(later)
            except _SinceIDUnknown:
                self._pending.append(Truncated(self.room_id, self.position or 0, None))
                self.position = None
                self._delay = 0.0
            except (ConnectionLost, ServerUnreachable, OSError, TimeoutError) as error:
                self._failed(error)
        self._failures = 0

    async def _log_in_again(self, token: str, refused: HandshakeRefused) -> None:
        """After a 401: log in again (with a password), or end the stream. A login that
        fails for now (the server away, busy or rate-limiting) is tried at the next
        attempt; one whose credentials are refused ends the stream."""
        try:
            if await self._source.log_in_again(token):
                return
        except ServerUnreachable:
            return
        except ServerRefused as failed:
            if failed.status not in (408, 429) and failed.status < 500:
                raise  # the credentials themselves (401), or a request the server refuses
            return
        raise AuthenticationFailed(401, refused.error) from None

    def _failed(self, error: Exception, at_least: float = 0.0) -> None:
        self._failures += 1
        limit = self._settings.max_reconnect_attempts
        if limit is not None and self._failures >= limit:
            raise ChatClientError(
                f"room {self.room_id}: gave up after {self._failures} attempts: {error}"
            ) from error
        self._delay = self._backoff.next_delay(at_least)

    async def _connect_once(self) -> WebSocket:
        """One connection, entered in the room (resuming after the position, if any)."""
        settings = self._settings
        with anyio.fail_after(settings.connect_timeout):
            websocket = await connect_websocket(
                self._source.websocket_url,
                headers=self._source.websocket_headers(),
                max_message_bytes=settings.max_frame_bytes,
            )
        try:
            enter: dict[str, Any] = {
                "Type": "enter",
                "RoomID": self.room_id,
                "Presence": self._presence,
            }
            if self.position is None:
                enter["Page"] = 1  # its newest message's id is where the stream starts
            else:
                enter["SinceID"] = self.position
            await websocket.send_json(enter)
            with anyio.fail_after(settings.connect_timeout):
                await self._until_entered(websocket)
        except BaseException:
            # Cancelled, timed out or refused while entering: the connection is of no
            # use half-entered; the next attempt starts again from the position.
            await websocket.aclose()
            raise
        return websocket

    async def _until_entered(self, websocket: WebSocket) -> None:
        """Read up to ``entered``; frames before it (notices about the user) are kept
        to be yielded first."""
        while True:
            frame = _json_object(await websocket.receive_text())
            if frame is None:
                continue
            kind = frame.get("Type")
            if kind == "entered" and frame.get("RoomID") == self.room_id:
                if self.position is None:
                    page = frame.get("Messages") or []
                    ids = [m.get("MessageID") for m in page if isinstance(m, dict)]
                    self.position = max((i for i in ids if isinstance(i, int)), default=0)
                return
            if kind == "error":
                error = str(frame.get("Error", ""))
                if error.startswith("SinceID") and "newer than the newest" in error:
                    raise _SinceIDUnknown(error)
                if error.startswith(_PASSING_ERRORS):
                    raise _TryLater(error)
                raise RoomRefused(self.room_id, error)
            self._pending.append(event_from_frame(frame))


def _json_object(text: str) -> dict[str, Any] | None:
    try:
        value = json.loads(text)
    except ValueError:
        return None  # "pong", or anything else that is not JSON
    return value if isinstance(value, dict) else None
