"""The events of a room's stream (`chat.client.room_events`), one record per kind of
frame the room protocol sends, and `event_from_frame`, which reads one.

`Message`, `MessageEdited` and `MessageDeleted` are the frames a bot or a script most
often wants; `Truncated` says a resume missed more than the server sends at once;
everything else (reactions, pins, thread summaries, presence, moderation, direct
messages, errors...) is an `OtherEvent` carrying its frame as it came. Every event that
has a place in the room's stream has a ``position`` (a message's id, a change's
``Seq``): the stream resumes after the highest it yielded."""

from __future__ import annotations

from dataclasses import dataclass, field

from chat.client.records import (
    Json,
    Message,
    optional_str,
    required_int,
    required_str,
)


@dataclass(frozen=True)
class MessageEdited:
    """A message's text was changed (``edited``): its new text and mentions."""

    room_id: int
    message_id: int
    text: str
    edited_at: str | None
    seq: int
    mentions: tuple[int, ...] = ()
    mentions_room: bool = False
    json: Json = field(default_factory=dict, compare=False, repr=False)

    @property
    def position(self) -> int:
        return self.seq


@dataclass(frozen=True)
class MessageDeleted:
    """A message was deleted (``deleted``): show its tombstone, drop its text."""

    room_id: int
    message_id: int
    seq: int
    json: Json = field(default_factory=dict, compare=False, repr=False)

    @property
    def position(self) -> int:
        return self.seq


@dataclass(frozen=True)
class Truncated:
    """A resume missed more than the server sends at once (``truncated``): the events
    between ``since_id`` and ``before_id`` are not in the stream; page them with
    `ChatClient.history(room_id, before_id=before_id)`. ``before_id`` is None when the
    server no longer knew ``since_id`` (every message up to it had expired) and the
    stream went on from the room's present."""

    room_id: int
    since_id: int
    before_id: int | None
    json: Json = field(default_factory=dict, compare=False, repr=False)

    @property
    def position(self) -> None:
        return None


@dataclass(frozen=True)
class OtherEvent:
    """Any other frame: ``type`` is its ``"Type"`` (``"reactions"``, ``"pins"``,
    ``"presence"``, ``"removed"``, ``"error"``...; ``""`` for a frame of the
    direct-message dialect, which has none), ``json`` the whole frame."""

    type: str
    room_id: int | None
    seq: int | None
    json: Json = field(default_factory=dict, compare=False, repr=False)

    @property
    def position(self) -> int | None:
        return self.seq


Event = Message | MessageEdited | MessageDeleted | Truncated | OtherEvent


def _mentions(frame: Json) -> tuple[int, ...]:
    values = frame.get("Mentions") or []
    return tuple(v for v in values if isinstance(v, int)) if isinstance(values, list) else ()


def event_from_frame(frame: Json) -> Event:
    """The event a frame of the room protocol stands for. A frame of a known type that
    lacks a field its record needs is an `OtherEvent`, never an error: a stream does not
    end over one odd frame."""
    kind = frame.get("Type")
    try:
        if kind == "message":
            return Message.from_json(frame)
        if kind == "edited":
            return MessageEdited(
                room_id=required_int(frame, "RoomID"),
                message_id=required_int(frame, "MessageID"),
                text=required_str(frame, "Text"),
                edited_at=optional_str(frame, "EditedAt"),
                seq=required_int(frame, "Seq"),
                mentions=_mentions(frame),
                mentions_room=frame.get("MentionsRoom") is True,
                json=frame,
            )
        if kind == "deleted":
            return MessageDeleted(
                room_id=required_int(frame, "RoomID"),
                message_id=required_int(frame, "MessageID"),
                seq=required_int(frame, "Seq"),
                json=frame,
            )
        if kind == "truncated":
            return Truncated(
                room_id=required_int(frame, "RoomID"),
                since_id=required_int(frame, "SinceID"),
                before_id=required_int(frame, "BeforeID"),
                json=frame,
            )
    except ValueError:
        pass
    room_id = frame.get("RoomID")
    seq = frame.get("Seq")
    return OtherEvent(
        type=kind if isinstance(kind, str) else "",
        room_id=room_id if isinstance(room_id, int) and not isinstance(room_id, bool) else None,
        seq=seq if isinstance(seq, int) and not isinstance(seq, bool) else None,
        json=frame,
    )
