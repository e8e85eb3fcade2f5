"""The storage roles of messages: the stream of messages (committed in batches, read back
in position order), history, changes to messages, search, files, and retention.

See `chat.store.roles` for what a role is and what every method promises."""

from __future__ import annotations

from collections.abc import Callable, Collection
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from chat.core.records import (
    Added,
    Change,
    ExpiredBatch,
    Message,
    NewMessage,
    RetentionRoom,
    Room,
    SearchFilter,
    StoredFile,
    StreamItem,
    Version,
)

if TYPE_CHECKING:
    from chat.store.changes import Check

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
