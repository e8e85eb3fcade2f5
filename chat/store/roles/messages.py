"""The storage roles of messages: the stream of messages (committed in batches, read back
in position order), history, changes to messages, search, files, retention, and users'
saved messages.

See `chat.store.roles` for what a role is and what every method promises."""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from chat.core.link_previews import LinkPreview
from chat.core.moderation_records import AuditEntry, ExpiredBatch, RetentionRoom
from chat.core.records import (
    Added,
    Change,
    Message,
    NewMessage,
    PinnedMessage,
    Room,
    SavedMessage,
    SearchFilter,
    StoredFile,
    StreamItem,
    ThreadSummary,
    Version,
)
from chat.core.thread_records import FollowedThread, ThreadFollows

if TYPE_CHECKING:
    from chat.store.changes import Check
    from chat.store.saved_messages import Saving

#: Given what a batch stored, the notifications (channel, payload) to send once it is
#: committed (`Messages.add_messages`).
Notifications = Callable[[list[Added]], list[tuple[str, str]]]


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
        """The newest position committed so far: the highest message id, change or
        departure position (0 when there are none)."""

    async def committed_after(
        self, after: int, *, before: int | None = None, limit: int
    ) -> list[tuple[StreamItem, Room]]:
        """Every room's messages, changes and departures (members leaving rooms:
        `chat.store.departures`) with ``after < position < before``, in
        position order, at most `limit`, each with its room (read at one moment): how an
        instance catches up with what others stored."""


class History(Protocol):
    """One room's messages, a page at a time (what clients scroll back through): its
    main timeline, which holds no thread replies but those also sent to the room
    (`Message.in_main_timeline`)."""

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

    async def thread_root(self, room_id: int, message_id: int) -> int | None:
        """The root of the thread a reply naming message `message_id` joins: that
        message's id, or the root of the thread it replies in itself; None if it is not
        a visible (not deleted) message of room `room_id`."""

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


class Pins(Protocol):
    """A room's pinned messages. A pin or unpin is a change (kind ``pins``), committed as
    `Changes`' are: the positions lock, then the message read and `check` called with it
    (None: no such message in the room); None means nothing changed (pinned already, or
    not pinned)."""

    async def set_pin(
        self,
        room_id: int,
        message_id: int,
        user_id: int,
        *,
        pinned: bool,
        max_pins: int,
        check: Check,
    ) -> Change | None:
        """Pin (`pinned`) or unpin the message, `user_id` acting. Raises `Conflict` when
        pinning a message of a room that has `max_pins` pinned already."""

    async def room_pins(self, room_id: int, *, limit: int) -> list[PinnedMessage]:
        """The room's pinned messages as they are now (never a tombstone), newest pin
        first, at most `limit`."""


class LinkPreviews(Protocol):
    """Messages' link previews (chat.store.link_previews). A change of them is a
    ``previews`` change, committed as `Changes`' are (under the positions lock)."""

    async def attach_previews(
        self, room_id: int, message_id: int, previews: tuple[LinkPreview, ...]
    ) -> Change | None:
        """Attach `previews` to the message, once: None (no change) if it has had some,
        or had them removed, or its room turned previews off. `NotFound` if the message
        is not a present message of the room."""

    async def remove_previews(self, room_id: int, message_id: int, check: Check) -> Change | None:
        """Remove the message's previews for good, under the positions lock once `check`
        accepts the message as read there (None: it had none)."""


class Threads(Protocol):
    """A thread's messages, a page at a time, and a room's threads (chat.store.threads):
    a thread is its root and the messages replying in it."""

    async def is_thread_root(self, room_id: int, message_id: int) -> bool:
        """Whether message `message_id` is one of room `room_id`'s outside any thread
        (deleted or not): what a thread's pages are read from."""

    async def thread_before(
        self, room_id: int, root_id: int, before_id: int | None, limit: int, *, after_id: int = 0
    ) -> list[Message]:
        """A page of thread `root_id` of room `room_id` (the root and its replies), newest
        first: the `limit` newest with an id below `before_id` (None: the newest of all)
        and above `after_id`, tombstones included."""

    async def thread_after(
        self, room_id: int, root_id: int, after_id: int, limit: int
    ) -> list[Message]:
        """The `limit` oldest of the thread's messages newer than `after_id`, answered
        newest first (as every page is)."""

    async def room_threads(self, room_id: int, limit: int) -> list[tuple[Message, ThreadSummary]]:
        """Room `room_id`'s threads that have replies (deleted ones not counted), by their
        newest reply, newest first, at most `limit`: each root as it is now, with its
        summary. A root whose row retention deleted is left out."""

    async def thread_room(self, thread_id: int) -> int | None:
        """The room of thread `thread_id` (a message outside any thread, deleted or
        not), or None if it is no such message."""

    async def refresh_thread_summaries(self, root_ids: Sequence[int]) -> list[Change]:
        """Count in each thread's summary its replies stored since (one transaction, under
        the positions lock): the `THREAD` changes made, in position order (none for a
        thread with nothing new, or whose root is gone)."""

    async def stale_threads(self, after: int) -> tuple[list[tuple[int, int]], int]:
        """The threads (root id, room id) with replies after position `after` that their
        summaries do not count, and the position to look after next time."""

    async def follow_thread(
        self, user_id: int, room_id: int, thread_id: int, *, following: bool
    ) -> None:
        """Follow the thread, or stop following it by choice (replying in it follows
        again; being mentioned in it does not). A first follow has read the thread up to
        its newest message."""

    async def follows_thread(self, user_id: int, thread_id: int) -> bool:
        """Whether the user follows the thread now."""

    async def mark_thread_read(
        self, user_id: int, room_id: int, thread_id: int, message_id: int
    ) -> int:
        """Move the user's marker in the thread up to `message_id` (never back); the
        marker as stored after."""

    async def thread_follows(self, thread_ids: Collection[int]) -> dict[int, ThreadFollows]:
        """The follow states of each of `thread_ids` whose root is stored, in one read."""

    async def followed_threads(
        self, user_id: int, lobby_id: int, limit: int, *, operator: bool
    ) -> list[FollowedThread]:
        """The threads the user follows in rooms they may read now (the lobby, a room
        of theirs, or, for an operator, any support thread), by their newest reply (a
        thread without any: by its root), newest first, at most `limit`, with what of
        each they have not read."""


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
        new messages in such batches (`chat.app.messages.search_indexer`); PostgreSQL's index
        follows every insert itself, and this answers 0 at once."""


class Files(Protocol):
    """Uploaded files' records (chat/files/): storing them, who may read one, a user's
    quota, and what the collector removes. Attaching happens in `Messages.add_messages`
    (`NewMessage.files`); deleting a message detaches its files."""

    async def add_file(self, file: StoredFile, *, quota_bytes: int | None = None) -> bool:
        """Store a new file's record (its bytes are not stored yet: see chat/files/),
        unless its uploader's files would then take more than `quota_bytes` (None: no
        quota): False, and nothing stored. The sum and the insert are one transaction
        that holds the uploader's row, so concurrent uploads (on any instance) never
        exceed the quota together; the record is the reservation of its bytes."""

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


class Retention(Protocol):
    """Deleting expired messages (chat/app/messages/retention.py, the store's SQL in
    chat/store/retention.py), and the leases that make one instance of a cluster
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

    async def add_audit(self, entry: AuditEntry) -> None:
        """Append `entry` to the audit log (what a pass deleted in a room)."""


class Saved(Protocol):
    """Users' saved messages: each user's own list, newest saved first. A saved message
    shows while it is not deleted and its room is one the user may read (decided when
    read: `chat.store.saved_messages`); `admin` is whether the user is an operator."""

    async def save_message(
        self, user_id: int, message_id: int, *, admin: bool, most: int
    ) -> Saving:
        """Save a message the user may read (saving it again changes nothing); FULL when
        they keep `most` already, once those that no longer show are forgotten."""

    async def unsave_message(self, user_id: int, message_id: int, *, admin: bool) -> bool:
        """Forget the user's saving of a message (none: nothing changes); whether the
        message is one they may read."""

    async def saved_messages(
        self, user_id: int, *, admin: bool, before: int | None, limit: int
    ) -> list[SavedMessage]:
        """A page of the saved messages that show, below saved id `before`, newest first."""

    async def saved_message_ids(self, user_id: int, *, admin: bool) -> list[int]:
        """The ids of every saved message that shows, newest saved first."""

    async def export_saved(self, user_id: int, *, after: int, limit: int) -> list[dict[str, Any]]:
        """A page of every saving of the user's (shown or not), by SavedID above `after`:
        {"SavedID", "MessageID", "SavedAt"}, for their data export."""
