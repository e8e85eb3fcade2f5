"""The TokenTalker dialect (specs 000 and 002) on path "/".

Clients send JSON text frames ``{"name": ..., "message": ...}`` (spec 002 says
``"username"`` instead of ``"name"``; both work, and a client gets frames back with the key
it last used). The message text is a command or a chat message:

- ``auth <token>``: become the token's user. Answered with a system frame.
- ``history N``: the N (1-100) latest lobby messages, one frame each, oldest first.
  Limited per connection, in requests and in bytes sent (`chat.ws.session.frame_limits`), as
  ``auth`` is in requests.
- anything else: stored in the lobby, then sent to every *other* connected client.

The first word decides, case-insensitively, so ``auth ...`` and ``history ...`` frames are
never stored or forwarded, even when malformed. Server frames have the same shape, with
``"name": "server"`` and ``"system": true``; errors also carry ``"error"``. See
docs/PROTOCOL.md for every frame.
"""

from __future__ import annotations

from typing import Any

from chat.app.messages.broadcaster import Event, Subscription, room_topic
from chat.app.service import MAX_HISTORY, ChatService
from chat.core import validation
from chat.core.errors import ChatError, InvalidInput, NotAuthenticated, RateLimited
from chat.core.frames import dumps
from chat.core.names import SYSTEM_NAME
from chat.core.outgoing import OutgoingMessage
from chat.core.records import Message
from chat.ws.session.client_session import ClientSession

NOT_AUTHORIZED = 'not authorized: send "auth <token>" first'


#: The frames of recent messages, by (name key, id), each with the message it was made
#: of: a `history` answer and a live delivery of the same message encode it once (history
#: 10 encoded ten frames a request). An entry serves only that very message object (an
#: edit or a reaction makes a new one); the oldest entries go past `MAX_FRAMES`.
_frames: dict[tuple[str, int], tuple[Message, str]] = {}
MAX_FRAMES = 4096


def _chat_frame(name_key: str, message: Message) -> str:
    key = (name_key, message.id)
    known = _frames.get(key)
    if known is not None and known[0] is message:
        return known[1]
    frame = dumps(
        {
            name_key: message.sender_name,
            "message": message.body,
            "id": message.id,
            "ts": message.ts_ms,
        }
    )
    if known is None and len(_frames) >= MAX_FRAMES:
        del _frames[next(iter(_frames))]  # the oldest (dicts keep insertion order)
    _frames[key] = (message, frame)
    return frame


# One encoder per variant, module-level, so the broadcaster encodes each event once per
# variant no matter how many clients receive it.
# TokenTalker has no frame for a change to a message: None (its `history` shows them).
def encode_with_name(event: Event) -> str | None:
    return _chat_frame("name", event.item) if isinstance(event.item, Message) else None


def encode_with_username(event: Event) -> str | None:
    return _chat_frame("username", event.item) if isinstance(event.item, Message) else None


_ENCODERS = {"name": encode_with_name, "username": encode_with_username}


class TokenTalker:
    """One client's TokenTalker conversation."""

    __slots__ = (
        "_lobby",
        "_name_key",
        "_service",
        "_session",
    )  # one per connection: slots keep it small

    example = '{"name": ..., "message": ...}'

    def __init__(self, session: ClientSession, service: ChatService) -> None:
        self._session = session
        self._service = service
        self._name_key = "name"
        self._lobby: Subscription | None = None

    def listen(self) -> None:
        # Every client hears the lobby, authorized or not (spec 002).
        self._lobby = self._session.subscribe(
            room_topic(self._service.lobby_id), _ENCODERS[self._name_key]
        )

    async def start(self) -> None:
        pass  # subscribed in `listen`: nothing to wait for

    async def handle(self, frame: Any) -> None:
        try:
            await self._handle(frame)
        except ChatError as error:
            await self.reject(str(error))
            await self._session.after_refusal(error)

    async def reject(self, problem: str) -> None:
        await self._session.send(self.error_frame(problem))

    async def _handle(self, frame: Any) -> None:
        text = self._message_text(frame)
        # Split on any whitespace: "auth\t<token>" is a command too, and must never be
        # mistaken for a chat message (it would broadcast the token).
        words = text.split(None, 1)
        command = words[0].lower() if words else ""
        argument = words[1].strip() if len(words) > 1 else ""
        limits = self._session.limits
        if command == "auth":
            self._session.limit(limits.authentications)
            await self._auth(argument)
        elif command == "history":
            self._session.limit(limits.history_requests)
            await self._history(argument)
        else:
            await self._post(text)

    def _message_text(self, frame: Any) -> str:
        """The message text of a valid frame; remembers which name key the client uses."""
        if not isinstance(frame, dict):
            raise InvalidInput(f"frame must be a JSON object: {self.example}")
        key = "username" if "username" in frame and "name" not in frame else "name"
        validation.require_str(frame, key)
        self._use_name_key(key)
        return validation.require_str(frame, "message")

    def _use_name_key(self, key: str) -> None:
        if key != self._name_key:
            self._name_key = key
            if self._lobby is not None:
                self._lobby.encode = _ENCODERS[key]

    def _system_frame(self, text: str) -> dict[str, Any]:
        return {self._name_key: SYSTEM_NAME, "message": text, "system": True}

    def error_frame(self, problem: str) -> str:
        return dumps({**self._system_frame(f"error: {problem}"), "error": problem})

    def refusal_frame(self, error: RateLimited) -> str:
        return self.error_frame(str(error))

    async def _auth(self, token: str) -> None:
        if not token:
            raise InvalidInput("auth needs a token: auth <token>")
        identity = await self._service.identify(token)
        self._session.set_identity(identity)
        await self._session.send(dumps(self._system_frame(f"authorized as {identity.name}")))

    async def _history(self, argument: str) -> None:
        if self._session.identity is None:
            raise NotAuthenticated(NOT_AUTHORIZED)
        usage = f"history needs a number from 1 to {MAX_HISTORY}: history 10"
        try:
            count = validation.decimal(argument, "history size", highest=MAX_HISTORY)
        except InvalidInput:
            raise InvalidInput(usage) from None
        if count < 1:
            raise InvalidInput(usage)
        self._session.check_history()  # the answer is charged to the same budget
        name_key = self._name_key  # the frames are in the dialect the request was made in

        def frames(messages: list[Message]) -> list[str]:
            return [_chat_frame(name_key, message) for message in messages]

        def from_memory() -> list[str] | None:
            messages = self._service.history_now(self._service.lobby_id, count)
            return None if messages is None else frames(messages)

        async def answer() -> list[str]:
            try:
                return frames(await self._service.history(self._service.lobby_id, count))
            except ChatError as error:
                return [self.error_frame(str(error))]

        # Memory's answer, when nothing before it is still to answer, goes at once. A
        # query runs as a task of its own, in the session's nursery: the client's next
        # frames are handled while it runs; its frames still come back in request order.
        if not await self._session.answer_now(from_memory):
            await self._session.launch_request(answer)

    async def _post(self, text: str) -> None:
        identity = self._session.identity
        if identity is None:
            raise NotAuthenticated(NOT_AUTHORIZED)
        # "To the others": the sender does not get its own message back, so there is no
        # answer to wait for: the next frame is handled while this one is committed.
        pending = await self._service.post_pipelined(
            identity,
            self._service.lobby,
            OutgoingMessage(text),
            skip=self._session.id,
            on_error=self._failed,
        )
        self._session.track_write(pending)

    def _failed(self, error: BaseException) -> None:
        """A pipelined message could not be stored: tell the client, as any error."""
        problem = str(error) if isinstance(error, ChatError) else "internal error"
        self._session.send_nowait(self.error_frame(problem))
