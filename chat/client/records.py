"""What the server's JSON describes, as frozen records: a message (a history item, a
sent message's answer, a live ``message`` frame), its files, a room, a profile, an
uploaded file. Each keeps the JSON it was read from (``json``) for the fields it does
not name, so a newer server's additions are not lost to its reader.

Reading is strict about the fields a record needs (a `ValueError` for a missing or
mistyped one) and lenient about the rest."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

Json = Mapping[str, Any]


def required_int(data: Json, key: str) -> int:
    value = data.get(key)
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(f"field {key!r} must be an integer, not {value!r}")
    return value


def optional_int(data: Json, key: str) -> int | None:
    return None if data.get(key) is None else required_int(data, key)


def required_str(data: Json, key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str):
        raise ValueError(f"field {key!r} must be a string, not {value!r}")
    return value


def optional_str(data: Json, key: str) -> str | None:
    return None if data.get(key) is None else required_str(data, key)


def _ints(data: Json, key: str) -> tuple[int, ...]:
    values = data.get(key) or []
    if not isinstance(values, list) or not all(
        isinstance(v, int) and not isinstance(v, bool) for v in values
    ):
        raise ValueError(f"field {key!r} must be a list of integers")
    return tuple(values)


@dataclass(frozen=True)
class FileInfo:
    """A file a message carries (``"Files"``); its bytes are at ``GET
    /files/{file_id}/{name}``."""

    file_id: str
    name: str
    size: int
    content_type: str
    width: int | None = None
    height: int | None = None

    @classmethod
    def from_json(cls, data: Json) -> FileInfo:
        return cls(
            file_id=required_str(data, "FileID"),
            name=required_str(data, "Name"),
            size=required_int(data, "Size"),
            content_type=required_str(data, "ContentType"),
            width=optional_int(data, "Width"),
            height=optional_int(data, "Height"),
        )


#: An uploaded file, as ``POST /files`` answers it: the same fields (and its SHA-256 in
#: the JSON), ready to be named in `ChatClient.send(files=...)` by its ``file_id``.
UploadedFile = FileInfo


@dataclass(frozen=True)
class Message:
    """A message of a room as it is now: a history item, the answer to a send, or a live
    ``message`` frame. A deleted one is a tombstone: ``deleted`` true, ``text`` empty."""

    message_id: int
    room_id: int
    uid: int
    username: str
    text: str
    created_at: str
    edited_at: str | None = None
    client_msg_id: str | None = None
    reply_to: int | None = None
    thread_id: int | None = None
    mentions: tuple[int, ...] = ()
    mentions_room: bool = False
    files: tuple[FileInfo, ...] = ()
    deleted: bool = False
    from_bot: bool = False
    display_name: str | None = None
    json: Json = field(default_factory=dict, compare=False, repr=False)

    @property
    def position(self) -> int:
        """Where the message stands in its room's stream (what ``SinceID`` resumes after)."""
        return self.message_id

    @classmethod
    def from_json(cls, data: Json) -> Message:
        files = data.get("Files") or []
        if not isinstance(files, list):
            raise ValueError("field 'Files' must be a list")
        return cls(
            message_id=required_int(data, "MessageID"),
            room_id=required_int(data, "RoomID"),
            uid=required_int(data, "UID"),
            username=required_str(data, "Username"),
            text=required_str(data, "Text"),
            created_at=required_str(data, "CreatedAt"),
            edited_at=optional_str(data, "EditedAt"),
            client_msg_id=optional_str(data, "ClientMsgID"),
            reply_to=optional_int(data, "ReplyTo"),
            thread_id=optional_int(data, "ThreadID"),
            mentions=_ints(data, "Mentions"),
            mentions_room=data.get("MentionsRoom") is True,
            files=tuple(FileInfo.from_json(f) for f in files),
            deleted=data.get("Deleted") is True,
            from_bot=data.get("Bot") is True,
            display_name=optional_str(data, "DisplayName"),
            json=data,
        )


@dataclass(frozen=True)
class Room:
    """One of the caller's rooms, as ``GET /rooms/details`` describes it. ``name`` is None
    for a direct conversation (``uids`` names its two people)."""

    room_id: int
    name: str | None
    is_private: bool
    creator_uid: int | None
    uids: tuple[int, ...] = ()
    json: Json = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_json(cls, data: Json) -> Room:
        return cls(
            room_id=required_int(data, "RoomID"),
            name=optional_str(data, "Name"),
            is_private=data.get("IsPrivate") is True,
            creator_uid=optional_int(data, "CreatorUID"),
            uids=_ints(data, "UIDs"),
            json=data,
        )


@dataclass(frozen=True)
class Profile:
    """The caller's account (``GET /profile``): a person or a bot."""

    uid: int
    username: str
    display_name: str | None
    kind: str
    json: Json = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_json(cls, data: Json) -> Profile:
        return cls(
            uid=required_int(data, "UID"),
            username=required_str(data, "Username"),
            display_name=optional_str(data, "DisplayName"),
            kind=optional_str(data, "Kind") or "person",
            json=data,
        )
