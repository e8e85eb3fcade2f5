"""What a WebSocket session needs of the objects around it (`chat.ws.session.client_session`).

Three small interfaces, each kept by something else: the connection the session reads
and writes (trio-websocket's, adapted by `chat.ws.transport`), the dialect that says
what its frames mean (`chat.ws.dispatch`), and the registries that keep track of open
sessions (`chat.app.accounts.revocations`, `chat.app.presence.tracker`,
`chat.app.people.user_notices`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from chat.core.errors import RateLimited
from chat.core.records import Identity
from chat.ws.session.outbox import Connection

if TYPE_CHECKING:
    from chat.ws.session.client_session import ClientSession


class Registry(Protocol):
    """Keeps track of open sessions (`chat.app.accounts.revocations`, `chat.app.presence.tracker`,
    `chat.app.people.user_notices`):
    told when one starts (`file`), becomes someone else (`refile`) and ends (`unfile`).
    All three are synchronous, so a cancellation can never leave a session half-filed.
    Registries are shared, not per session: an idle connection pays one attribute."""

    def file(self, session: ClientSession) -> None: ...

    def refile(self, session: ClientSession, before: Identity | None) -> None: ...

    def unfile(self, session: ClientSession) -> None: ...


class SessionConnection(Connection, Protocol):
    """The WebSocket connection a session reads (trio-websocket's, `chat.ws.transport`)."""

    async def next_message(self) -> str | bytes | None:
        """The client's next message, or None once `wake` was called."""

    def message_nowait(self) -> str | bytes | None:
        """`next_message` if it needs no read, else `trio.WouldBlock`."""

    async def read(self) -> None:
        """Read what the client sent next (one round of the reader)."""

    @property
    def wakeable(self) -> bool:
        """Whether `wake` ends a wait in `next_message` at once."""

    def wake(self) -> None: ...


class FrameHandler(Protocol):
    """What the frames on one connection mean (see `chat.ws.dispatch`)."""

    async def start(self) -> None:
        """Called by the handler task before the first frame (subscribe, greet, ...)."""

    async def handle(self, message: str | bytes) -> None:
        """Handle one frame from the client. Domain errors become error frames here."""

    def error_frame(self, problem: str) -> str | None:
        """An error frame saying `problem` in the client's dialect, or None if the dialect
        closes without one (sent before a close from outside, `close_nowait`)."""

    def refusal_frame(self, error: RateLimited) -> str:
        """The error frame in the client's dialect for a WebSocket ping over its limit."""
