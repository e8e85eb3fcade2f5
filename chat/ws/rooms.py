"""The room protocol of spec 004, on ``/ws``.

The connection is authenticated at the handshake (``?token=`` or an Authorization
header; without a valid token the upgrade is refused with 401). Frames:

- ``{"Type": "enter", "RoomID": n}``: listen to room n (one room at a time; the client
  must be a member, and everyone is a member of the lobby); ``"RoomID": 0`` leaves.
  Answered ``{"Type": "entered", "RoomID": n, "Name": ...}`` or ``{"Type": "left", "RoomID": n}``.
- ``{"Type": "message", "Text": "..."}``: store the text in the current room, then send
  it to every connection in that room, this one included, as
  ``{"Type": "message", "MessageID", "RoomID", "UID", "Username", "Text", "CreatedAt"}``.

Errors are ``{"Type": "error", "Error": "..."}``.
"""

from __future__ import annotations

from typing import Any

from .. import shapes, validation
from ..broadcaster import Event, Subscription, room_topic
from ..errors import ChatError, InvalidInput
from ..service import ChatService
from ..store import Room
from .dispatch import dumps
from .session import ClientSession


def encode_room_message(event: Event) -> str:
    return dumps({"Type": "message", **shapes.room_message(event.message)})


class RoomProtocol:
    example = '{"Type": "enter", "RoomID": 1} or {"Type": "message", "Text": "..."}'

    def __init__(self, session: ClientSession, service: ChatService) -> None:
        self._session = session
        self._service = service
        self._room: Room | None = None
        self._subscription: Subscription | None = None

    async def start(self) -> None:
        pass

    async def handle(self, frame: Any) -> None:
        try:
            await self._handle(frame)
        except ChatError as error:
            await self.reject(str(error))

    async def reject(self, problem: str) -> None:
        await self._session.send(dumps({"Type": "error", "Error": problem}))

    async def _handle(self, frame: Any) -> None:
        frame = validation.require_object(frame, "frame")
        kind = validation.require_str(frame, "Type")
        if kind == "enter":
            await self._enter(validation.require_id(frame, "RoomID", allow_zero=True))
        elif kind == "message":
            await self._message(validation.require_str(frame, "Text"))
        else:
            raise InvalidInput(f'unknown Type {kind[:50]!r}: expected "enter" or "message"')

    def _leave(self) -> None:
        if self._subscription is not None:
            self._session.unsubscribe(self._subscription)
        self._room = self._subscription = None

    async def _enter(self, room_id: int) -> None:
        identity = self._session.identity
        assert identity is not None, "/ws requires a token at the handshake"
        if room_id == 0:
            left = self._room.id if self._room is not None else 0
            self._leave()
            await self._session.send(dumps({"Type": "left", "RoomID": left}))
            return
        room = await self._service.member_room(identity, room_id)
        self._leave()
        self._room = room
        self._subscription = self._session.subscribe(room_topic(room.id), encode_room_message)
        await self._session.send(dumps({"Type": "entered", "RoomID": room.id, "Name": room.name}))

    async def _message(self, text: str) -> None:
        identity = self._session.identity
        assert identity is not None, "/ws requires a token at the handshake"
        if self._room is None:
            raise InvalidInput('enter a room first: {"Type": "enter", "RoomID": <id>}')
        # The sender's confirmation is its own copy of the broadcast: nothing to wait
        # for here, so the next frame is handled while this one is committed.
        pending = await self._service.post_pipelined(
            identity, self._room, text, on_error=self._failed
        )
        self._session.track_write(pending)

    def _failed(self, error: BaseException) -> None:
        problem = str(error) if isinstance(error, ChatError) else "internal error"
        self._session.send_nowait(dumps({"Type": "error", "Error": problem}))
