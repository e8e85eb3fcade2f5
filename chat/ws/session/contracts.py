"""What a WebSocket session needs of the objects around it (`chat.ws.session.client_session`).

Three small interfaces, each kept by something else: the connection the session reads
and writes (trio-websocket's, adapted by `chat.ws.transport`), the dialect that says
what its frames mean (`chat.ws.dispatch`), and the registries that keep track of open
sessions (`chat.app.accounts.revocations`, `chat.app.presence.tracker`,
`chat.app.people.user_notices`). Nothing here knows the session's own class: a registry
is generic in what it files, so this module sits below the session's.
"""

from __future__ import annotations

from typing import Protocol, TypeVar

from chat.core.errors import RateLimited
from chat.core.records import Identity
from chat.ws.session.busy import Receiver
from chat.ws.session.outbox import Connection

#: What a registry files: `chat.ws.session.client_session.ClientSession`, as each
#: registry sees it (a protocol of its own, narrower).
_Filed = TypeVar("_Filed", contravariant=True)


class Registry(Protocol[_Filed]):
    """Keeps track of open sessions (`chat.app.accounts.revocations`, `chat.app.presence.tracker`,
    `chat.app.people.user_notices`):
    told when one starts (`file`), becomes someone else (`refile`) and ends (`unfile`).
    All three are synchronous, so a cancellation can never leave a session half-filed.
    Registries are shared, not per session: an idle connection pays one attribute."""

    def file(self, session: _Filed) -> None: ...

    def refile(self, session: _Filed, before: Identity | None) -> None: ...

    def unfile(self, session: _Filed) -> None: ...


class SessionConnection(Connection, Receiver, Protocol):
    """The WebSocket connection a session reads (trio-websocket's, `chat.ws.transport`):
    busy, as the receive loop reads it (`Receiver`); idle, in the session's own frame."""

    def message_nowait(self) -> str | bytes | None:
        """`next_message` if it needs no read, else `trio.WouldBlock`."""

    async def read(self) -> None:
        """Read what the client sent next (one round of the reader)."""


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
