"""What the chat core needs from a database, as a few roles by concern.

Each component depends on the roles it uses (`MessageWriter` on `Messages`, the
revocation sweep on `Accounts`, the health probe on `Operations`), so a new feature adds
to one role and one module per backend, and a fast test of a component needs a fake of
its roles only (tests/memory_messages.py). `Store` is every role at once: what the
backends implement and what the wiring (chat/server.py, chat/cli.py) opens.

The SQLite and PostgreSQL stores pass the same tests (tests/test_store.py runs each test
on both), so the core never asks which one it has.

Cancellation: every method is safe to cancel. A write is one transaction that has either
committed or not when the cancellation arrives; the connection goes back to its pool in
a usable state either way.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from .records import (
    Added,
    AuditEntry,
    Change,
    ExpiredBatch,
    Message,
    NewMessage,
    PoolUsage,
    PublicRoom,
    PushCandidate,
    PushSubscription,
    Report,
    Restriction,
    RetentionRoom,
    Room,
    RoomDetails,
    SearchFilter,
    SessionRecord,
    StoredFile,
    User,
    Version,
    WaitingThread,
)

if TYPE_CHECKING:
    from ..metrics import Observer
    from .shared.changes import Check

#: Given what a batch stored, the notifications (channel, payload) to send once it is
#: committed (`Messages.add_messages`).
Notifications = Callable[[list[Added]], list[tuple[str, str]]]


class Accounts(Protocol):
    """Users: registration, names, passwords, operators, token versions, the addresses
    they log in from, and finding them by name. An erased account (`AccountData`) is
    found by none of these: its row only names the sender of its tombstones."""

    async def create_user(
        self, name: str, password_hash: str, *, email: str | None = None, is_admin: bool = False
    ) -> User:
        """Insert a user, with its name's keys (`shared.accounts.NAME_KEYS`). Raises
        `NameTaken` (the name, or one of its keys, is taken) or `EmailTaken`
        (chat.errors). The store takes any name: chat.names.new_user_name is the check."""

    async def user_by_name(self, name: str) -> User | None:
        """The user called exactly `name`."""

    async def user_like_name(self, name: str) -> User | None:
        """The user called exactly `name`, else the one whose name has `name`'s
        `name_key` (chat.names: the same name in another case, or in look-alike letters)."""

    async def user_by_id(self, user_id: int) -> User | None: ...

    async def users_by_ids(self, user_ids: Sequence[int]) -> dict[int, User]:
        """The users among `user_ids` that exist (not erased), by id, in one read: the
        point reads of many requests at once (`chat.batched_reads`)."""

    async def user_by_email(self, email: str) -> User | None:
        """`email` must already be lower-case (validation.email does that)."""

    async def rename_user(self, user_id: int, name: str) -> User:
        """Change a user's name and its keys. Raises `NameTaken`, as `create_user`."""

    async def erased_accounts(self) -> int:
        """How many accounts have been erased: a count that moves whenever one is (names
        change then), read every few seconds by `chat.history_cache`."""

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
        longer exist (or were erased) are absent."""

    # --- administration (`chat user`) ---

    async def users(self) -> list[User]:
        """Every user, oldest first (erased accounts left out)."""

    async def set_password(self, user_id: int, new_hash: str) -> User | None:
        """Replace the user's password hash, whatever it was, and revoke every token
        issued so far (token_version + 1), in one statement. None if the user is gone."""

    async def set_admin(self, user_id: int, is_admin: bool) -> User | None:
        """Make the user an operator, or not; None if the user is gone."""

    async def delete_user(self, user_id: int) -> bool:
        """Delete the user as `shared.accounts.DELETE_USER_SQL` says, all or nothing;
        False if there was no such user. Running servers notice at their next revocation
        sweep."""

    # --- login addresses (chat/store/shared/login_addresses.py) ---

    async def remember_login_address(self, user_id: int, address: str) -> None:
        """`user_id` has just logged in from `address`: keep it among their newest
        addresses (an address over `MAX_ADDRESS_CHARS` is not kept)."""

    async def is_login_address(self, user_id: int, address: str) -> bool:
        """Whether `user_id` has logged in from `address` (one of the newest kept)."""

    # --- finding people ---

    async def users_by_prefix(
        self, key_prefix: str, *, caller_id: int, limit: int
    ) -> list[tuple[int, str]]:
        """(id, name) of up to `limit` users but the caller whose `name_key` starts with
        `key_prefix` (taken literally), by name."""


class Sessions(Protocol):
    """Browser sessions (`chat.sessions` decides; chat/store/shared/sessions.py's SQL).
    Times are Unix seconds; secrets are stored as their SHA-256, in hex."""

    async def create_session(self, session: SessionRecord) -> None:
        """Store a new session (generation 0, never rotated, not revoked), dropping every
        session that ended long ago. Raises `Gone` if the user no longer exists."""

    async def session(self, session_id: str) -> SessionRecord | None: ...

    async def rotate_session(
        self, session_id: str, old_hash: str, new_hash: str, *, now: int, expires_at: int
    ) -> bool:
        """Replace the session's secret with `new_hash`, keeping the current one as the
        previous one, if the current one is still `old_hash` and the session is not
        revoked (compare-and-swap); False if not."""

    async def revoke_session(self, session_id: str, *, now: int) -> None:
        """End the session (if it has not ended): revoked, and expiring now."""

    async def revoke_user_sessions(self, user_id: int, *, now: int) -> None:
        """End every session of the user's."""


class Rooms(Protocol):
    """Rooms and who is in them: group rooms, direct conversations, the directory of
    public rooms, a user's room list, read markers and unread counts."""

    #: The id of the built-in public room (kind "lobby") that carries TokenTalker traffic.
    lobby_id: int

    async def create_room(self, name: str, *, is_private: bool, creator_id: int) -> Room:
        """A new group room with its creator as the first member. Raises `RoomNameTaken`."""

    async def room_by_id(self, room_id: int) -> Room | None: ...

    async def add_member(self, room_id: int, user_id: int) -> None:
        """Idempotent: adding a member twice is not an error."""

    async def is_member(self, room_id: int, user_id: int) -> bool: ...

    async def room_for_member(self, room_id: int, user_id: int) -> tuple[Room | None, bool]:
        """A room by id (None: no such room) and whether the user is a member of it, in
        one read."""

    async def rooms_for_members(
        self, pairs: Sequence[tuple[int, int]]
    ) -> dict[tuple[int, int], tuple[Room, bool]]:
        """`room_for_member` for many (room, user) pairs in one read, by pair; a pair whose
        room does not exist is left out (`chat.batched_reads`)."""

    async def rooms_of(self, user_id: int) -> list[int]:
        """Ids of the rooms the user is a member of, ascending."""

    async def rooms_of_users(self, user_ids: Sequence[int]) -> dict[int, list[int]]:
        """`rooms_of` for many users in one read; a user in no room is left out."""

    async def room_members(
        self, room_id: int, *, after: int, limit: int
    ) -> list[tuple[int, str, str]]:
        """(UID, name, role) of up to `limit` members of the room whose UIDs are above `after`,
        by UID: one page of `shared.rooms.ROOM_MEMBERS_SQL`, a range of the primary key."""

    async def room_details(self, user_id: int, lobby_id: int) -> list[RoomDetails]:
        """The lobby, then each room the user is a member of by id, as
        `shared.rooms.ROOM_DETAILS_SQL` reads them: one query, however many rooms."""

    async def direct_room(self, user_a: int, user_b: int, *, create: bool) -> Room | None:
        """The pair's direct room. With `create`, made (with both as members) on first
        use, safely against two instances creating it at once: both get the same room.
        Without, None if the pair has none yet."""

    async def public_rooms(self, limit: int) -> list[PublicRoom]:
        """Up to `limit` group rooms that are not private, with member counts, in
        `shared.rooms.PUBLIC_ROOMS_SQL`'s order (the most members first)."""

    # --- notification levels ---

    async def set_notification_level(self, user_id: int, room_id: int, level: str) -> None:
        """Set (or replace) how much the user wants to hear of the room: "all",
        "mentions" or "none" (checked by the caller)."""

    async def notification_level(self, user_id: int, room_id: int) -> str | None:
        """The level the user set for the room; None if they never set one."""

    # --- read markers ---

    async def mark_read(self, user_id: int, room_id: int, message_id: int) -> int | None:
        """Move the user's marker in the room up to `message_id` (never back: an older id
        leaves it where it is); the marker as stored. None if the room has no such
        message."""

    async def unread_counts(self, user_id: int, lobby_id: int) -> list[tuple[int, int, int]]:
        """(room id, unread, mentions) for the lobby and each room the user is a member
        of, by id: messages from others after the user's marker, and those of them that
        mention the user; each at most `UNREAD_CAP`."""

    # --- mentions ---

    async def mention_candidates(
        self, room_id: int, keys: list[str]
    ) -> list[tuple[str, int, bool]]:
        """(name key, UID, may read the room) of the users whose `name_key` is one of
        `keys` (`shared.mentions.MENTION_CANDIDATES_SQL`)."""

    async def member_count(self, room_id: int) -> int:
        """How many members the room has (every user, for the lobby)."""


class Support(Protocol):
    """Support threads: one private room per user with the operators."""

    async def support_room(self, user_id: int, *, create: bool) -> Room | None:
        """The user's support thread (kind "support", `creator_id` the user, who is its
        only member). With `create`, made on first use, race-safely; else None if absent."""

    async def latest_support_user(self, operator_id: int) -> int | None:
        """The user `shared.support.LATEST_SUPPORT_USER_SQL` names, or None if no thread
        has a message from its user or from that operator."""

    async def waiting_support_threads(self, limit: int) -> list[WaitingThread]:
        """Up to `limit` support threads whose latest message is from their user, the
        longest-waiting first."""


class Messages(Protocol):
    """The message stream: storing messages in batches, and reading every room's
    messages in id order (what the writer publishes and other instances catch up on)."""

    async def add_messages(
        self, rows: list[NewMessage], *, notify: Notifications | None = None
    ) -> list[Added]:
        """Insert several messages in one transaction, in order (their ids increase in
        the order of `rows`), and return them once committed, one `Added` per row. All or
        nothing. A row whose `client_msg_id` its sender already used in that room is not
        stored again: its `Added` carries the original (`new` is False).

        `notify`, given the result, names the notifications (channel, payload) to send
        once it is committed, in the same trip to the database (PostgreSQL; the bus's
        carried messages, `chat.bus.carrier`). They are best effort: one that fails is
        logged, and the messages stay committed. SQLite has no notifications to send.

        Ids commit in id order: once this returns, every message with a lower id has
        committed or never will (PostgreSQL: a lock taken before the ids, see
        sql/postgres/0004_cluster.sql; SQLite: one writer at a time)."""

    async def last_position(self) -> int:
        """The newest position committed so far: the highest message id or change
        position (0 when there are none)."""

    async def committed_after(
        self, after: int, *, before: int | None = None, limit: int
    ) -> list[tuple[Message | Change, Room]]:
        """Every room's messages and changes with ``after < position < before``, in
        position order, at most `limit`, each with its room (read at one moment): how an
        instance catches up with what others stored."""


class History(Protocol):
    """One room's messages, a page at a time (what clients scroll back through)."""

    async def latest_messages(
        self, room_id: int, limit: int, *, skip_deleted: bool = False
    ) -> list[Message]:
        """The `limit` newest messages of a room, oldest first (with `skip_deleted`, the
        `limit` newest that are not tombstones)."""

    async def messages_before(
        self,
        room_id: int,
        before_id: int | None,
        limit: int,
        *,
        after_id: int = 0,
        skip_deleted: bool = False,
    ) -> list[Message]:
        """A page of a room's messages, newest first: the `limit` newest with an id below
        `before_id` (or the newest of all when it is None) and above `after_id` (with
        `skip_deleted`, tombstones left out).
        Observed by `Operations.history_seconds`."""

    async def is_message_of_room(self, room_id: int, message_id: int) -> bool:
        """Whether message `message_id` exists and belongs to room `room_id` (what a
        reply's `reply_to` must name)."""

    async def messages_after(self, room_id: int, after_id: int, limit: int) -> list[Message]:
        """A page of a room's messages newer than `after_id`: the `limit` oldest of them,
        answered newest first (as every page is), tombstones included. Observed by
        `Operations.history_seconds`."""


class Changes(Protocol):
    """Changes to messages: edits, deletions and reactions, each committed with the next
    position of the message stream (`Change.seq`), and what they leave behind.

    Each write first takes the positions lock, then reads the message and calls `check`
    with it (None: no such message in the room), which raises to refuse the change: what
    it checked stays true until the commit. None means nothing changed (an edit to the
    same text, a second deletion, a reaction already there or not there)."""

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
        """Replace the message's text, keeping the earlier version, and its mentions
        with those of the new text (the change says who is newly mentioned)."""

    async def delete_message(self, room_id: int, message_id: int, check: Check) -> Change | None:
        """Erase the message's text, its earlier versions and its reactions, leaving a
        tombstone (id, room, sender, time, and what it answered)."""

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
        """Add (or take back) the user's reaction with `emoji`. Raises `InvalidInput` for
        a new emoji on a message that has `max_emoji` different ones already."""

    async def message_in_room(self, room_id: int, message_id: int) -> Message | None:
        """The message as it is now, if it is one of the room's (tombstones included)."""

    async def message_versions(self, room_id: int, message_id: int) -> list[Version] | None:
        """The message's versions, oldest (the original) first; [] for a deleted message,
        None if the room has no such message."""

    async def room_changes(
        self, room_id: int, *, after: int, before: int | None, limit: int
    ) -> list[Change]:
        """The room's changes with ``after < seq < before``, newest first, at most `limit`."""


class Search(Protocol):
    """Full-text search of messages (sql/sqlite/0017_search.sql,
    sql/postgres/0018_search.sql): an index of every message's present text."""

    async def search_messages(self, search: SearchFilter) -> list[Message]:
        """Up to `search.limit` messages `search` finds, newest first, with their files;
        never a deleted one, nor one of a room the user may not read now. A message is
        found as soon as it is stored, indexed yet or not."""

    async def index_new_messages(self, limit: int) -> int:
        """Add up to `limit` of the messages stored since the last call to the index, in
        one transaction; how many (fewer than `limit`: it is up to date). SQLite indexes
        new messages in such batches (`chat.search_indexer`); PostgreSQL's index follows
        every insert itself, and this answers 0 at once."""


class Operations(Protocol):
    """Running the database: its health, how busy its connections are, and how long
    history queries take."""

    #: Observes the latency of each history query (`History.messages_before`); the
    #: metrics set it (`chat.metrics.Metrics.collect_from`).
    history_seconds: Observer | None

    def pool_usage(self) -> PoolUsage:
        """How many of its connections are in use now. Never waits."""

    async def ping(self) -> None:
        """Return when the database answers a trivial query; raise otherwise."""


class Push(Protocol):
    """Web Push (chat/push/): the browsers that asked for it, the server's VAPID key,
    and which instance pushes each message."""

    async def vapid_private_key(self, generated: str) -> str:
        """The cluster's VAPID private key: `generated` if none was stored yet (it is
        then stored), else the one stored first. Safe when instances race."""

    async def add_push_subscription(
        self, user_id: int, endpoint: str, p256dh: str, auth: str, *, limit: int
    ) -> None:
        """Register a browser for `user_id` (an endpoint already registered, by anyone,
        is replaced); past `limit` subscriptions the user's oldest are removed."""

    async def remove_push_subscription(self, user_id: int, endpoint: str) -> bool:
        """Remove one of the user's subscriptions; False if they had none there."""

    async def remove_gone_push_subscription(self, subscription: PushSubscription) -> bool:
        """Remove a subscription its push service no longer knows, unless it was
        registered again meanwhile (other keys). True if removed."""

    async def any_push_subscription(self) -> bool:
        """Whether anybody has a subscription at all."""

    async def push_candidates(
        self, room: Room, *, default_level: str, mentioned: bool
    ) -> list[PushCandidate]:
        """The subscriptions of everyone who may read `room` and whose level there
        (`default_level` unless set) is "all", or "mentions" when `mentioned` (a message
        mentions someone); with each one's level."""

    async def claim_pushes(self, message_ids: Sequence[int]) -> set[int]:
        """Take messages on to push: those of `message_ids` this caller claimed first
        (of every instance's callers)."""

    async def prune_push_claims(self, before: datetime) -> None:
        """Forget claims made before `before`."""


class Files(Protocol):
    """Uploaded files' records (chat/files/): storing them, who may read one, a user's
    quota, and what the collector removes. Attaching happens in `Messages.add_messages`
    (`NewMessage.files`); deleting a message detaches its files."""

    async def add_file(self, file: StoredFile) -> None:
        """Store a new file's record (its bytes are not stored yet: see chat/files/)."""

    async def readable_file(self, file_id: str, user_id: int, *, admin: bool) -> StoredFile | None:
        """The file if `user_id` may read it: its uploader while no message carries it,
        then whoever may read a message that carries it (`admin`: an operator, who
        reads every support thread). None otherwise, and for an unknown id."""

    async def used_bytes(self, user_id: int) -> int:
        """How many bytes of files `user_id` keeps (their quota's use)."""

    async def attachable_files(self, user_id: int, file_ids: Collection[str]) -> list[StoredFile]:
        """Those of `file_ids` that are `user_id`'s and that no message carries yet."""

    async def collectable_files(
        self, unattached_before: datetime, *, limit: int
    ) -> list[StoredFile]:
        """At most `limit` files to remove: never attached and uploaded before
        `unattached_before`, or carried by no message any more."""

    async def delete_file_record(self, file_id: str) -> bool:
        """Remove a file's record (a message carrying it loses it); False if another
        caller removed it first (then that caller removes its bytes)."""

    async def known_files(self, file_ids: Collection[str]) -> set[str]:
        """Those of `file_ids` that have a record."""


class Moderation(Protocol):
    """Running a room (issue 25; chat/store/shared/moderation.py): members' roles,
    removals, bans and mutes (`kind` "ban" or "mute"), a room's settings, and the
    append-only audit log. Each change is one transaction with its audit entry; one that
    changes nothing writes no entry."""

    async def member_role(self, room_id: int, user_id: int) -> str | None:
        """The user's role in the room; None if they are not a member."""

    async def set_member_role(
        self, room_id: int, user_id: int, role: str, audit: AuditEntry
    ) -> str | None:
        """Give a member `role`; their role before (None: not a member, nothing done).
        Raises `LastOwner` if they are the room's last owner and `role` is not owner."""

    async def remove_member(
        self, room_id: int, user_id: int, *, audit: AuditEntry | None, keep_an_owner: bool
    ) -> str | None:
        """Take the user out of the room; their role before (None: not a member). With
        `keep_an_owner`, raises `LastOwner` rather than leave other members ownerless."""

    async def restrict(
        self,
        kind: str,
        room_id: int,
        user_id: int,
        *,
        reason: str,
        until: datetime | None,
        by_id: int,
        audit: AuditEntry,
    ) -> str | None:
        """Ban or mute the user (replacing one in force). A ban also removes them from
        the room: their role before comes back (None: they were not a member)."""

    async def lift(self, kind: str, room_id: int, user_id: int, audit: AuditEntry) -> bool:
        """Lift a ban or mute; False if none was in force."""

    async def restrictions(
        self, kind: str, room_id: int, *, user_id: int | None = None, limit: int
    ) -> list[Restriction]:
        """The bans or mutes in force in the room (one user's, with `user_id`), newest
        first."""

    async def update_room(self, room_id: int, changes: dict[str, Any], audit: AuditEntry) -> Room:
        """Set some of a room's settings (`shared.moderation.ROOM_SETTINGS`: name, topic,
        is_private, slow_mode_seconds); the room after. Raises `RoomNameTaken`."""

    async def add_audit(self, entry: AuditEntry) -> None:
        """Append an entry for a change made elsewhere (a moderator's deletion)."""

    async def audit_entries(
        self, room_id: int | None, *, before: int | None, limit: int
    ) -> list[AuditEntry]:
        """A page of the log, newest first: ids below `before`, one room's or all."""


class Reports(Protocol):
    """Reports of messages (chat/store/shared/reports.py): one per reporter and message."""

    async def add_report(
        self, room_id: int, message_id: int, reporter_id: int, reason: str
    ) -> tuple[Report, bool]:
        """The reporter's report of the message, and whether it is new (False: they had
        reported it before; that report comes back, unchanged)."""

    async def message_room(self, message_id: int) -> int | None:
        """The id of the room message `message_id` is in; None if there is no such message."""

    async def report(self, report_id: int) -> Report | None: ...

    async def reports(
        self, room_id: int | None, *, status: str | None, before: int | None, limit: int
    ) -> list[Report]:
        """A page of reports, newest first: ids below `before`, one room's or all, one
        status or all."""

    async def decide_report(
        self, report_id: int, status: str, by_id: int, audit: AuditEntry
    ) -> Report | None:
        """Resolve or dismiss a report (with its audit entry); None if there is none."""


class AccountData(Protocol):
    """A user's data (`chat.account_data`): read a page at a time for an export, and
    erased (their messages through `Changes`, the rest in `erase_account`); the names
    erased accounts left, held for a while."""

    async def name_held_until(self, name_key: str, look_key: str) -> datetime | None:
        """Until when a name with either key is held (an erased account's), or None."""
        ...

    async def export_messages(
        self, user_id: int, *, after: int, limit: int
    ) -> list[dict[str, Any]]:
        """The user's messages with ids above `after`, oldest first, each with its room,
        its edits and its files' ids, as the export writes them."""
        ...

    async def export_reactions(
        self, user_id: int, *, after: tuple[int, str], limit: int
    ) -> list[dict[str, Any]]:
        """The user's reactions after (message id, emoji), in that order."""
        ...

    async def export_read_markers(
        self, user_id: int, *, after: int, limit: int
    ) -> list[dict[str, Any]]:
        """The user's read markers of rooms with ids above `after`."""
        ...

    async def export_files(self, user_id: int, *, after: str, limit: int) -> list[StoredFile]:
        """The user's files' records with FileIDs above `after`."""
        ...

    async def unerased_messages(
        self, user_id: int, *, after: int, limit: int
    ) -> list[tuple[int, int]]:
        """(message id, room id) of the user's messages above `after` that are not
        tombstones."""
        ...

    async def unerased_reactions(
        self, user_id: int, *, after: tuple[int, str], limit: int
    ) -> list[tuple[int, int, str]]:
        """(message id, room id, emoji) of the user's reactions after (id, emoji)."""
        ...

    async def erase_account(
        self,
        user_id: int,
        *,
        name_key: str,
        look_key: str,
        held_until: datetime,
        password_hash: str,
    ) -> list[StoredFile] | None:
        """The rest of an erasure, in one transaction (`ERASE_ACCOUNT_SQL`): returns the
        records of the user's files it removed (their bytes are the caller's to remove),
        or None if there is no such user or it was erased already."""
        ...


class Retention(Protocol):
    """Deleting expired messages (issue 26; chat/retention.py, the store's SQL in
    chat/store/shared/retention.py), and the leases that make one instance of a cluster
    do it at a time."""

    async def retention_rooms(
        self, *, after: int, limit: int, own_only: bool
    ) -> list[RetentionRoom]:
        """A page of rooms by id after `after` (at most `limit`): each one's own retention
        and the time of its oldest message. `own_only`: only rooms with a retention of
        their own."""

    async def delete_expired(self, room_id: int, before: datetime, *, limit: int) -> ExpiredBatch:
        """Delete, in one short transaction, the room's oldest messages created before
        `before`, at most `limit` of them (from its `limit` oldest). They go as rows:
        their changes, reactions, mentions, reports and file links with them."""

    async def claim_lease(self, name: str, holder: str, *, now: datetime, until: datetime) -> bool:
        """Take or renew lease `name` for `holder` until `until`; False if another holder
        has it and it has not expired at `now`."""

    async def release_lease(self, name: str, holder: str) -> None:
        """Give lease `name` back, if `holder` has it."""


class Store(
    Accounts,
    AccountData,
    Sessions,
    Rooms,
    Support,
    Messages,
    History,
    Changes,
    Search,
    Operations,
    Push,
    Files,
    Moderation,
    Reports,
    Retention,
    Protocol,
):
    """Every role: what each backend implements, and what the wiring opens."""
