"""The records the store hands out and takes in: users, rooms, messages and the shapes
built from them. Plain frozen dataclasses, the same for both backends."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import Enum

from chat.core.link_previews import LinkPreview
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
    #: The name shown on their messages (None: none, the login name is shown).
    display_name: str | None = None
    #: Their avatar's storage key and type (`chat.app.people.avatars`; None: none).
    avatar_key: str | None = None
    avatar_type: str | None = None
    #: "person", or "bot" (a bot account, `owner_id`'s: chat/app/accounts/bots.py).
    kind: str = "person"
    owner_id: int | None = None
    #: When an operator deactivated the account (None: it is active).
    deactivated_at: datetime | None = None

    @property
    def active(self) -> bool:
        return self.deactivated_at is None


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
class ThreadSummary:
    """A thread as its root shows it: how many replies it has now (deleted ones not
    counted), when the newest of them was sent (None once none shows), and who replied
    (at most `MAX_THREAD_PARTICIPANTS` UIDs, in the order each first replied)."""

    replies: int
    last_reply_at: datetime | None
    participants: tuple[int, ...]


#: The most repliers a thread's summary names.
MAX_THREAD_PARTICIPANTS = 10


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
    #: Its sender's display name as of the moment it was read (None: none).
    sender_display_name: str | None = None
    #: Its sender's avatar's key as of the moment it was read (None: none).
    sender_avatar: str | None = None
    #: Whether its sender is a bot account (shown with a BOT badge).
    sender_is_bot: bool = False
    #: The root of the thread it replies in (None: a message of the main timeline only).
    thread_id: int | None = None
    #: A thread reply also sent to the main timeline.
    also_to_room: bool = False
    #: A thread root's summary, as read with it (None: no thread, or not read: a new
    #: message has none; a `THREAD` change brings the next).
    thread: ThreadSummary | None = None
    #: Previews of its first links (`chat.core.link_previews`): none until a
    #: `PREVIEWS` change brings them.
    previews: tuple[LinkPreview, ...] = ()

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
    def in_main_timeline(self) -> bool:
        """Whether the room's main timeline shows it: a message outside any thread, or a
        thread reply also sent to the room (the store's
        `chat.store.message_rows.MAIN_TIMELINE_SQL`)."""
        return self.thread_id is None or self.also_to_room

    @property
    def ts_ms(self) -> int:
        """Creation time as Unix milliseconds, the form the protocols send."""
        return int(self.created_at.timestamp() * 1000)


#: The kind of a `Change` that pins or unpins a message.
PINS = "pins"
#: The kind of a `Change` that gives a thread root's new summary.
THREAD = "thread"


@dataclass(frozen=True, slots=True)
class Change:
    """A committed change to a message of `room_id`: "edited" (`text` is the new text),
    "deleted", "reactions" (`reactions` is the message's whole reaction state after
    it), "pins" (`pinned`: whether it pinned or unpinned the message), or "thread"
    (`thread`: the summary of the thread the message roots, after a reply was stored or
    deleted). `seq` is its position in the same sequence as message ids."""

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
    #: A pin change's: True pinned the message, False unpinned it (None for other kinds).
    pinned: bool | None = None
    #: A thread change's: the root's summary now (None for other kinds).
    thread: ThreadSummary | None = None
    #: A previews change's: the message's previews now (None for other kinds; empty:
    #: removed).
    previews: tuple[LinkPreview, ...] | None = None
    #: The change the same commit made next, to publish after this one: a deleted thread
    #: reply's thread summary (only as the store answers; never published).
    then: Change | None = None

    @property
    def position(self) -> int:
        """Its place in the stream of messages and changes (`Message.position`)."""
        return self.seq


@dataclass(frozen=True, slots=True)
class PinnedMessage:
    """A message pinned in its room: the message as it is now, who pinned it (None: an
    account deleted since) and when. `seq` is the position of the change that pinned it:
    a room's pins are listed by it, newest first."""

    message: Message
    pinned_by: int | None
    pinned_by_name: str | None
    pinned_at: datetime
    seq: int


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
    #: Taken out by a ban (until `until`; None: until lifted), not a removal or a leave.
    banned: bool = False
    until: datetime | None = None

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
    users create), "direct" (two users, `pair` their ids, lower first; or a group direct
    conversation of 3 to 10, `pair` None: `is_group_direct`), "support"."""

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
    #: Whether links in its messages are previewed (its moderators may turn it off).
    link_previews: bool = True
    #: Archived by its owners: read-only, out of the directory (`chat.app.rooms.lifecycle`).
    archived: bool = False

    @property
    def is_group_direct(self) -> bool:
        """A direct conversation of 3 to 10 people (no pair: its members are its people)."""
        return self.kind == "direct" and self.pair is None


class Addition(Enum):
    """What adding someone to a group direct conversation did (`DirectGroups`)."""

    ADDED = "added"
    #: They were a member already: nothing changed.
    MEMBER = "member"
    #: The conversation has as many members as it may: nothing changed.
    FULL = "full"
    #: The room is not a group direct conversation.
    NOT_A_GROUP = "not a group"


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
    and for a direct conversation its two users' names, in `Room.pair`'s order (a group
    direct conversation's members: `members`)."""

    room: Room
    pair_names: tuple[str, str] | None
    #: The notification level the user set for the room (None: its kind's default).
    notification_level: str | None = None
    #: The user's role in the room: "owner", "moderator" or "member" (the lobby, direct
    #: conversations and support threads: "member").
    role: str = "member"
    #: A direct conversation whose other account was erased: nobody can write in it.
    closed: bool = False
    #: A group direct conversation's members, (UID, name) by UID (None: another kind).
    members: tuple[tuple[int, str], ...] | None = None


@dataclass(frozen=True, slots=True)
class PoolUsage:
    """How busy a store's connections are (for metrics): `in_use` of its `size`
    connections are running statements, and `waiting` callers are queued for one."""

    size: int
    in_use: int
    waiting: int


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
class SavedMessage:
    """A message a user saved for themselves (`Saved`), as it is now, with its room's
    name and kind (None: a direct conversation's or support thread's, which have none)."""

    saved_id: int
    saved_at: datetime
    room_name: str | None
    room_kind: str
    message: Message


@dataclass(frozen=True, slots=True)
class Identity:
    """Who a connection or request acts as, established from a verified token."""

    user_id: int
    name: str
    is_admin: bool
    #: The token's version, current when the token was verified. A session whose
    #: version falls behind its user's is closed (`chat.app.accounts.revocations`).
    token_version: int
    #: The browser session it was proved by (its cookie, or a token that session issued;
    #: None: neither): ending that session closes the connection.
    session_id: str | None = None
    #: The personal access token it was proved by (`chat.core.api_tokens`), and what that
    #: token may do (None: a login's, which may do anything its user may).
    token_id: str | None = None
    scopes: frozenset[str] | None = None

    @property
    def may_write(self) -> bool:
        """Whether it may send or change anything (a ``read`` token may not)."""
        return self.scopes is None or "write" in self.scopes
