"""Direct messages between users (spec 003), on every WebSocket path.

A client sends ``{"from": <its user id>, "to": <user id>, "content": "..."}``. The message
is stored in the pair's direct room, then delivered to every connection of both users
as ``{"from", "to", "content", "id", "ts"}``: the recipient gets it on each device, and
the sender's connections get it too, which is how the sender learns its id. A recipient
who is offline finds it later in the history (``GET /dm/{UID}`` names the room,
``GET /messages/{roomID}`` pages it). Errors are ``{"error": "..."}``.

``"client_msg_id"`` (1-64 characters, the sender's own id for the message) makes sending
idempotent: a resend with the same id stores nothing new, and only the connection that
resent gets the original's frame (with its original ``id``) back.
"""

from __future__ import annotations

from typing import Any

from chat.app.messages.broadcaster import Event, Subscription, user_topic
from chat.app.service import ChatService
from chat.core import shapes, validation
from chat.core.errors import ChatError, Forbidden, InvalidInput, NotAuthenticated, RateLimited
from chat.core.frames import dumps
from chat.core.outgoing import OutgoingMessage
from chat.core.records import Identity, Message
from chat.ws.session.client_session import ClientSession


def is_direct_frame(frame: dict[str, Any]) -> bool:
    return "to" in frame or "from" in frame or "content" in frame


def encode_direct(event: Event) -> str | None:
    """Spec 003's frame for a direct message; it has none for a change to one."""
    if not isinstance(event.item, Message):
        return None
    return dumps(shapes.direct_message(event.item, event.room))


class DirectMessages:
    example = '{"from": <your user id>, "to": <user id>, "content": "..."}'
    # One per connection: slots keep each small.
    __slots__ = ("_inbox", "_service", "_session")

    def __init__(self, session: ClientSession, service: ChatService) -> None:
        self._session = session
        self._service = service
        self._inbox: Subscription | None = None

    def listen(self) -> None:
        # Deliveries follow the identity: subscribe now if the handshake carried a token,
        # and again whenever the client authenticates (as someone else, perhaps).
        self._session.on_identity(self._follow)
        if self._session.identity is not None:
            self._follow(self._session.identity)

    async def start(self) -> None:
        pass  # subscribed in `listen`: nothing to wait for

    def _follow(self, identity: Identity) -> None:
        if self._inbox is not None:
            self._session.unsubscribe(self._inbox)
        self._inbox = self._session.subscribe(user_topic(identity.user_id), encode_direct)

    async def handle(self, frame: Any) -> None:
        try:
            await self._send(frame)
        except ChatError as error:
            client_msg_id = validation.echoed_client_msg_id(frame, "client_msg_id")
            await self._session.send(self.error_frame(str(error), client_msg_id))
            await self._session.after_refusal(error)

    async def reject(self, problem: str) -> None:
        await self._session.send(self.error_frame(problem))

    def error_frame(self, problem: str, client_msg_id: str | None = None) -> str:
        """An error frame; one answering a message that carried a client_msg_id repeats it."""
        if client_msg_id is None:
            return dumps({"error": problem})
        return dumps({"error": problem, "client_msg_id": client_msg_id})

    def refusal_frame(self, error: RateLimited) -> str:
        return self.error_frame(str(error))

    async def _send(self, frame: dict[str, Any]) -> None:
        identity = self._session.identity
        if identity is None:
            raise NotAuthenticated(
                'not authenticated: connect with ?token=<token>, or send "auth <token>" first'
            )
        sender = validation.require_id(frame, "from")
        recipient = validation.require_id(frame, "to")
        content = validation.require_str(frame, "content")
        if sender != identity.user_id:
            raise Forbidden(f'"from" must be your own user id ({identity.user_id})')
        if not content.strip():
            raise InvalidInput("content must not be empty")
        client_msg_id = validation.client_msg_id(frame, "client_msg_id")
        posted = await self._service.send_direct(
            identity, recipient, OutgoingMessage(content, client_msg_id)
        )
        if posted.resent:
            await self._session.send(dumps(shapes.direct_message(posted.message, posted.room)))
