"""The storage interface: records and the `Store` protocol both backends implement.

Everything the rest of the server knows about the database is in this module. The
SQLite and PostgreSQL stores pass the same tests (tests/test_store.py runs each test on
both), so the core never asks which one it has.

Cancellation: every method is safe to cancel. A write is one transaction that has either
committed or not when the cancellation arrives; the connection goes back to its pool in
a usable state either way.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class User:
    id: int
    name: str
    email: str | None
    password_hash: str
    is_admin: bool
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Message:
    """A stored message with its sender's name as of the moment it was read."""

    id: int
    room_id: int
    sender_id: int
    sender_name: str
    body: str
    created_at: datetime

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
    """A message to store: which room, from whom, what it says."""

    room_id: int
    sender_id: int
    body: str


@dataclass(frozen=True, slots=True)
class WaitingThread:
    """A support thread whose latest message is from its user (no operator answered yet)."""

    room: Room
    user_name: str
    last_message: Message


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
    )


def room_from_row(row: Row | None, to_datetime: ToDatetime) -> Room | None:
    """From rooms LEFT JOIN direct_rooms (low_user_id, high_user_id)."""
    if row is None:
        return None
    pair = None if row["low_user_id"] is None else (row["low_user_id"], row["high_user_id"])
    return Room(
        id=row["id"],
        name=row["name"],
        kind=row["kind"],
        is_private=bool(row["is_private"]),
        creator_id=row["creator_id"],
        created_at=to_datetime(row["created_at"]),
        pair=pair,
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
    )


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


class Store(Protocol):
    """What the chat core needs from a database."""

    #: The id of the built-in public room (kind "lobby") that carries TokenTalker traffic.
    lobby_id: int

    async def ping(self) -> None:
        """Return when the database answers a trivial query; raise otherwise."""

    async def create_user(
        self, name: str, password_hash: str, *, email: str | None = None, is_admin: bool = False
    ) -> User:
        """Insert a user. Raises `NameTaken` or `EmailTaken` (chat.errors) on a duplicate."""

    async def user_by_name(self, name: str) -> User | None: ...

    async def user_by_id(self, user_id: int) -> User | None: ...

    async def user_by_email(self, email: str) -> User | None:
        """`email` must already be lower-case (validation.email does that)."""

    async def rename_user(self, user_id: int, name: str) -> User:
        """Change a user's name. Raises `NameTaken`."""

    # --- rooms ---

    async def create_room(self, name: str, *, is_private: bool, creator_id: int) -> Room:
        """A new group room with its creator as the first member. Raises `RoomNameTaken`."""

    async def room_by_id(self, room_id: int) -> Room | None: ...

    async def add_member(self, room_id: int, user_id: int) -> None:
        """Idempotent: adding a member twice is not an error."""

    async def is_member(self, room_id: int, user_id: int) -> bool: ...

    async def rooms_of(self, user_id: int) -> list[int]:
        """Ids of the rooms the user is a member of, ascending."""

    async def direct_room(self, user_a: int, user_b: int, *, create: bool) -> Room | None:
        """The pair's direct room. With `create`, made (with both as members) on first
        use, safely against two instances creating it at once: both get the same room.
        Without, None if the pair has none yet."""

    # --- support threads ---

    async def support_room(self, user_id: int, *, create: bool) -> Room | None:
        """The user's support thread (kind "support", `creator_id` the user, who is its
        only member). With `create`, made on first use, race-safely; else None if absent."""

    async def waiting_support_threads(self, limit: int) -> list[WaitingThread]:
        """Up to `limit` support threads whose latest message is from their user, the
        longest-waiting first."""

    # --- messages ---

    async def add_message(self, room_id: int, sender_id: int, body: str) -> Message:
        """Insert a message and return it once committed."""

    async def add_messages(self, rows: list[NewMessage]) -> list[Message]:
        """Insert several messages in one transaction, in order (their ids increase in
        the order of `rows`), and return them once committed. All or nothing."""

    async def latest_messages(self, room_id: int, limit: int) -> list[Message]:
        """The `limit` newest messages of a room, oldest first."""

    async def messages_before(
        self, room_id: int, before_id: int | None, limit: int
    ) -> list[Message]:
        """A page of a room's messages, newest first: the `limit` newest with an id below
        `before_id` (or the newest of all when it is None)."""
