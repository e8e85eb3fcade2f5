"""The storage interface: records and the `Store` protocol both backends implement.

Everything the rest of the server knows about the database is in this module. The
SQLite and PostgreSQL stores pass the same tests (tests/test_store.py runs each test on
both), so the core never asks which one it has.

Cancellation: every method is safe to cancel. A write is one transaction that has either
committed or not when the cancellation arrives; the connection goes back to its pool in
a usable state either way.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

import trio

from .. import names

if TYPE_CHECKING:
    from ..metrics import Observer

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class User:
    id: int
    name: str
    email: str | None
    password_hash: str
    is_admin: bool
    created_at: datetime
    #: Tokens issued with an older version are revoked (sql/*/0006_token_versions.sql).
    token_version: int


@dataclass(frozen=True, slots=True)
class Message:
    """A stored message with its sender's name as of the moment it was read."""

    id: int
    room_id: int
    sender_id: int
    sender_name: str
    body: str
    created_at: datetime
    #: The sender's own id for the message, if it gave one (idempotent sends).
    client_msg_id: str | None = None

    @property
    def ts_ms(self) -> int:
        """Creation time as Unix milliseconds, the form the protocols send."""
        return int(self.created_at.timestamp() * 1000)


@dataclass(frozen=True, slots=True)
class Room:
    """A conversation. Kinds: "lobby" (the built-in public room), "group" (named rooms
    users create), "direct" (two users; `pair` holds their ids, lower first)."""

    id: int
    name: str | None
    kind: str
    is_private: bool
    creator_id: int | None
    created_at: datetime
    pair: tuple[int, int] | None = None


@dataclass(frozen=True, slots=True)
class NewMessage:
    """A message to store: which room, from whom, what it says; optionally the sender's
    own id for it, which makes storing it idempotent."""

    room_id: int
    sender_id: int
    body: str
    client_msg_id: str | None = None


@dataclass(frozen=True, slots=True)
class Added:
    """What storing a `NewMessage` gave: the stored message, and whether it is new. Not
    new means the sender already stored a message with the same `client_msg_id` in the
    same room: `message` is that original, and nothing was stored this time."""

    message: Message
    new: bool


@dataclass(frozen=True, slots=True)
class WaitingThread:
    """A support thread whose latest message is from its user (no operator answered yet)."""

    room: Room
    user_name: str
    last_message: Message


@dataclass(frozen=True, slots=True)
class PublicRoom:
    """A group room anyone may join (`Store.public_rooms`), with its member count."""

    id: int
    name: str
    members: int


@dataclass(frozen=True, slots=True)
class RoomDetails:
    """One of a user's rooms as their room list shows it (`Store.room_details`): the room,
    and for a direct conversation its two users' names, in `Room.pair`'s order."""

    room: Room
    pair_names: tuple[str, str] | None


@dataclass(frozen=True, slots=True)
class PoolUsage:
    """How busy a store's connections are (for metrics): `in_use` of its `size`
    connections are running statements, and `waiting` callers are queued for one."""

    size: int
    in_use: int
    waiting: int


def pool_usage(limiter: trio.CapacityLimiter) -> PoolUsage:
    """`PoolUsage` from the limiter with one token per connection that both stores keep."""
    stats = limiter.statistics()
    return PoolUsage(int(stats.total_tokens), stats.borrowed_tokens, stats.tasks_waiting)


@contextmanager
def observed(observer: Observer | None) -> Iterator[None]:
    """Time the block for `observer`, if any; a block that raises is not observed (a
    query cut short by a client that left says nothing about the database)."""
    started = time.perf_counter()
    yield
    if observer is not None:
        observer.observe(time.perf_counter() - started)


#: A result row: sqlite3.Row and asyncpg.Record both index by column name.
Row = Mapping[str, Any]
#: Turns a stored creation time into an aware datetime (each backend stores its own way).
ToDatetime = Callable[[Any], datetime]


def user_from_row(row: Row | None, to_datetime: ToDatetime) -> User | None:
    if row is None:
        return None
    return User(
        id=row["id"],
        name=row["name"],
        email=row["email"],
        password_hash=row["password_hash"],
        is_admin=bool(row["is_admin"]),
        created_at=to_datetime(row["created_at"]),
        token_version=row["token_version"],
    )


def room_from_row(row: Row | None, to_datetime: ToDatetime, prefix: str = "") -> Room | None:
    """From rooms LEFT JOIN direct_rooms (low_user_id, high_user_id); with `prefix`, from
    columns named ``<prefix>id``, ``<prefix>name``, ... (a room joined to something else)."""
    if row is None:
        return None
    low, high = row[prefix + "low_user_id"], row[prefix + "high_user_id"]
    return Room(
        id=row[prefix + "id"],
        name=row[prefix + "name"],
        kind=row[prefix + "kind"],
        is_private=bool(row[prefix + "is_private"]),
        creator_id=row[prefix + "creator_id"],
        created_at=to_datetime(row[prefix + "created_at"]),
        pair=None if low is None else (low, high),
    )


def message_from_row(row: Row, to_datetime: ToDatetime) -> Message:
    """From messages JOIN users (the sender's current name as sender_name)."""
    return Message(
        id=row["id"],
        room_id=row["room_id"],
        sender_id=row["sender_id"],
        sender_name=row["sender_name"],
        body=row["body"],
        created_at=to_datetime(row["created_at"]),
        client_msg_id=row["client_msg_id"],
    )


#: Every room's messages after a position, with their rooms (for `Store.committed_after`).
#: Both stores run this query; {after}, {before} and {limit} are their placeholders.
COMMITTED_AFTER_SQL = """
SELECT m.id, m.room_id, m.sender_id, u.name AS sender_name, m.body, m.created_at,
       m.client_msg_id, r.name AS room_name, r.kind AS room_kind,
       r.is_private AS room_is_private, r.creator_id AS room_creator_id,
       r.created_at AS room_created_at, d.low_user_id AS room_low_user_id,
       d.high_user_id AS room_high_user_id
FROM messages AS m
JOIN users AS u ON u.id = m.sender_id
JOIN rooms AS r ON r.id = m.room_id
LEFT JOIN direct_rooms AS d ON d.room_id = m.room_id
WHERE m.id > {after} AND m.id < {before}
ORDER BY m.id
LIMIT {limit}
"""


def committed_from_rows(rows: list[Row], to_datetime: ToDatetime) -> list[tuple[Message, Room]]:
    """`COMMITTED_AFTER_SQL` rows as (message, room) pairs; one `Room` per room."""
    rooms: dict[int, Room] = {}
    pairs = []
    for row in rows:
        room = rooms.get(row["room_id"])
        if room is None:
            room = rooms[row["room_id"]] = room_from_row(row, to_datetime, "room_")
        assert room is not None
        pairs.append((message_from_row(row, to_datetime), room))
    return pairs


#: Support threads waiting for an operator: the thread, its user's name and its latest
#: message, which is the user's. Both stores run this same query.
WAITING_SUPPORT_THREADS_SQL = """
SELECT r.id, r.name, r.kind, r.is_private, r.creator_id, r.created_at,
       NULL AS low_user_id, NULL AS high_user_id, u.name AS user_name,
       m.id AS message_id, m.body AS message_body, m.created_at AS message_created_at
FROM rooms AS r
JOIN users AS u ON u.id = r.creator_id
JOIN messages AS m ON m.id = (SELECT max(id) FROM messages WHERE room_id = r.id)
WHERE r.kind = 'support' AND m.sender_id = r.creator_id
ORDER BY m.id
LIMIT {limit}
"""


def waiting_thread_from_row(row: Row, to_datetime: ToDatetime) -> WaitingThread:
    room = room_from_row(row, to_datetime)
    assert room is not None and room.creator_id is not None
    message = Message(
        id=row["message_id"],
        room_id=room.id,
        sender_id=room.creator_id,
        sender_name=row["user_name"],
        body=row["message_body"],
        created_at=to_datetime(row["message_created_at"]),
    )
    return WaitingThread(room, row["user_name"], message)


#: Deleting a user (`Store.delete_user`): their messages everywhere; the rooms that were
#: theirs alone, their support thread and their direct conversations, with every message
#: in them; their memberships (ON DELETE CASCADE). Group rooms they created stay, with
#: no creator. Both stores run these statements in order in one transaction; {user} is
#: their placeholder for the user's id.
DELETE_USER_SQL = (
    """
    DELETE FROM messages WHERE sender_id = {user}
        OR room_id IN (SELECT id FROM rooms WHERE kind = 'support' AND creator_id = {user})
        OR room_id IN (SELECT room_id FROM direct_rooms
                       WHERE low_user_id = {user} OR high_user_id = {user})
    """,
    """
    DELETE FROM rooms WHERE (kind = 'support' AND creator_id = {user})
        OR id IN (SELECT room_id FROM direct_rooms
                  WHERE low_user_id = {user} OR high_user_id = {user})
    """,
    "UPDATE rooms SET creator_id = NULL WHERE creator_id = {user}",
    "DELETE FROM users WHERE id = {user}",
)


#: Moving a user's read marker in a room forward to a message of that room, in one
#: statement (safe when two connections mark at once: the upsert keeps the greater id).
#: No row comes back when the message is not in the room. {user}, {room}, {message} are
#: the stores' placeholders; {greatest} is GREATEST (PostgreSQL) or MAX (SQLite).
MARK_READ_SQL = """
INSERT INTO read_markers (user_id, room_id, message_id)
SELECT {user}, room_id, id FROM messages WHERE id = {message} AND room_id = {room}
ON CONFLICT (user_id, room_id)
DO UPDATE SET message_id = {greatest}(read_markers.message_id, excluded.message_id)
RETURNING message_id
"""

#: The most messages `UNREAD_COUNTS_SQL` counts in one room: past it, "at least this many".
UNREAD_CAP = 1000

#: Each room of a user's (the lobby and their memberships) with the number of messages
#: others sent there after the user's read marker, at most {cap} per room. One query:
#: each count is a range scan of messages_by_room (room_id, id) from the marker on,
#: stopped after {cap} rows. {user} and {lobby} are the stores' placeholders.
UNREAD_COUNTS_SQL = """
SELECT r.room_id,
       (SELECT count(*) FROM (
            SELECT 1 FROM messages AS m
            WHERE m.room_id = r.room_id AND m.id > coalesce(k.message_id, 0)
              AND m.sender_id <> {user}
            LIMIT {cap}) AS counted) AS unread
FROM (SELECT {lobby} AS room_id
      UNION SELECT room_id FROM room_members WHERE user_id = {user}) AS r
LEFT JOIN read_markers AS k ON k.user_id = {user} AND k.room_id = r.room_id
ORDER BY r.room_id
"""

#: Users whose name key starts with a prefix (a LIKE pattern, its wildcards escaped with
#: a backslash), the caller left out, by name (case aside). {pattern}, {caller} and {limit} are the
#: stores' placeholders.
USERS_BY_PREFIX_SQL = """
SELECT id, name FROM users
WHERE name_key LIKE {pattern} ESCAPE '\\' AND id <> {caller}
ORDER BY lower(name), id
LIMIT {limit}
"""

#: Group rooms that are not private, with their member counts: the most members first,
#: then the most recent message (rooms never written in last), then by name (case aside).
#: Members first because they are what a crowd of throwaway rooms lacks: one user can
#: post in their own rooms, but only other accounts can join them. The rooms come from
#: the partial index rooms_public (sql/*/*_public_rooms.sql), whatever the number of
#: direct conversations and private rooms; each count is a range of room_members'
#: primary key and each latest message one probe of messages_by_room (room_id, id).
PUBLIC_ROOMS_SQL = """
SELECT r.id, r.name,
       (SELECT count(*) FROM room_members AS m WHERE m.room_id = r.id) AS members,
       (SELECT coalesce(max(g.id), 0) FROM messages AS g WHERE g.room_id = r.id) AS latest
FROM rooms AS r
WHERE r.kind = 'group' AND NOT r.is_private
ORDER BY members DESC, latest DESC, lower(r.name), r.id
LIMIT {limit}
"""

#: A user's rooms for their room list, in one query: the lobby first, then every room
#: they are a member of, by id, each with its direct_rooms pair and the pair's names.
#: {user} and {lobby} are the stores' placeholders.
ROOM_DETAILS_SQL = """
SELECT r.id, r.name, r.kind, r.is_private, r.creator_id, r.created_at,
       d.low_user_id, d.high_user_id, lo.name AS low_name, hi.name AS high_name
FROM (SELECT {lobby} AS room_id
      UNION SELECT room_id FROM room_members WHERE user_id = {user}) AS mine
JOIN rooms AS r ON r.id = mine.room_id
LEFT JOIN direct_rooms AS d ON d.room_id = r.id
LEFT JOIN users AS lo ON lo.id = d.low_user_id
LEFT JOIN users AS hi ON hi.id = d.high_user_id
ORDER BY r.id <> {lobby}, r.id
"""


def room_details_from_row(row: Row, to_datetime: ToDatetime) -> RoomDetails:
    room = room_from_row(row, to_datetime)
    assert room is not None
    names = None if room.pair is None else (row["low_name"], row["high_name"])
    return RoomDetails(room, names)


#: The user whose support thread holds the newest message that is either from that
#: user or from the operator {operator}: whom "answer the latest thread" answers.
LATEST_SUPPORT_USER_SQL = """
SELECT r.creator_id
FROM messages AS m JOIN rooms AS r ON r.id = m.room_id
WHERE r.kind = 'support' AND (m.sender_id = r.creator_id OR m.sender_id = {operator})
ORDER BY m.id DESC
LIMIT 1
"""


def like_prefix(prefix: str) -> str:
    """A LIKE pattern matching strings that start with `prefix` literally (escaped with
    a backslash: `%` and `_` are not wildcards here)."""
    escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "%"


#: A user's name keys (sql/*/0005_name_keys.sql), by column, and how each is computed.
NAME_KEYS: dict[str, Callable[[str], str]] = {
    "name_key": names.name_key,
    "look_key": names.look_key,
}


def name_keys(name: str) -> dict[str, str]:
    """`name`'s keys, by column."""
    return {column: key_of(name) for column, key_of in NAME_KEYS.items()}


def assign_name_keys(
    column: str, unkeyed: Sequence[tuple[int, str, str]], holders: Mapping[str, str]
) -> list[tuple[int, str]]:
    """Which users without a key in `column` get one when the store opens.

    `unkeyed` holds (id, name, key) for each user without one, oldest first; `holders`
    maps each of those keys that a user already holds to that user's name. Returns (id,
    key) for the users to update. A key goes to whoever already holds it, else to the
    oldest user whose name has it; the others keep none, with a warning: their names
    pass for another user's. They still log in by their exact name; the warning comes
    back at every start until one of the two is renamed.
    """
    taken = dict(holders)
    assigned = []
    for user_id, name, key in unkeyed:
        holder = taken.get(key)
        if holder is not None:
            log.warning(
                "user %d's name %r passes for %r, which was registered first: it keeps no"
                " %s (so it blocks no look-alike) until one of them is renamed",
                user_id,
                name,
                holder,
                column,
            )
            continue
        taken[key] = name
        assigned.append((user_id, key))
    return assigned


class Store(Protocol):
    """What the chat core needs from a database."""

    #: The id of the built-in public room (kind "lobby") that carries TokenTalker traffic.
    lobby_id: int
    #: Observes the latency of each history query (`messages_before`); `serve` sets it.
    history_seconds: Observer | None

    def pool_usage(self) -> PoolUsage:
        """How many of its connections are in use now. Never waits."""

    async def ping(self) -> None:
        """Return when the database answers a trivial query; raise otherwise."""

    async def create_user(
        self, name: str, password_hash: str, *, email: str | None = None, is_admin: bool = False
    ) -> User:
        """Insert a user, with its name's keys (`NAME_KEYS`). Raises `NameTaken` (the
        name, or one of its keys, is taken) or `EmailTaken` (chat.errors). The store
        takes any name: chat.names.new_user_name is the check."""

    async def user_by_name(self, name: str) -> User | None:
        """The user called exactly `name`."""

    async def user_like_name(self, name: str) -> User | None:
        """The user called exactly `name`, else the one whose name has `name`'s
        `name_key` (chat.names: the same name in another case, or in look-alike letters)."""

    async def user_by_id(self, user_id: int) -> User | None: ...

    async def user_by_email(self, email: str) -> User | None:
        """`email` must already be lower-case (validation.email does that)."""

    async def rename_user(self, user_id: int, name: str) -> User:
        """Change a user's name and its keys. Raises `NameTaken`, as `create_user`."""

    async def change_password(self, user_id: int, old_hash: str, new_hash: str) -> User | None:
        """Replace the user's password hash, if it still is `old_hash`, with `new_hash` and
        revoke every token issued so far (token_version + 1), in one statement. None when
        nothing changed: the hash is no longer `old_hash` (changed meanwhile by another
        request, which the caller's check of the old password did not see), or the user
        is gone."""

    async def revoke_tokens(self, user_id: int) -> int:
        """Revoke every token issued so far to the user (token_version + 1); returns the
        new version. Raises `Gone` if the user no longer exists."""

    async def token_versions(self, user_ids: Collection[int]) -> dict[int, int]:
        """The current token version of each of these users, in one query; users that no
        longer exist are absent."""

    # --- administration (`chat user`) ---

    async def users(self) -> list[User]:
        """Every user, oldest first."""

    async def set_password(self, user_id: int, new_hash: str) -> User | None:
        """Replace the user's password hash, whatever it was, and revoke every token
        issued so far (token_version + 1), in one statement. None if the user is gone."""

    async def set_admin(self, user_id: int, is_admin: bool) -> User | None:
        """Make the user an operator, or not; None if the user is gone."""

    async def delete_user(self, user_id: int) -> bool:
        """Delete the user as `DELETE_USER_SQL` says, all or nothing; False if there was
        no such user. Running servers notice at their next revocation sweep."""

    # --- rooms ---

    async def create_room(self, name: str, *, is_private: bool, creator_id: int) -> Room:
        """A new group room with its creator as the first member. Raises `RoomNameTaken`."""

    async def room_by_id(self, room_id: int) -> Room | None: ...

    async def add_member(self, room_id: int, user_id: int) -> None:
        """Idempotent: adding a member twice is not an error."""

    async def is_member(self, room_id: int, user_id: int) -> bool: ...

    async def rooms_of(self, user_id: int) -> list[int]:
        """Ids of the rooms the user is a member of, ascending."""

    async def room_details(self, user_id: int, lobby_id: int) -> list[RoomDetails]:
        """The lobby, then each room the user is a member of by id, as `ROOM_DETAILS_SQL`
        reads them: one query, however many rooms."""

    async def direct_room(self, user_a: int, user_b: int, *, create: bool) -> Room | None:
        """The pair's direct room. With `create`, made (with both as members) on first
        use, safely against two instances creating it at once: both get the same room.
        Without, None if the pair has none yet."""

    async def public_rooms(self, limit: int) -> list[PublicRoom]:
        """Up to `limit` group rooms that are not private, with member counts, in
        `PUBLIC_ROOMS_SQL`'s order (the most members first)."""

    # --- login addresses (chat/store/login_addresses.py) ---

    async def remember_login_address(self, user_id: int, address: str) -> None:
        """`user_id` has just logged in from `address`: keep it among their newest
        addresses (an address over `MAX_ADDRESS_CHARS` is not kept)."""

    async def is_login_address(self, user_id: int, address: str) -> bool:
        """Whether `user_id` has logged in from `address` (one of the newest kept)."""

    # --- read markers ---

    async def mark_read(self, user_id: int, room_id: int, message_id: int) -> int | None:
        """Move the user's marker in the room up to `message_id` (never back: an older id
        leaves it where it is); the marker as stored. None if the room has no such
        message."""

    async def unread_counts(self, user_id: int, lobby_id: int) -> list[tuple[int, int]]:
        """(room id, unread) for the lobby and each room the user is a member of, by id:
        messages from others after the user's marker, at most `UNREAD_CAP`."""

    # --- finding people ---

    async def users_by_prefix(
        self, key_prefix: str, *, caller_id: int, limit: int
    ) -> list[tuple[int, str]]:
        """(id, name) of up to `limit` users but the caller whose `name_key` starts with
        `key_prefix` (taken literally), by name."""

    # --- support threads ---

    async def support_room(self, user_id: int, *, create: bool) -> Room | None:
        """The user's support thread (kind "support", `creator_id` the user, who is its
        only member). With `create`, made on first use, race-safely; else None if absent."""

    async def latest_support_user(self, operator_id: int) -> int | None:
        """The user `LATEST_SUPPORT_USER_SQL` names, or None if no thread has a message
        from its user or from that operator."""

    async def waiting_support_threads(self, limit: int) -> list[WaitingThread]:
        """Up to `limit` support threads whose latest message is from their user, the
        longest-waiting first."""

    # --- messages ---

    async def add_messages(self, rows: list[NewMessage]) -> list[Added]:
        """Insert several messages in one transaction, in order (their ids increase in
        the order of `rows`), and return them once committed, one `Added` per row. All or
        nothing. A row whose `client_msg_id` its sender already used in that room is not
        stored again: its `Added` carries the original (`new` is False).

        Ids commit in id order: once this returns, every message with a lower id has
        committed or never will (PostgreSQL: a lock taken before the ids, see
        sql/postgres/0004_cluster.sql; SQLite: one writer at a time)."""

    async def last_message_id(self) -> int:
        """The highest message id committed so far (0 when there are none)."""

    async def committed_after(
        self, after_id: int, *, before_id: int | None = None, limit: int
    ) -> list[tuple[Message, Room]]:
        """Every room's messages with ``after_id < id < before_id``, oldest first, at most
        `limit`, each with its room: how an instance catches up with what others stored."""

    async def latest_messages(self, room_id: int, limit: int) -> list[Message]:
        """The `limit` newest messages of a room, oldest first."""

    async def messages_before(
        self, room_id: int, before_id: int | None, limit: int, *, after_id: int = 0
    ) -> list[Message]:
        """A page of a room's messages, newest first: the `limit` newest with an id below
        `before_id` (or the newest of all when it is None) and above `after_id`."""
