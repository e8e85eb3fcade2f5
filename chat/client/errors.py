"""The errors `chat.client` raises: one base class, `ChatClientError`, and a few kinds a
caller may act on differently (log in again, give up on a room, try later)."""

from __future__ import annotations


class ChatClientError(Exception):
    """Anything the chat client reports as failed."""


class ServerRefused(ChatClientError):
    """The server answered an HTTP request with an error: its status and the ``error``
    text of its JSON body (``{"error": "..."}``), and ``Retry-After`` when it sent one."""

    def __init__(self, status: int, error: str, *, retry_after: float | None = None) -> None:
        super().__init__(f"{status}: {error}")
        self.status = status
        self.error = error
        self.retry_after = retry_after


class ServerUnreachable(ChatClientError):
    """An HTTP request did not get an answer: the server could not be reached, or the
    connection broke or timed out on the way."""


class AuthenticationFailed(ServerRefused):
    """The credentials were refused (401): a wrong password, an expired, revoked or
    unknown token. Retrying with the same ones does not help."""


class RoomRefused(ChatClientError):
    """The server would not let the event stream into its room (not a member, no such
    room, removed from it): the stream ends with this error."""

    def __init__(self, room_id: int, error: str) -> None:
        super().__init__(f"room {room_id}: {error}")
        self.room_id = room_id
        self.error = error


class ConnectionLost(ChatClientError):
    """The WebSocket closed or broke. `code` is the close code (1006 when the
    connection ended without a close frame), `reason` its text. The event stream
    handles this itself, reconnecting; it reaches a caller only of `chat.client.websocket`."""

    def __init__(self, code: int, reason: str = "") -> None:
        super().__init__(
            f"WebSocket closed ({code}): {reason}" if reason else f"WebSocket closed ({code})"
        )
        self.code = code
        self.reason = reason


class FrameTooLarge(ChatClientError):
    """The server sent a WebSocket message larger than the client reads
    (``ClientSettings.max_frame_bytes``): the connection was closed (1009), and an event
    stream ends with this error rather than reading the same message again on every
    reconnection."""


class HandshakeRefused(ChatClientError):
    """The server answered the WebSocket upgrade with an HTTP error instead of 101."""

    def __init__(self, status: int, error: str, *, retry_after: float | None = None) -> None:
        super().__init__(f"WebSocket upgrade refused ({status}): {error}")
        self.status = status
        self.error = error
        self.retry_after = retry_after
