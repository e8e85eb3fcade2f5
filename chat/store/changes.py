"""Changes to messages (edits, deletions, reactions): the `Changes` role, and how rows
become `Change`, `Reaction` and `Version` records (pins' rows too: chat/store/pins.py
writes them, in a table of their own, and a room's changes include them).

A change is one transaction: take the positions lock, read the message, let the caller's
`Check` refuse, write the change row at the next position, bring the message row up to
date. So changes are serialised with each other and with message inserts, and their
positions commit in order. PostgreSQL: ``chat_lock_positions()``
(sql/postgres/0012_message_changes.sql), and the position is the change row's default,
from the messages' id sequence; SQLite: its one writer, and the position is the
messages' AUTOINCREMENT counter moved on by one (sql/sqlite/0011), so the next message
id is above it too.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from chat.core.errors import InvalidInput
from chat.core.link_previews import PREVIEWS, previews_from_json
from chat.core.records import PINS, Change, Message, Reaction, Version
from chat.store.base import StoreBase
from chat.store.database import NO_UPPER_BOUND, Connection, Row
from chat.store.dialect import Dialect
from chat.store.files import DETACH_SQL, messages_with_files
from chat.store.mentions import (
    FORGET_MENTIONS,
    SET_MENTIONS,
    edit_mentions_from_json,
    edit_mentions_to_json,
    remember_mentions,
    uids_to_json,
)
from chat.store.message_rows import (
    MESSAGE_SELECT,
    message_from_select,
    reactions_from_json,
    reactions_to_json,
)
from chat.store.thread_summaries import THREAD_CHANGE_COLUMNS, recount, thread_change_from_row

#: Called with the message a change is about (None: no such message in the room), as it
#: is under the positions lock: raises a `ChatError` to refuse the change.
Check = Callable[[Message | None], None]

#: The most UIDs a reaction lists (the earliest to react); `Count` still counts them all.
MAX_REACTION_UIDS = 100

EDITED, DELETED, REACTIONS = "edited", "deleted", "reactions"

#: What `change_from_row` reads, from ``message_changes AS c``.
CHANGE_COLUMNS = (
    "c.seq, c.room_id, c.message_id, c.kind, c.body, c.reactions, c.created_at, c.mentions"
)

#: One room's changes with $2 < seq < $3, newest first, at most $4 (what a resume sends).
_ROOM_CHANGES = (
    f"SELECT {CHANGE_COLUMNS} FROM message_changes AS c"
    " WHERE c.room_id = $1 AND c.seq > $2 AND c.seq < $3 ORDER BY c.seq DESC LIMIT $4"
)

#: What `pin_change_from_row` reads, from ``pin_changes AS p``: a pin or an unpin, which
#: has a table of its own so that a release that knows no pins never reads one.
PIN_CHANGE_COLUMNS = "p.seq, p.room_id, p.message_id, p.pinned, p.created_at"
_ROOM_PIN_CHANGES = (
    f"SELECT {PIN_CHANGE_COLUMNS} FROM pin_changes AS p"
    " WHERE p.room_id = $1 AND p.seq > $2 AND p.seq < $3 ORDER BY p.seq DESC LIMIT $4"
)

#: What `preview_change_from_row` reads, from ``preview_changes AS v``.
PREVIEW_CHANGE_COLUMNS = "v.seq, v.room_id, v.message_id, v.previews, v.created_at"
#: Room $1's preview changes with $2 < seq < $3, newest first, at most $4.
_ROOM_PREVIEW_CHANGES = (
    f"SELECT {PREVIEW_CHANGE_COLUMNS} FROM preview_changes AS v"
    " WHERE v.room_id = $1 AND v.seq > $2 AND v.seq < $3 ORDER BY v.seq DESC LIMIT $4"
)

#: One room's thread summaries changed with $2 < seq < $3, newest first, at most $4: each
#: thread's newest summary once (an older change of it has no row of its own).
_ROOM_THREAD_CHANGES = (
    f"SELECT {THREAD_CHANGE_COLUMNS} FROM thread_summaries AS s"
    " WHERE s.room_id = $1 AND s.seq > $2 AND s.seq < $3 ORDER BY s.seq DESC LIMIT $4"
)

#: A message's reaction state: each emoji in the order it was first used, with its count
#: and its first `MAX_REACTION_UIDS` users in the order they reacted.
_REACTION_STATE = f"""
SELECT emoji, user_id, n FROM (
    SELECT emoji, user_id, created_at,
           row_number() OVER (PARTITION BY emoji ORDER BY created_at, user_id) AS k,
           count(*) OVER (PARTITION BY emoji) AS n,
           min(created_at) OVER (PARTITION BY emoji) AS first_at
    FROM message_reactions WHERE message_id = $1
) AS r
WHERE k <= {MAX_REACTION_UIDS}
ORDER BY first_at, emoji, k
"""

#: How many different emoji message $1 has, and whether one of them is $2.
_EMOJI_COUNT = (
    "SELECT count(DISTINCT emoji) AS distinct_emoji, count(*) FILTER (WHERE emoji = $2)"
    " AS this_emoji FROM message_reactions WHERE message_id = $1"
)

_TAKE_REACTION = (
    "DELETE FROM message_reactions WHERE message_id = $1 AND emoji = $2 AND user_id = $3"
)

#: A message's edits, oldest first: the versions after the original.
_EDITS = (
    "SELECT body, created_at FROM message_changes"
    " WHERE message_id = $1 AND kind = 'edited' ORDER BY seq"
)

#: A message's first version, and whether it is a tombstone ($1 message, $2 room).
_ORIGINAL_VERSION = (
    "SELECT coalesce(original_body, body) AS body, created_at, deleted_at"
    " FROM messages WHERE id = $1 AND room_id = $2"
)

#: An edit ($1 the new text, $2 when); the first edit keeps the original text.
_EDIT_MESSAGE = (
    "UPDATE messages SET original_body = coalesce(original_body, body), body = $1,"
    " edited_at = $2 WHERE id = $3"
)

#: A deletion: what stays of the message is its tombstone ($1 when, $2 the message).
TOMBSTONE_SQL = (
    "UPDATE messages SET body = '', original_body = NULL, edited_at = NULL,"
    " reactions = NULL, mentions = NULL, mentions_room = false, file_count = 0,"
    " previews = NULL, deleted_at = $1 WHERE id = $2"
)

_SET_REACTIONS = "UPDATE messages SET reactions = $1 WHERE id = $2"

#: Deleting a message erases its reactions, and its earlier changes (an edit row holds a
#: version of its text) but the deletion itself ($2).
_ERASE_REACTIONS = "DELETE FROM message_reactions WHERE message_id = $1"
_ERASE_CHANGES = "DELETE FROM message_changes WHERE message_id = $1 AND seq <> $2"
#: A deleted message is pinned no more (its `deleted` change tells every client so).
_UNPIN_DELETED = "DELETE FROM message_pins WHERE message_id = $1"

_MESSAGE_IN_ROOM = f"{MESSAGE_SELECT} WHERE m.id = $1 AND m.room_id = $2"

_INSERT_CHANGE = (
    "INSERT INTO message_changes (room_id, message_id, kind, body, reactions, mentions{more})"
    " VALUES ($1, $2, $3, $4, $5, $6{more_values}) RETURNING *"
)
_ADD_REACTION = (
    "INSERT INTO message_reactions (message_id, emoji, user_id{more})"
    " VALUES ($1, $2, $3{more_values}) ON CONFLICT DO NOTHING"
)


@dataclass(frozen=True, slots=True)
class _Writing:
    """How one engine serialises and numbers a change."""

    #: Run before the message is read (None: the writing transaction's lock is all).
    lock_positions: str | None
    #: Locks user $1 as the change's rows referring to them will (None: no row locks).
    lock_user: str | None
    #: The message ($1) in the room ($2), as the change reads it.
    message: str
    #: Moves the positions on by one and returns the change's (None: the row's default).
    next_position: str | None
    #: With `stamps`, the time is these two's last parameter (else the database's clock).
    insert_change: str
    add_reaction: str
    stamps: bool


#: SQLite's next position: the messages' counter moved on by one (it has one writer).
_NEXT_POSITION_SQLITE = (
    "UPDATE sqlite_sequence SET seq = seq + 1 WHERE name = 'messages' RETURNING seq"
)
_SQLITE = _Writing(
    lock_positions=None,
    lock_user=None,
    message=_MESSAGE_IN_ROOM,
    next_position=_NEXT_POSITION_SQLITE,
    insert_change=_INSERT_CHANGE.format(more=", seq, created_at", more_values=", $7, $8"),
    add_reaction=_ADD_REACTION.format(more=", created_at", more_values=", $4"),
    stamps=True,
)
_POSTGRES = _Writing(
    lock_positions="SELECT chat_lock_positions()",
    lock_user="SELECT 1 FROM users WHERE id = $1 FOR KEY SHARE",
    # Locking its sender as the writes to come would (FOR KEY SHARE: what the message's
    # references take, sql/postgres/0008), before any of them.
    message=f"{_MESSAGE_IN_ROOM} FOR KEY SHARE OF u",
    next_position=None,
    insert_change=_INSERT_CHANGE.format(more="", more_values=""),
    add_reaction=_ADD_REACTION.format(more="", more_values=""),
    stamps=False,
)


def reactions_from_rows(rows: Sequence[Row]) -> tuple[Reaction, ...]:
    """`_REACTION_STATE`'s rows as the reaction state."""
    state: list[Reaction] = []
    for row in rows:
        if state and state[-1].emoji == row["emoji"]:
            last = state[-1]
            state[-1] = Reaction(last.emoji, last.count, (*last.uids, row["user_id"]))
        else:
            state.append(Reaction(row["emoji"], row["n"], (row["user_id"],)))
    return tuple(state)


def change_from_row(row: Row, dialect: Dialect) -> Change:
    mentions, mentions_room, newly = edit_mentions_from_json(row["mentions"])
    return Change(
        seq=row["seq"],
        room_id=row["room_id"],
        message_id=row["message_id"],
        kind=row["kind"],
        at=dialect.moment(row["created_at"]),
        text=row["body"],
        reactions=reactions_from_json(row["reactions"]),
        mentions=mentions,
        mentions_room=mentions_room,
        newly=newly,
    )


def pin_change_from_row(row: Row, dialect: Dialect) -> Change:
    return Change(
        seq=row["seq"],
        room_id=row["room_id"],
        message_id=row["message_id"],
        kind=PINS,
        at=dialect.moment(row["created_at"]),
        pinned=bool(row["pinned"]),
    )


def preview_change_from_row(row: Row, dialect: Dialect) -> Change:
    return Change(
        seq=row["seq"],
        room_id=row["room_id"],
        message_id=row["message_id"],
        kind=PREVIEWS,
        at=dialect.moment(row["created_at"]),
        previews=previews_from_json(row["previews"]),
    )


async def insert_at_next_position(
    conn: Connection, postgres: str, sqlite: str, *values: object
) -> Row:
    """A change row of a table of its own (pins, previews), at the next position, under the
    positions lock: PostgreSQL numbers and stamps it by the columns' defaults (`postgres`
    takes `values`); SQLite moves the messages' counter on by one, its one writer
    (`sqlite` takes `values`, then the position and the time)."""
    if conn.dialect.pick(sqlite=False, postgres=True):
        row = await conn.fetchrow(postgres, *values)
    else:
        position = await conn.fetchval(_NEXT_POSITION_SQLITE)
        row = await conn.fetchrow(sqlite, *values, position, conn.dialect.now())
    assert row is not None
    return row


async def checked_message(
    conn: Connection, room_id: int, message_id: int, check: Check, *, actor_id: int | None = None
) -> Message:
    """The message, read under the positions lock (what the check sees stays true until
    the commit), if the check accepts it.

    PostgreSQL: the users the change's rows will refer to (the sender; `actor_id`, whom a
    reaction row names) are locked before any row is written. Deleting a user locks them
    FOR UPDATE and then deletes their messages: had we written a row of that message
    first, each would wait for the other (a deadlock). This way the change waits for the
    deletion, then finds the message gone."""
    writing = conn.dialect.pick(sqlite=_SQLITE, postgres=_POSTGRES)
    if writing.lock_positions is not None:
        await conn.execute(writing.lock_positions)
    if actor_id is not None and writing.lock_user is not None:
        await conn.execute(writing.lock_user, actor_id)
    row = await conn.fetchrow(writing.message, message_id, room_id)
    message = None if row is None else message_from_select(row, conn.dialect)
    check(message)
    assert message is not None, "the check refuses a message that does not exist"
    return message


async def _record(
    conn: Connection,
    message: Message,
    kind: str,
    *,
    body: str | None = None,
    reactions: str | None = None,
    mentions: str | None = None,
) -> Row:
    writing = conn.dialect.pick(sqlite=_SQLITE, postgres=_POSTGRES)
    values: tuple[object, ...] = (message.room_id, message.id, kind, body, reactions, mentions)
    if writing.next_position is not None:
        values += (await conn.fetchval(writing.next_position),)
    if writing.stamps:
        values += (conn.dialect.now(),)
    row = await conn.fetchrow(writing.insert_change, *values)
    assert row is not None
    return row


async def _edit(
    conn: Connection,
    room_id: int,
    message_id: int,
    text: str,
    check: Check,
    mentions: tuple[int, ...],
    mentions_room: bool,
) -> Change | None:
    message = await checked_message(conn, room_id, message_id, check)
    if message.body == text:
        return None
    stored = edit_mentions_to_json(mentions, mentions_room, message)
    row = await _record(conn, message, EDITED, body=text, mentions=stored)
    await conn.execute(_EDIT_MESSAGE, text, row["created_at"], message_id)
    await conn.execute(SET_MENTIONS, uids_to_json(mentions), mentions_room, message_id)
    await conn.execute(FORGET_MENTIONS, message_id)
    if mentions:
        await remember_mentions(conn, room_id, message_id, mentions)
    return change_from_row(row, conn.dialect)


async def _delete(conn: Connection, room_id: int, message_id: int, check: Check) -> Change | None:
    message = await checked_message(conn, room_id, message_id, check)
    if message.deleted:
        return None
    row = await _record(conn, message, DELETED)
    await conn.execute(TOMBSTONE_SQL, row["created_at"], message_id)
    await conn.execute(_ERASE_REACTIONS, message_id)
    await conn.execute(FORGET_MENTIONS, message_id)
    await conn.execute(DETACH_SQL, message_id)
    await conn.execute(_ERASE_CHANGES, message_id, row["seq"])
    await conn.execute(_UNPIN_DELETED, message_id)
    deleted = change_from_row(row, conn.dialect)
    if message.thread_id is None:
        return deleted
    # The thread's new summary takes the next position: the deletion's answer carries it.
    return replace(deleted, then=await recount(conn, message.thread_id))


async def _react(
    conn: Connection,
    room_id: int,
    message_id: int,
    user_id: int,
    emoji: str,
    add: bool,
    max_emoji: int,
    check: Check,
) -> Change | None:
    message = await checked_message(conn, room_id, message_id, check, actor_id=user_id)
    if add:
        counts = await conn.fetchrow(_EMOJI_COUNT, message_id, emoji)
        assert counts is not None  # an aggregate: always one row
        if not counts["this_emoji"] and counts["distinct_emoji"] >= max_emoji:
            raise InvalidInput(
                f"message {message_id} already has {max_emoji} different reactions:"
                " react with one of them"
            )
        writing = conn.dialect.pick(sqlite=_SQLITE, postgres=_POSTGRES)
        now = (conn.dialect.now(),) if writing.stamps else ()
        written = await conn.execute(writing.add_reaction, message_id, emoji, user_id, *now)
    else:
        written = await conn.execute(_TAKE_REACTION, message_id, emoji, user_id)
    if not written:
        return None  # reacted already, or never: nothing changes
    state = reactions_to_json(reactions_from_rows(await conn.fetch(_REACTION_STATE, message_id)))
    row = await _record(conn, message, REACTIONS, reactions=state)
    await conn.execute(_SET_REACTIONS, state, message_id)
    return change_from_row(row, conn.dialect)


async def _message_in_room(conn: Connection, room_id: int, message_id: int) -> Message | None:
    row = await conn.fetchrow(_MESSAGE_IN_ROOM, message_id, room_id)
    return None if row is None else (await messages_with_files(conn, [row]))[0]


async def _versions(conn: Connection, room_id: int, message_id: int) -> list[Version] | None:
    # One read, so the message and its edits are of one moment.
    async with conn.transaction(readonly=True):
        original = await conn.fetchrow(_ORIGINAL_VERSION, message_id, room_id)
        edits = await conn.fetch(_EDITS, message_id)
    if original is None:
        return None
    if original["deleted_at"] is not None:
        return []
    moment = conn.dialect.moment
    return [
        Version(original["body"], moment(original["created_at"])),
        *(Version(edit["body"], moment(edit["created_at"])) for edit in edits),
    ]


async def _room_changes(
    conn: Connection, room_id: int, after: int, before: int | None, limit: int
) -> list[Change]:
    below = NO_UPPER_BOUND if before is None else before
    # One snapshot, as `Messages.committed_after` reads the stream.
    async with conn.transaction(readonly=True):
        rows = await conn.fetch(_ROOM_CHANGES, room_id, after, below, limit)
        pin_rows = await conn.fetch(_ROOM_PIN_CHANGES, room_id, after, below, limit)
        thread_rows = await conn.fetch(_ROOM_THREAD_CHANGES, room_id, after, below, limit)
        preview_rows = await conn.fetch(_ROOM_PREVIEW_CHANGES, room_id, after, below, limit)
    changes = [change_from_row(row, conn.dialect) for row in rows]
    if pin_rows or thread_rows or preview_rows:
        changes += [pin_change_from_row(row, conn.dialect) for row in pin_rows]
        changes += [thread_change_from_row(row, conn.dialect) for row in thread_rows]
        changes += [preview_change_from_row(row, conn.dialect) for row in preview_rows]
        changes.sort(key=lambda change: change.seq, reverse=True)
    return changes[:limit]


class StoredChanges(StoreBase):
    """`Changes`: edits, deletions and reactions."""

    async def edit_message(
        self,
        room_id: int,
        message_id: int,
        text: str,
        check: Check,
        *,
        mentions: tuple[int, ...] = (),
        mentions_room: bool = False,
    ) -> Change | None:
        return await self.db.transaction(
            _edit, room_id, message_id, text, check, mentions, mentions_room
        )

    async def delete_message(self, room_id: int, message_id: int, check: Check) -> Change | None:
        return await self.db.transaction(_delete, room_id, message_id, check)

    async def react(
        self,
        room_id: int,
        message_id: int,
        user_id: int,
        emoji: str,
        *,
        add: bool,
        max_emoji: int,
        check: Check,
    ) -> Change | None:
        return await self.db.transaction(
            _react, room_id, message_id, user_id, emoji, add, max_emoji, check
        )

    async def message_in_room(self, room_id: int, message_id: int) -> Message | None:
        return await self.db.run(_message_in_room, room_id, message_id)

    async def message_versions(self, room_id: int, message_id: int) -> list[Version] | None:
        return await self.db.run(_versions, room_id, message_id)

    async def room_changes(
        self, room_id: int, *, after: int, before: int | None, limit: int
    ) -> list[Change]:
        return await self.db.run(_room_changes, room_id, after, before, limit)
