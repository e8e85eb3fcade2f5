"""Routing each frame of a connection to the protocol dialect it belongs to.

Several dialects share one connection, told apart by the shape of each frame:

- the text frame ``ping`` is answered ``pong`` on every path (spec 003), within the
  connection's allowance of pings (`chat.ws.session.frame_limits`);
- a JSON object with ``"from"``, ``"to"`` or ``"content"`` is a direct message (spec 003);
- on ``/``, a JSON object with ``"method"`` is a support frame;
- anything else goes to the path's *default* dialect: TokenTalker on ``/``, the room
  protocol on ``/ws``, the support protocol on ``/v1/ws``. The default dialect also
  answers frames that are not JSON at all, in its own error shape, so a client always
  gets errors in the shape it speaks.

Each dialect is an adapter over `chat.app.service.ChatService`; none of them knows the others.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

from chat.core import untrusted_json
from chat.core.errors import InvalidInput, RateLimited
from chat.ws.session.client_session import ClientSession


class Dialect(Protocol):
    #: An example frame, quoted in errors about frames that are not JSON.
    example: str

    def listen(self) -> None:
        """Subscribe to what this dialect delivers from the connection's first moment
        (direct messages, TokenTalker's lobby), without waiting; nothing for a dialect
        that subscribes on request. Called once, on every dialect, before the server
        answers the client (`chat.ws.opening`): what is offered meanwhile is kept, and
        sent once the connection is open."""

    async def start(self) -> None:
        """Called once, once the connection is open, before its first frame (the support
        protocol greets a client that gave its token at the handshake)."""

    async def handle(self, frame: Any) -> None:
        """One decoded JSON frame (any JSON value). Domain errors become error frames."""

    async def reject(self, problem: str) -> None:
        """Send an error frame in this dialect's shape."""

    def error_frame(self, problem: str) -> str | None:
        """An error frame in this dialect's shape, or None if it has none for a problem
        that closes the connection."""

    def refusal_frame(self, error: RateLimited) -> str:
        """The error frame refusing a frame outside the dialect (a ping) over a limit."""


#: Decides from a decoded JSON object whether a dialect owns the frame.
Matcher = Callable[[dict[str, Any]], bool]


class Dispatcher:
    """The frame handler of one connection: decodes each frame once and routes it."""

    __slots__ = ("_by_shape", "_default", "_session")  # one per connection: slots keep it small

    def __init__(
        self,
        session: ClientSession,
        default: Dialect,
        by_shape: Sequence[tuple[Matcher, Dialect]] = (),
    ) -> None:
        self._session = session
        self._default = default
        self._by_shape = tuple(by_shape)  # a tuple is as is: no copy kept per connection

    def listen(self) -> None:
        """Every dialect subscribes (`Dialect.listen`), before the server answers the
        client (`chat.ws.opening`), with no await: nothing published after it is missed."""
        self._default.listen()
        for _matches, dialect in self._by_shape:
            dialect.listen()

    async def start(self) -> None:
        await self._default.start()
        for _matches, dialect in self._by_shape:
            await dialect.start()

    def error_frame(self, problem: str) -> str | None:
        """In the path's default dialect, as for frames that are not JSON."""
        return self._default.error_frame(problem)

    def refusal_frame(self, error: RateLimited) -> str:
        """In the path's default dialect, as for frames that are not JSON."""
        return self._default.refusal_frame(error)

    async def handle(self, message: str | bytes) -> None:
        session = self._session
        if message == "ping":
            try:
                session.limit(session.limits.pings)
            except RateLimited as error:
                await session.send(self._default.refusal_frame(error))
                await session.after_refusal(error)
                return
            await session.send("pong")
            return
        if isinstance(message, bytes):
            await self._default.reject("binary frames are not supported; send JSON text frames")
            await session.after_invalid()
            return
        try:
            frame = untrusted_json.parse(message, "frame")
        except InvalidInput as error:
            await self._default.reject(f"{error}; send {self._default.example}")
            await session.after_invalid()
            return
        if isinstance(frame, dict):
            for matches, dialect in self._by_shape:
                if matches(frame):
                    await dialect.handle(frame)
                    return
        await self._default.handle(frame)


#: One encoder for every frame: `json.dumps` with these options builds a new one per call
#: (a third of the cost of a small frame), and an encoder holds only its options.
