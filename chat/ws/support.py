"""The support-chat protocol of spec 001: users write to support, operators answer.

JSON-RPC-like frames ``{"method", "params", "id"}``, answered ``{"error", "result", "id"}``.
It is the default dialect on ``/v1/ws``; on ``/`` frames that carry ``"method"`` reach it
too. Methods:

- ``message.auth`` ``["<token>"]``: authenticate. A missing or invalid token closes the
  connection (1008, spec 1.1.1). Answered with the user's support thread (its latest 100
  messages, oldest first, or ``null`` when there is none, spec 1.2); an operator's answer
  also lists the threads waiting for an answer (``"conversations"``).
- ``message.send`` ``["text"]``: write to support. Answered with the stored message; every
  operator receives it, with the user's id.
- ``message.operatorSend`` ``[user_id, "text"]``: operators only. Answer a user's thread;
  every connection of that user receives it as ``{"error": null, "result": {"message":
  ...}, "id": <message id>}`` (spec 3.1). With ``["text"]`` alone (spec 001's own
  example), it answers the latest thread: the one holding the newest message that is
  either from its user or from this operator (code 1 if there is none).

Until the connection is authenticated, any frame but ``message.auth`` gets an error and
closes the connection (spec 1.1). ``message.auth`` is limited per connection, in
requests and in the bytes of the threads it answers with (`chat.ws.session.frame_limits`); past
a limit the answer is code 5. Error codes are listed in docs/PROTOCOL.md. When the
database is away, a request is answered code 4 (``Service unavailable.``) and the
connection stays open, authenticated or not: the client may try again.
"""

from __future__ import annotations

from typing import Any

from chat.app.messages.broadcaster import OPERATORS, Event, Subscription, support_topic
from chat.app.service import ChatService
from chat.core import shapes, validation
from chat.core.errors import (
    ChatError,
    Forbidden,
    InvalidInput,
    InvalidToken,
    NotFound,
    RateLimited,
    Unavailable,
)
from chat.core.frames import CLOSE_POLICY_VIOLATION, dumps
from chat.core.outgoing import OutgoingMessage
from chat.core.records import Identity, Message, Room
from chat.ws.session.client_session import ClientSession

INCORRECT_ARGUMENT = (1, "Incorrect argument.")
OPERATORS_ONLY = (2, "Operators only.")
AUTHENTICATION_REQUIRED = (3, "Authentication required.")
SERVICE_UNAVAILABLE = (4, "Service unavailable.")
TOO_MANY_REQUESTS = (5, "Too many requests.")
PARSE_ERROR = (-32700, "Parse error.")
INVALID_REQUEST = (-32600, "Invalid request.")
METHOD_NOT_FOUND = (-32601, "Method not found.")

RequestId = int | str | None


def is_rpc_frame(frame: dict[str, Any]) -> bool:
    return "method" in frame


def _answer(result: Any, request_id: RequestId) -> str:
    return dumps({"error": None, "result": result, "id": request_id})


def encode_for_user(event: Event) -> str | None:
    """Spec 3.1: a new message in the user's own thread; the id is the message's. Spec
    001 has no frame for a change to a message."""
    if not isinstance(event.item, Message):
        return None
    message = shapes.support_message(event.item, event.room)
    return _answer({"message": message}, event.item.id)


def encode_for_operators(event: Event) -> str | None:
    """The same, with the id of the user whose thread it is, so operators know whom to
    answer."""
    if not isinstance(event.item, Message):
        return None
    message = shapes.support_message(event.item, event.room)
    return _answer({"message": message, "user_id": event.room.creator_id}, event.item.id)


def _text_param(params: Any, index: int, length: int) -> str:
    """params[index] of a params list of exactly `length` items: a non-empty string."""
    if not isinstance(params, list) or len(params) != length:
        raise _RpcError(INCORRECT_ARGUMENT)
    text = params[index]
    if not isinstance(text, str) or not text.strip():
        raise _RpcError(INCORRECT_ARGUMENT)
    return text


class _RpcError(Exception):
    def __init__(self, error: tuple[int, str]) -> None:
        super().__init__(error[1])
        self.error = error


def _error_of(error: _RpcError | ChatError) -> tuple[int, str]:
    """The spec's error (code, message) for a refusal."""
    if isinstance(error, _RpcError):
        return error.error
    if isinstance(error, InvalidInput | NotFound):
        return INCORRECT_ARGUMENT
    if isinstance(error, Forbidden):
        return OPERATORS_ONLY
    if isinstance(error, Unavailable):
        return SERVICE_UNAVAILABLE
    if isinstance(error, RateLimited):
        return TOO_MANY_REQUESTS
    return INCORRECT_ARGUMENT  # any other refusal the core may give: the spec's one code


def _failure(request_id: RequestId, error: tuple[int, str]) -> str:
    code, message = error
    return dumps({"error": {"code": code, "message": message}, "result": None, "id": request_id})


class SupportRpc:
    example = '{"method": "message.auth", "params": ["<token>"], "id": 1}'
    # One per connection: slots keep each small.
    __slots__ = ("_greet", "_joined_as", "_service", "_session", "_subscriptions")

    def __init__(self, session: ClientSession, service: ChatService, *, greet: bool) -> None:
        self._session = session
        self._service = service
        # On /v1/ws a token given at the handshake counts as message.auth: the thread is
        # sent at once. Elsewhere the connection is not a support client until it says so.
        self._greet = greet
        self._subscriptions: list[Subscription] | tuple[()] = ()  # a list once joined
        self._joined_as: int | None = None

    def listen(self) -> None:
        # Subscribed with the welcome (`_join`), in the same step as reading the position
        # its thread is read up to: on /v1/ws this dialect starts first, without waiting
        # before it; elsewhere once the client says message.auth.
        pass

    async def start(self) -> None:
        identity = self._session.identity
        if self._greet and identity is not None:
            # If the thread cannot be read now (code 4), the client may ask again with
            # message.auth: the token was checked a moment ago.
            await self._welcome(identity, None)

    async def reject(self, problem: str) -> None:
        # Anything that is not JSON at all.
        await self._fail(None, PARSE_ERROR)

    def error_frame(self, problem: str) -> None:
        """None: like a bad token in message.auth (spec 1.1.1), a revoked one closes the
        connection with 1008 and says why in the close frame's reason only."""
        return None

    def refusal_frame(self, error: RateLimited) -> str:
        """Code 5, without an id: the refused frame (a ping) had none."""
        return _failure(None, _error_of(error))

    async def handle(self, frame: Any) -> None:
        request_id: RequestId = None
        try:
            if not isinstance(frame, dict) or not isinstance(frame.get("method"), str):
                raise _RpcError(INVALID_REQUEST)
            request_id = frame.get("id")
            if isinstance(request_id, bool) or not isinstance(request_id, int | str):
                request_id = None  # missing, null, or not an id: answer with "id": null
                raise _RpcError(INVALID_REQUEST)
            await self._call(frame["method"], frame.get("params"), request_id)
        except (_RpcError, ChatError) as error:
            await self._fail(request_id, _error_of(error))
            if isinstance(error, ChatError):
                await self._session.after_refusal(error)
            else:
                await self._session.after_invalid()

    async def _fail(self, request_id: RequestId, error: tuple[int, str]) -> None:
        await self._session.send(_failure(request_id, error))
        if self._session.identity is None and error != SERVICE_UNAVAILABLE:
            # Spec 1.1: nothing but message.auth before authentication. (A message.auth
            # that failed because the database is away was the right frame: it may be
            # sent again.)
            await self._session.close(
                CLOSE_POLICY_VIOLATION, 'authenticate first: {"method": "message.auth", ...}'
            )

    async def _call(self, method: str, params: Any, request_id: RequestId) -> None:
        if method == "message.auth":
            # Its answer is the thread: a history request, charged to the same budget.
            self._session.limit(self._session.limits.authentications)
            self._session.check_history()
            await self._auth(params, request_id)
            return
        identity = self._session.identity
        if identity is None:
            raise _RpcError(AUTHENTICATION_REQUIRED)
        self._join(identity)
        if method == "message.send":
            sent = OutgoingMessage(_text_param(params, 0, 1))
            room, message = await self._service.support.send(identity, sent, skip=self._session.id)
        elif method == "message.operatorSend":
            if not identity.is_admin:
                raise _RpcError(OPERATORS_ONLY)
            if isinstance(params, list) and len(params) == 1:
                sent = OutgoingMessage(_text_param(params, 0, 1))
                room, message = await self._service.support.reply_latest(
                    identity, sent, skip=self._session.id
                )
            else:
                sent = OutgoingMessage(_text_param(params, 1, 2))
                user_id = validation.json_id(params[0], "user_id")
                room, message = await self._service.support.reply(
                    identity, user_id, sent, skip=self._session.id
                )
        else:
            raise _RpcError(METHOD_NOT_FOUND)
        await self._reply_message(room, message, request_id)

    async def _reply_message(self, room: Room, message: Message, request_id: RequestId) -> None:
        result = {"message": shapes.support_message(message, room)}
        await self._session.send(_answer(result, request_id))

    async def _auth(self, params: Any, request_id: RequestId) -> None:
        token = params[0] if isinstance(params, list) and len(params) == 1 else None
        if not isinstance(token, str) or not token:
            await self._session.close(CLOSE_POLICY_VIOLATION, "missing token")
            return
        try:
            identity = await self._service.identify(token)
        except (InvalidToken, Forbidden) as error:
            await self._session.close(CLOSE_POLICY_VIOLATION, str(error))
            return
        self._session.set_identity(identity)
        await self._welcome(identity, request_id)

    def _join(self, identity: Identity) -> None:
        """Receive this user's support messages (and, for operators, every user's)."""
        if self._joined_as == identity.user_id:
            return
        for subscription in self._subscriptions:
            self._session.unsubscribe(subscription)
        self._subscriptions = [
            self._session.subscribe(support_topic(identity.user_id), encode_for_user)
        ]
        if identity.is_admin:
            self._subscriptions.append(self._session.subscribe(OPERATORS, encode_for_operators))
        self._joined_as = identity.user_id

    async def _welcome(self, identity: Identity, request_id: RequestId) -> None:
        """Spec 1.2: the user's thread (or null); for operators, the waiting threads. The
        queries run as a request of their own (`ClientSession.launch_request`): the
        client's next frames are handled meanwhile, and answered after this."""
        self._join(identity)
        # In the same step as joining (no await between): the thread as it is now. What
        # is delivered after this position comes live, to the subscriptions just made; a
        # message the client sends while the query runs is not listed as well.
        up_to_id = self._service.broadcaster.position

        async def answer() -> list[str]:
            try:
                return [_answer(await self._thread_and_queue(identity, up_to_id), request_id)]
            except ChatError as error:
                return [_failure(request_id, _error_of(error))]

        await self._session.launch_request(answer)

    async def _thread_and_queue(self, identity: Identity, up_to_id: int) -> dict[str, Any]:
        room, messages = await self._service.support.thread(identity, up_to_id=up_to_id)
        result: dict[str, Any] = {
            "messages": [shapes.support_message(m, room) for m in messages]
            if room is not None and messages
            else None
        }
        if identity.is_admin:
            result["conversations"] = [
                {
                    "user_id": thread.room.creator_id,
                    "user_name": thread.user_name,
                    "room_id": thread.room.id,
                    "message": shapes.support_message(thread.last_message, thread.room),
                }
                for thread in await self._service.support.waiting(identity)
            ]
        return result
