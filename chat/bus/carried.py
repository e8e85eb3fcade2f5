"""Committed messages and changes as the bus carries them between instances.

An instance that commits a batch of messages, or a change, hands it to the bus
(`Bus.carry`); the other instances publish it from the payload instead of reading it back
from the table (`MessageWriter.carried`). The table stays the source of truth: a receiver
reads it when it sees a gap in the positions that no payload fills in time, or a *read
marker*: "positions up to N were committed, and not all of them are in any payload" (an
item too large for the bus, an erasure's many tombstones, a payload that could not be
sent).

A payload is one bus event, ``{"type": "carried", "items": [...], "read": N}``, at most
the bus's payload size (`pack`). Each item holds exactly what a table read gives
(`chat.store.Messages.committed_after`): the message (``"m"``), change (``"c"``),
departure (``"d"``, a member leaving a room), pin change (``"p"``) or thread change
(``"t"``), and its room's
stream fields (``"r"``; a room read with the stream leaves topic, slow mode and
retention at their defaults, `chat.store.Room`), so a carried item and a read one are
equal.

Every record travels as a JSON object of named fields, each under a short key (`_Field`),
and a field at its default is left out. So instances one version apart understand each
other during a rolling upgrade: a field the receiver does not know is ignored, and one
the sender did not know takes its default. A new field of a record is one `_Field` line
here.

Decoding trusts the other instances of the same chat (the envelope checked the chat's id),
but not blindly: anything malformed (a required field missing, a value of the wrong type,
an item of a kind this version does not know) drops the whole payload, and the receiver
falls back to the table (`decode` returns None).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import MISSING, dataclass, fields
from datetime import UTC, datetime, timedelta
from typing import Any, Generic, TypeVar

from chat.core.link_previews import PREVIEWS, LinkPreview
from chat.core.records import (
    PINS,
    THREAD,
    Change,
    Departure,
    EditedMentions,
    FileRef,
    Message,
    Reaction,
    Room,
    StreamItem,
    ThreadSummary,
)

#: One committed item and the room it belongs to, as the writer publishes it.
Item = tuple[StreamItem, Room]

#: The type of the bus event that carries items.
CARRIED = "carried"

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)

R = TypeVar("R")


def _time(moment: datetime) -> int:
    """Exact: integer microseconds since the epoch (a float would round)."""
    return (moment - _EPOCH) // _MICROSECOND


def _moment(micros: Any) -> datetime:
    return _EPOCH + timedelta(microseconds=int(micros))


def _same(value: Any) -> Any:
    return value


def _optional(convert: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """`convert`, letting None through."""
    return lambda value: None if value is None else convert(value)


def _uids(value: Any) -> tuple[int, ...]:
    return tuple(int(uid) for uid in value)


#: A `_Field`'s default when it has none of its own: the record's.
_OWN = object()


@dataclass(frozen=True, slots=True)
class _Field:
    """A record's attribute `name` as a payload carries it: under `key`, made JSON-able
    by `out`, and read back by `back` (which raises on a value of the wrong type). Left
    out at its `default`: the record's own, unless one is given here (for a required
    attribute that is mostly the same: a room's privacy)."""

    key: str
    name: str
    out: Callable[[Any], Any] = _same
    back: Callable[[Any], Any] = _same
    default: Any = _OWN


class _Codec(Generic[R]):
    """A record type's named fields on the bus: the fields at their defaults are left
    out, keys it does not know are ignored, and a field the payload leaves out takes its
    default (a required one missing makes the payload malformed)."""

    def __init__(self, record: type[R], carried: tuple[_Field, ...]) -> None:
        self._record = record
        self._fields = carried
        own = {f.name: f.default for f in fields(record)}  # type: ignore[arg-type]
        assert {f.name for f in carried} <= own.keys(), record
        assert len({f.key for f in carried}) == len(carried), record
        self._defaults = {f.name: own[f.name] if f.default is _OWN else f.default for f in carried}

    def encode(self, record: R) -> dict[str, Any]:
        encoded = {}
        for field in self._fields:
            value = getattr(record, field.name)
            default = self._defaults[field.name]
            if default is MISSING or value != default:
                encoded[field.key] = field.out(value)
        return encoded

    def decode(self, encoded: Any) -> R:
        if not isinstance(encoded, dict):
            raise TypeError("a record is a JSON object")
        values = {}
        for field in self._fields:
            if field.key in encoded:
                values[field.name] = field.back(encoded[field.key])
            elif self._defaults[field.name] is not MISSING:
                values[field.name] = self._defaults[field.name]
        return self._record(**values)  # a required field missing: TypeError

    def encode_all(self, records: tuple[R, ...]) -> list[dict[str, Any]]:
        return [self.encode(record) for record in records]

    def decode_all(self, encoded: Any) -> tuple[R, ...]:
        if not isinstance(encoded, list):
            raise TypeError("records are a JSON list")
        return tuple(self.decode(item) for item in encoded)


_REACTION = _Codec(
    Reaction,
    (
        _Field("e", "emoji", back=str),
        _Field("n", "count", back=int),
        _Field("u", "uids", list, _uids),
    ),
)
_FILE = _Codec(
    FileRef,
    (
        _Field("i", "id", back=str),
        _Field("n", "name", back=str),
        _Field("s", "size", back=int),
        _Field("c", "content_type", back=str),
        _Field("w", "width", back=_optional(int)),
        _Field("h", "height", back=_optional(int)),
    ),
)
_EDITED_MENTIONS = _Codec(
    EditedMentions,
    (
        _Field("s", "author_id", back=int),
        _Field("u", "uids", list, _uids),
        _Field("a", "room", back=bool),
        _Field("b", "before", list, _uids),
    ),
)
_THREAD = _Codec(
    ThreadSummary,
    (
        _Field("n", "replies", back=int),
        _Field("t", "last_reply_at", _optional(_time), _optional(_moment)),
        _Field("u", "participants", list, _uids),
    ),
)
_PREVIEW = _Codec(
    LinkPreview,
    (
        _Field("u", "url", back=str),
        _Field("t", "title", back=str),
        _Field("d", "description", back=str),
        _Field("s", "site_name", back=str),
        _Field("i", "image_url", back=_optional(str)),
    ),
)
_MESSAGE = _Codec(
    Message,
    (
        _Field("i", "id", back=int),
        _Field("r", "room_id", back=int),
        _Field("s", "sender_id", back=int),
        _Field("n", "sender_name", back=str),
        _Field("b", "body", back=str),
        _Field("t", "created_at", _time, _moment),
        _Field("k", "client_msg_id", back=_optional(str)),
        _Field("p", "reply_to", back=_optional(int)),
        _Field("e", "edited_at", _optional(_time), _optional(_moment)),
        _Field("d", "deleted", back=bool),
        _Field("x", "reactions", _REACTION.encode_all, _REACTION.decode_all),
        _Field("m", "mentions", list, _uids),
        _Field("a", "mentions_room", back=bool),
        _Field("f", "files", _FILE.encode_all, _FILE.decode_all),
        _Field("v", "sender_display_name", back=_optional(str)),
        _Field("g", "sender_avatar", back=_optional(str)),
        _Field("w", "sender_is_bot", back=bool),
        _Field("h", "thread_id", back=_optional(int)),
        _Field("o", "also_to_room", back=bool),
        _Field("q", "thread", _optional(_THREAD.encode), _optional(_THREAD.decode)),
        _Field("y", "previews", _PREVIEW.encode_all, _PREVIEW.decode_all),
    ),
)
_CHANGE = _Codec(
    Change,
    (
        _Field("i", "seq", back=int),
        _Field("r", "room_id", back=int),
        _Field("g", "message_id", back=int),
        _Field("k", "kind", back=str),
        _Field("t", "at", _time, _moment),
        _Field("b", "text", back=_optional(str)),
        _Field("x", "reactions", _REACTION.encode_all, _REACTION.decode_all),
        _Field("m", "mentions", list, _uids),
        _Field("a", "mentions_room", back=bool),
        _Field(
            "w", "newly", _optional(_EDITED_MENTIONS.encode), _optional(_EDITED_MENTIONS.decode)
        ),
        _Field("p", "pinned", back=_optional(bool)),
        _Field("s", "thread", _optional(_THREAD.encode), _optional(_THREAD.decode)),
        _Field("v", "previews", _optional(_PREVIEW.encode_all), _optional(_PREVIEW.decode_all)),
    ),
)
_DEPARTURE = _Codec(
    Departure,
    (
        _Field("i", "seq", back=int),
        _Field("r", "room_id", back=int),
        _Field("u", "user_id", back=int),
        _Field("s", "by_id", back=int),
        _Field("n", "by_name", back=str),
        _Field("b", "reason", back=str, default=""),
        _Field("t", "at", _time, _moment),
        _Field("x", "banned", back=bool),
        _Field("e", "until", _optional(_time), _optional(_moment)),
    ),
)
#: A room's stream fields: what a table read of the stream gives (`chat.store.Room`).
_ROOM = _Codec(
    Room,
    (
        _Field("i", "id", back=int),
        _Field("n", "name", back=_optional(str)),
        _Field("k", "kind", back=str),
        _Field("p", "is_private", back=bool, default=False),
        _Field("c", "creator_id", back=_optional(int), default=None),
        _Field("t", "created_at", _time, _moment),
        _Field("u", "pair", _optional(list), _optional(lambda pair: (int(pair[0]), int(pair[1])))),
    ),
)


def _pin_change(change: Change) -> Change:
    """A carried pin change, refused (`ValueError`: the payload is dropped) unless it is
    one: a ``pins`` kind that says pinned or unpinned."""
    if change.kind != PINS or change.pinned is None:
        raise ValueError("a pin change that is not one")
    return change


def _thread_change(change: Change) -> Change:
    """A carried thread change, refused (`ValueError`: the payload is dropped) unless it
    is one: a ``thread`` kind with a summary."""
    if change.kind != THREAD or change.thread is None:
        raise ValueError("a thread change that is not one")
    return change


def _preview_change(change: Change) -> Change:
    """A carried previews change, refused (`ValueError`: the payload is dropped) unless
    it is one: a ``previews`` kind with its previews."""
    if change.kind != PREVIEWS or change.previews is None:
        raise ValueError("a previews change that is not one")
    return change


def encode(item: StreamItem, room: Room) -> dict[str, Any]:
    """`item` and its room as a JSON-able object."""
    if isinstance(item, Message):
        return {"m": _MESSAGE.encode(item), "r": _ROOM.encode(room)}
    if isinstance(item, Departure):
        return {"d": _DEPARTURE.encode(item), "r": _ROOM.encode(room)}
    if item.kind == PINS:
        # A key of its own: a release that knows no pins drops the payload (below) and
        # reads the table, where it never looks for them, rather than meet a change of
        # a kind it does not know.
        return {"p": _CHANGE.encode(item), "r": _ROOM.encode(room)}
    if item.kind == THREAD:
        return {"t": _CHANGE.encode(item), "r": _ROOM.encode(room)}  # as pins, for the same reason
    if item.kind == PREVIEWS:
        return {"v": _CHANGE.encode(item), "r": _ROOM.encode(room)}  # as pins, too
    return {"c": _CHANGE.encode(item), "r": _ROOM.encode(room)}


#: Rooms already decoded from one payload, by id: their fields as carried, and the room.
_Rooms = dict[int, tuple[dict[str, Any], Room]]


def _decode_one(obj: dict[str, Any], rooms: _Rooms) -> Item:
    fields = obj["r"]
    # A payload's items are mostly of one room (a busy room's batch): its fields are
    # decoded once, and reused while they are the same.
    known = rooms.get(fields["i"])
    if known is not None and known[0] == fields:
        room = known[1]
    else:
        room = _ROOM.decode(fields)
        rooms[room.id] = (fields, room)
    if "m" in obj:
        return _MESSAGE.decode(obj["m"]), room
    if "d" in obj:
        return _DEPARTURE.decode(obj["d"]), room
    if "p" in obj:
        return _pin_change(_CHANGE.decode(obj["p"])), room
    if "t" in obj:
        return _thread_change(_CHANGE.decode(obj["t"])), room
    if "v" in obj:
        return _preview_change(_CHANGE.decode(obj["v"])), room
    # None of the six: a kind this version does not know (KeyError).
    return _CHANGE.decode(obj["c"]), room


@dataclass(frozen=True, slots=True)
class Carried:
    """What one payload brought: committed items, and a read marker (0: none)."""

    items: list[Item]
    read: int = 0


def decode(event: dict[str, Any]) -> Carried | None:
    """The items and read marker of a ``carried`` event; None if anything in it is not
    what `encode` makes (the receiver then reads the table instead)."""
    try:
        rooms: _Rooms = {}
        items = [_decode_one(obj, rooms) for obj in event["items"]]
        read = int(event.get("read") or 0)
    except (KeyError, TypeError, ValueError, IndexError, OverflowError):
        return None
    return Carried(items, read)


#: Compact JSON, one encoder for every item (`json.dumps` with options makes one a call).
_JSON = json.JSONEncoder(separators=(",", ":"))

#: Bytes of a payload around its items: the envelope and the event's own keys (measured
#: generously; `chat.bus.interface.Envelope` adds the chat's and the instance's ids).
_OVERHEAD_BYTES = 200


@dataclass(frozen=True, slots=True)
class Payload:
    """One payload's worth of items, each already JSON (`encode`), and its read marker:
    `chat.bus.interface.Envelope.seal_carried` makes the payload of it without encoding again."""

    texts: list[str]
    read: int = 0


def pack(items: Iterable[Item], read: int, max_bytes: int) -> list[Payload]:
    """`items` (in position order) as payloads that each fit in `max_bytes` once sealed
    in an envelope. An item too large for any payload is left out, and the last payload's
    read marker covers it, so receivers read it from the table. An empty list if there is
    nothing to carry."""
    budget = max_bytes - _OVERHEAD_BYTES
    payloads: list[Payload] = []
    texts: list[str] = []
    size = 0
    for item, room in items:
        text = _JSON.encode(encode(item, room))
        if len(text) + 1 > budget:
            read = max(read, item.position)  # too large: the table has it
            continue
        if size + len(text) + 1 > budget:
            payloads.append(Payload(texts))
            texts, size = [], 0
        texts.append(text)
        size += len(text) + 1
    if texts or read:
        payloads.append(Payload(texts, read))
    return payloads
