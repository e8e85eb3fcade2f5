"""The records the store hands out and takes in: users, rooms, messages and the shapes
built from them. Plain frozen dataclasses, the same for both backends."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from chat.core.outgoing import OutgoingMessage


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
class Reaction:
    """One emoji's reactions to a message: how many users reacted with it, and the first
    `chat.store.changes.MAX_REACTION_UIDS` of them."""

    emoji: str
    count: int
    uids: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class FileRef:
    """A file as a message carries it: what a client needs to show it (`Width` and
    `Height` for images, which have a thumbnail)."""

    id: str
    name: str
    size: int
    content_type: str
    width: int | None = None
    height: int | None = None


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
    #: The id of the message of the same room this one answers, if it is a reply.
    reply_to: int | None = None
    #: When its text was last edited (None: never).
    edited_at: datetime | None = None
    #: A tombstone: deleted, its text erased (`body` is "").
    deleted: bool = False
    #: Its current reactions, in the order each emoji was first used.
    reactions: tuple[Reaction, ...] = ()
    #: The users its text mentions by name (``@name``), in the order first named.
    mentions: tuple[int, ...] = ()
    #: Whether its text mentions the whole room (``@room``): every member is mentioned.
    mentions_room: bool = False
    #: The files it carries, in the order its sender listed them.
    files: tuple[FileRef, ...] = ()

    def mentions_user(self, user_id: int) -> bool:
        """Whether it mentions `user_id`, by name or through ``@room`` (the caller knows
        the user is a member); a sender never mentions themself through ``@room``."""
        if user_id in self.mentions:
            return True
        return self.mentions_room and user_id != self.sender_id

    @property
    def position(self) -> int:
        """Its place in the stream of messages and changes (`Change.position`)."""
        return self.id

    @property
    def ts_ms(self) -> int:
        """Creation time as Unix milliseconds, the form the protocols send."""
        return int(self.created_at.timestamp() * 1000)


@dataclass(frozen=True, slots=True)
class Change:
    """A committed change to a message of `room_id`: "edited" (`text` is the new text),
    "deleted", or "reactions" (`reactions` is the message's whole reaction state after
    it). `seq` is its position in the same sequence as message ids."""

    seq: int
    room_id: int
    message_id: int
    kind: str
    at: datetime
    text: str | None = None
    reactions: tuple[Reaction, ...] = ()
    #: An edit's mentions: those of the new text (as `Message.mentions`, `mentions_room`).
    mentions: tuple[int, ...] = ()
    mentions_room: bool = False
    #: An edit's newly mentioned: `EditedMentions` (None for other kinds, and for an edit
    #: that mentions nobody new).
    newly: EditedMentions | None = None

    @property
    def position(self) -> int:
        """Its place in the stream of messages and changes (`Message.position`)."""
        return self.seq


@dataclass(frozen=True, slots=True)
class EditedMentions:
    """Who an edit mentions that the text before it did not: users newly named
    (`uids`), or, when ``@room`` is new (`room`), every member but the author and those
    mentioned before (`before`). Only the newly mentioned are notified."""

    author_id: int
    uids: tuple[int, ...] = ()
    room: bool = False
    before: tuple[int, ...] = ()

    def mentions_user(self, user_id: int) -> bool:
        """Whether the edit newly mentions `user_id` (a member of the room)."""
        if user_id in self.uids:
            return True
        return self.room and user_id != self.author_id and user_id not in self.before


@dataclass(frozen=True, slots=True)
class Departure:
    """A member leaving group room `room_id` (removed or banned by `by_id`, or leaving:
    `by_id` is themselves), at `seq`, a position in the same sequence as messages and
    changes: every instance applies it in that order, dropping the member's connections
    out of the room before it delivers anything positioned after it."""

    seq: int
    room_id: int
    user_id: int
    by_id: int
    by_name: str
    reason: str
    at: datetime

    @property
    def position(self) -> int:
        """Its place in the stream of messages and changes (`Message.position`)."""
        return self.seq


#: What the stream of one chat carries, in position order: messages, changes to them,
#: and members leaving rooms.
StreamItem = Message | Change | Departure


@dataclass(frozen=True, slots=True)
class Version:
    """One version of a message's text: the original, or an edit, and when it was made."""

    text: str
    at: datetime


# A weak reference slot: the service shares one object per room among its readers
# (`ChatService.room`).
@dataclass(frozen=True, slots=True, weakref_slot=True)
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
    #: A group room's topic ("" when none) and slow mode (0: off), set by its
    #: moderators (`chat.app.rooms.moderation`). Rooms read with messages from the stream
    #: leave them at these defaults: who hears of a message does not depend on them.
    topic: str = ""
    slow_mode_seconds: int = 0
    #: Days the room keeps its messages (None: as the server does, `CHAT_RETENTION_DAYS`);
    #: set by its owners (`chat.app.messages.retention`).
    retention_days: int | None = None


@dataclass(frozen=True, slots=True)
class NewMessage:
    """A message to store: which room, from whom, and what it says (`outgoing`, checked by
    the caller: see `chat.core.outgoing`). A `client_msg_id` makes storing it
    idempotent; the store checks again, as it attaches them, that its files are the
    sender's and not attached yet."""

    room_id: int
    sender_id: int
    outgoing: OutgoingMessage


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
    """A group room anyone may join (`Rooms.public_rooms`), with its member count."""

    id: int
    name: str
    members: int


@dataclass(frozen=True, slots=True)
class RoomDetails:
    """One of a user's rooms as their room list shows it (`Rooms.room_details`): the room,
    and for a direct conversation its two users' names, in `Room.pair`'s order."""

    room: Room
    pair_names: tuple[str, str] | None
    #: The notification level the user set for the room (None: its kind's default).
    notification_level: str | None = None
    #: The user's role in the room: "owner", "moderator" or "member" (the lobby, direct
    #: conversations and support threads: "member").
    role: str = "member"


@dataclass(frozen=True, slots=True)
class PoolUsage:
    """How busy a store's connections are (for metrics): `in_use` of its `size`
    connections are running statements, and `waiting` callers are queued for one."""

    size: int
    in_use: int
    waiting: int


@dataclass(frozen=True, slots=True)
class SessionRecord:
    """A browser session as stored (sql/*/00NN_sessions.sql; `chat.app.accounts.sessions`
    decides)."""

    id: str
    user_id: int
    #: SHA-256 (hex) of the current secret, and of the one before it (None before the
    #: first rotation).
    secret_hash: str
    previous_hash: str | None
    #: How many times the secret was rotated.
    generation: int
    #: The user's token version when the session was made: good only while it is current.
    token_version: int
    remember: bool
    #: Unix seconds.
    created_at: int
    rotated_at: int
    last_used_at: int
    expires_at: int
    revoked_at: int | None


@dataclass(frozen=True, slots=True)
class PushSubscription:
    """A browser that asked for Web Push (RFC 8030): where its push service takes
    messages for it, and the keys they are encrypted for (RFC 8291), as it gave them
    (base64url)."""

    id: int
    user_id: int
    endpoint: str
    p256dh: str
    auth: str


@dataclass(frozen=True, slots=True)
class PushCandidate:
    """A subscription whose user may read a room and would hear of a message there:
    their level in that room (the one they set, else the room's default)."""

    subscription: PushSubscription
    level: str


@dataclass(frozen=True, slots=True)
class StoredFile:
    """An uploaded file's record (its bytes are in the file storage, `storage_key`)."""

    id: str
    uploader_id: int
    name: str
    size: int
    content_type: str
    sha256: str
    created_at: datetime
    width: int | None = None
    height: int | None = None
    #: The thumbnail's content type (None: no thumbnail).
    thumbnail_type: str | None = None
    attached: bool = False

    @property
    def storage_key(self) -> str:
        """Where its bytes are: named by their content, and by the record (never shared)."""
        return f"{self.sha256}.{self.id}"

    @property
    def thumbnail_key(self) -> str:
        return f"{self.sha256}.{self.id}.thumbnail"

    @property
    def ref(self) -> FileRef:
        return FileRef(self.id, self.name, self.size, self.content_type, self.width, self.height)


@dataclass(frozen=True, slots=True)
class SearchFilter:
    """What `Search.search_messages` looks for (chat/app/messages/search.py builds it): every
    one of `words` (three characters or more: the index finds them) and of `short_words`
    (one or two: checked on the rows the index found) as a case-insensitive substring of
    a message's present text, in the rooms `user_id` may read (`admin`: every support
    thread too), older than `before_id`, in `room_id` and from `sender_id` when set. The
    database stops it past `time_limit_s` (`chat.store.database.StatementTimeout`)."""

    user_id: int
    admin: bool
    words: tuple[str, ...]
    short_words: tuple[str, ...] = ()
    room_id: int | None = None
    sender_id: int | None = None
    before_id: int | None = None
    limit: int = 20
    time_limit_s: float = 2.0


@dataclass(frozen=True, slots=True)
class Restriction:
    """A ban from a room, or a mute in one (`Moderation`): whom, why, until when (None:
    a ban until lifted), by whom (None: that user was deleted), since when."""

    room_id: int
    user_id: int
    user_name: str
    reason: str
    until: datetime | None
    by_id: int | None
    by_name: str | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One line of the audit log (`Moderation.audit_entries`): who did what to whom,
    when and why. Names are as they were then. `id` is 0 until stored."""

    room_id: int | None
    action: str
    actor_id: int
    actor_name: str
    target_id: int | None = None
    target_name: str | None = None
    message_id: int | None = None
    reason: str = ""
    #: What else the action says ({"Role": ...}, {"Until": ...}, the settings changed):
    #: JSON-ready values only.
    details: dict[str, Any] = field(default_factory=dict)
    id: int = 0
    created_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Report:
    """A report of a message (`Reports`), with the message as it is now."""

    id: int
    room_id: int
    message: Message
    reporter_id: int
    reporter_name: str
    reason: str
    status: str
    created_at: datetime
    decided_by: int | None
    decided_by_name: str | None
    decided_at: datetime | None


@dataclass(frozen=True, slots=True)
class RetentionRoom:
    """A room as the retention task sees it (`Retention.retention_rooms`): its own
    retention in days (None: the server's), and when its oldest message was created
    (None: it has none)."""

    room_id: int
    retention_days: int | None
    oldest: datetime | None


@dataclass(frozen=True, slots=True)
class ExpiredBatch:
    """What one batch of `Retention.delete_expired` did: messages deleted, files they
    carried (now detached, for the collector), and whether the room has no expired
    message left."""

    deleted: int
    files: int
    done: bool
    #: The newest message deleted (0: none): every message of the room up to it is gone.
    last_id: int = 0
    #: How long the transaction held the writer, from its lock taken to its commit
    #: (measured by the store, in its thread or connection).
    held_seconds: float = 0.0


@dataclass(frozen=True, slots=True)
class Identity:
    """Who a connection or request acts as, established from a verified token."""

    user_id: int
    name: str
    is_admin: bool
    #: The token's version, current when the token was verified. A session whose
    #: version falls behind its user's is closed (`chat.app.accounts.revocations`).
    token_version: int
