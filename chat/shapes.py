"""How users, rooms and messages look on the wire in specs 003 and 004.

Spec 004 writes its fields in PascalCase (``UID``, ``RoomID``, ``CreatedAt``), spec 003 in
lower case (``from``, ``to``, ``content``). Its HTTP routes and its WebSocket frames share
these shapes, so each lives here once.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from .store import Message, Room, User


def timestamp(moment: datetime) -> str:
    """RFC 3339 in UTC with milliseconds: ``2026-11-21T21:24:51.108Z``."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def profile(user: User) -> dict[str, Any]:
    """The caller's own profile (spec 004 ``GET /profile``)."""
    return {"UID": user.id, "Username": user.name, "Email": user.email}


def person(user_id: int, name: str) -> dict[str, Any]:
    """A user as others see them: in profiles, search results, presence and typing."""
    return {"UID": user_id, "Username": name}


def public_profile(user: User) -> dict[str, Any]:
    """Anyone's profile as others see it: no e-mail address."""
    return person(user.id, user.name)


def room(room: Room) -> dict[str, Any]:
    """A room as spec 004 describes it; a direct room also names its two users ("UIDs",
    lower first), so a client can tell who a conversation is with."""
    shape: dict[str, Any] = {
        "RoomID": room.id,
        "Name": room.name,
        "IsPrivate": room.is_private,
        "CreatorUID": room.creator_id,
        "CreatedAt": timestamp(room.created_at),
    }
    if room.pair is not None:
        shape["UIDs"] = list(room.pair)
    return shape


def room_message(message: Message) -> dict[str, Any]:
    """A message of a room (spec 004 ``GET /messages/{roomID}`` and the /ws frame); the
    sender's own id for it, if it gave one, as ``ClientMsgID``; the message it answers,
    if it is a reply, as ``ReplyTo``."""
    shape = {
        "MessageID": message.id,
        "RoomID": message.room_id,
        "UID": message.sender_id,
        "Username": message.sender_name,
        "Text": message.body,
        "CreatedAt": timestamp(message.created_at),
    }
    if message.client_msg_id is not None:
        shape["ClientMsgID"] = message.client_msg_id
    if message.reply_to is not None:
        shape["ReplyTo"] = message.reply_to
    return shape


def direct_message(message: Message, room: Room) -> dict[str, Any]:
    """A direct message as spec 003 frames it; `room` is the pair's direct room."""
    assert room.pair is not None, "direct messages live in direct rooms"
    low, high = room.pair
    shape = {
        "from": message.sender_id,
        "to": high if message.sender_id == low else low,
        "content": message.body,
        "id": message.id,
        "ts": message.ts_ms,
    }
    if message.client_msg_id is not None:
        shape["client_msg_id"] = message.client_msg_id
    return shape


def support_message(message: Message, room: Room) -> dict[str, Any]:
    """A message of a support thread as spec 001 frames it.

    `room.creator_id` is the user whose thread it is; anyone else who writes in it is
    an operator, so the message is from support and carries the operator's name.
    """
    from_support = message.sender_id != room.creator_id
    return {
        "message_id": message.id,
        "message_text": message.body,
        "invader_name": message.sender_name if from_support else "",
        "is_from_support": from_support,
        "created": int(message.created_at.timestamp()),
    }
