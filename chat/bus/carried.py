"""Committed messages and changes as the bus carries them between instances.

An instance that commits a batch of messages, or a change, hands it to the bus
(`Bus.carry`); the other instances publish it from the payload instead of reading it back
from the table (`MessageWriter.carried`). The table stays the source of truth: a receiver
reads it when it sees a gap in the positions that no payload fills in time, or a *read
marker*: "positions up to N were committed, and not all of them are in any payload" (an
item too large for the bus, an erasure's many tombstones, a payload that could not be
sent).

A payload is one bus event, ``{"type": "carried", "items": [...], "read": N}``, at most
the bus's payload size (`pack`). Each item is a compact JSON object holding exactly what a
table read gives (`chat.store.Messages.committed_after`): the message or change, and its
room's stream fields (a room read with the stream leaves topic, slow mode and retention at
their defaults, `chat.store.Room`), so a carried item and a read one are equal.

Decoding trusts the other instances of the same chat (the envelope checked the chat's id),
but not blindly: anything malformed is dropped as a whole, and the receiver falls back to
the table (`decode` returns None).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from chat.core.records import EditedMentions, FileRef, Reaction
from chat.store import Change, Message, Room

#: One committed item and the room it belongs to, as the writer publishes it.
Item = tuple[Message | Change, Room]

#: The type of the bus event that carries items.
CARRIED = "carried"

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def _time(moment: datetime) -> int:
    """Exact: integer microseconds since the epoch (a float would round)."""
    return (moment - _EPOCH) // _MICROSECOND


def _moment(micros: int) -> datetime:
    return _EPOCH + timedelta(microseconds=micros)


def _room(room: Room) -> list[Any]:
    return [
        room.id,
        room.name,
        room.kind,
        room.is_private,
        room.creator_id,
        _time(room.created_at),
        list(room.pair) if room.pair is not None else None,
    ]


def _room_of(fields: list[Any]) -> Room:
    room_id, name, kind, is_private, creator_id, created_at, pair = fields
    return Room(
        id=int(room_id),
        name=name,
        kind=str(kind),
        is_private=bool(is_private),
        creator_id=creator_id,
        created_at=_moment(created_at),
        pair=(int(pair[0]), int(pair[1])) if pair is not None else None,
    )


def _reactions(reactions: tuple[Reaction, ...]) -> list[Any]:
    return [[r.emoji, r.count, list(r.uids)] for r in reactions]


def _reactions_of(fields: list[Any]) -> tuple[Reaction, ...]:
    if not fields:
        return ()
    return tuple(Reaction(str(e), int(n), tuple(int(u) for u in uids)) for e, n, uids in fields)


def _files(files: tuple[FileRef, ...]) -> list[Any]:
    return [[f.id, f.name, f.size, f.content_type, f.width, f.height] for f in files]


def _files_of(fields: list[Any]) -> tuple[FileRef, ...]:
    if not fields:
        return ()
    return tuple(FileRef(str(i), str(n), int(s), str(c), w, h) for i, n, s, c, w, h in fields)


def encode(item: Message | Change, room: Room) -> dict[str, Any]:
    """`item` and its room as a JSON-able object."""
    if isinstance(item, Message):
        return {
            "m": [
                item.id,
                item.room_id,
                item.sender_id,
                item.sender_name,
                item.body,
                _time(item.created_at),
                item.client_msg_id,
                item.reply_to,
                None if item.edited_at is None else _time(item.edited_at),
                item.deleted,
                _reactions(item.reactions),
                list(item.mentions),
                item.mentions_room,
                _files(item.files),
            ],
            "r": _room(room),
        }
    newly = item.newly
    return {
        "c": [
            item.seq,
            item.room_id,
            item.message_id,
            item.kind,
            _time(item.at),
            item.text,
            _reactions(item.reactions),
            list(item.mentions),
            item.mentions_room,
            None
            if newly is None
            else [newly.author_id, list(newly.uids), newly.room, list(newly.before)],
        ],
        "r": _room(room),
    }


def _uids_of(fields: list[Any]) -> tuple[int, ...]:
    return tuple(int(u) for u in fields) if fields else ()


#: Rooms already decoded from one payload, by id: their fields as carried, and the room.
_Rooms = dict[int, tuple[list[Any], Room]]


def _decode_one(obj: dict[str, Any], rooms: _Rooms) -> Item:
    fields = obj["r"]
    # A payload's items are mostly of one room (a busy room's batch): its fields are
    # decoded once, and reused while they are the same.
    known = rooms.get(fields[0])
    if known is not None and known[0] == fields:
        room = known[1]
    else:
        room = _room_of(fields)
        rooms[room.id] = (fields, room)
    if "m" in obj:
        (
            mid,
            room_id,
            sender_id,
            sender_name,
            body,
            created_at,
            client_msg_id,
            reply_to,
            edited_at,
            deleted,
            reactions,
            mentions,
            mentions_room,
            files,
        ) = obj["m"]
        message = Message(
            id=int(mid),
            room_id=int(room_id),
            sender_id=int(sender_id),
            sender_name=str(sender_name),
            body=str(body),
            created_at=_moment(created_at),
            client_msg_id=client_msg_id,
            reply_to=reply_to,
            edited_at=None if edited_at is None else _moment(edited_at),
            deleted=bool(deleted),
            reactions=_reactions_of(reactions),
            mentions=_uids_of(mentions),
            mentions_room=bool(mentions_room),
            files=_files_of(files),
        )
        return message, room
    seq, room_id, message_id, kind, at, text, reactions, mentions, mentions_room, newly = obj["c"]
    change = Change(
        seq=int(seq),
        room_id=int(room_id),
        message_id=int(message_id),
        kind=str(kind),
        at=_moment(at),
        text=text,
        reactions=_reactions_of(reactions),
        mentions=_uids_of(mentions),
        mentions_room=bool(mentions_room),
        newly=None
        if newly is None
        else EditedMentions(
            int(newly[0]),
            tuple(int(u) for u in newly[1]),
            bool(newly[2]),
            tuple(int(u) for u in newly[3]),
        ),
    )
    return change, room


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


#: Bytes of a payload around its items: the envelope and the event's own keys (measured
#: generously; `chat.bus.Envelope` adds the chat's and the instance's ids).
_OVERHEAD_BYTES = 200


@dataclass(frozen=True, slots=True)
class Payload:
    """One payload's worth of items, each already JSON (`encode`), and its read marker:
    `chat.bus.Envelope.seal_carried` makes the payload of it without encoding again."""

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
        text = json.dumps(encode(item, room), separators=(",", ":"))
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
