"""The storage roles of rooms: rooms and memberships, support threads, running a room
(roles, restrictions, settings, the audit log), archiving and deleting rooms, reports
of messages, incoming webhooks, and slash commands and outgoing webhooks.

See `chat.store.roles` for what a role is and what every method promises."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Protocol

from chat.core.incoming_webhooks import IncomingWebhook
from chat.core.moderation_records import AuditEntry, ExpiredBatch, Restriction
from chat.core.records import (
    Addition,
    Departure,
    PublicRoom,
    Report,
    Room,
    RoomDetails,
    WaitingThread,
)
from chat.core.room_commands import RoomCommand


class DirectGroups(Protocol):
    """Group direct conversations: rooms of kind "direct" for 3 to 10 people, with no
    pair, found by their current members (chat.store.direct_groups)."""

    async def group_direct_room(
        self, member_ids: Sequence[int], *, creator_id: int, create: bool
    ) -> tuple[Room | None, bool]:
        """The conversation of exactly these members, and whether it was made now. With
        `create`, made (every one of them a member) on first use, safely against two
        creators at once on any instance: both get the same room. Without, None if the
        set has none."""

    async def add_to_group_direct(self, room_id: int, user_id: int, *, most: int) -> Addition:
        """Add a user to a group direct conversation of fewer than `most` members, in
        one transaction with the move of its key to its new set."""

    async def group_direct_members(
        self, room_ids: Sequence[int]
    ) -> dict[int, list[tuple[int, str]]]:
        """(UID, name) of each room's members, by UID, for each of `room_ids`."""


class Rooms(Protocol):
    """Rooms and who is in them: group rooms, direct conversations, the directory of
    public rooms, a user's room list, read markers and unread counts."""

    #: The id of the built-in public room (kind "lobby") that carries TokenTalker traffic.
    lobby_id: int

    async def create_room(self, name: str, *, is_private: bool, creator_id: int) -> Room:
        """A new group room with its creator as the first member. Raises `RoomNameTaken`."""

    async def room_by_id(self, room_id: int) -> Room | None: ...

    async def add_member(self, room_id: int, user_id: int) -> bool:
        """Add the user to the room, unless a ban from it is in force: False then, and
        nothing added (checked in the same statement, so a ban made at the same moment
        on another instance is never missed). Idempotent: adding a member twice is not
        an error (True)."""

    async def is_member(self, room_id: int, user_id: int) -> bool: ...

    async def room_for_member(self, room_id: int, user_id: int) -> tuple[Room | None, bool]:
        """A room by id (None: no such room) and whether the user is a member of it, in
        one read."""

    async def rooms_for_members(
        self, pairs: Sequence[tuple[int, int]]
    ) -> dict[tuple[int, int], tuple[Room, bool]]:
        """`room_for_member` for many (room, user) pairs in one read, by pair; a pair whose
        room does not exist is left out (`chat.app.reads.batched_point_reads`)."""

    async def rooms_of(self, user_id: int) -> list[int]:
        """Ids of the rooms the user is a member of, ascending."""

    async def rooms_of_users(self, user_ids: Sequence[int]) -> dict[int, list[int]]:
        """`rooms_of` for many users in one read; a user in no room is left out."""

    async def room_members(
        self, room_id: int, *, after: int, limit: int
    ) -> list[tuple[int, str, str]]:
        """(UID, name, role) of up to `limit` members of the room whose UIDs are above `after`,
        by UID: one page of `chat.store.rooms._ROOM_MEMBERS`, a range of the primary key
        (the lobby: every user, `_LOBBY_MEMBERS`)."""

    async def room_details(self, user_id: int, lobby_id: int) -> list[RoomDetails]:
        """The lobby, then each room the user is a member of by id, as
        `chat.store.rooms._ROOM_DETAILS` reads them: one query, however many rooms."""

    async def direct_room(self, user_a: int, user_b: int, *, create: bool) -> Room | None:
        """The pair's direct room. With `create`, made (with both as members) on first
        use, safely against two instances creating it at once: both get the same room.
        Without, None if the pair has none yet."""

    async def public_rooms(self, limit: int, *, user_id: int = 0) -> list[PublicRoom]:
        """Up to `limit` group rooms that are not private, with member counts, in
        `chat.store.rooms._PUBLIC_ROOMS`' order (the most members first); none that
        user `user_id` is banned from now."""

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
        `keys` (`chat.store.mentions`)."""

    async def member_count(self, room_id: int) -> int:
        """How many members the room has (every user, for the lobby)."""


class Support(Protocol):
    """Support threads: one private room per user with the operators."""

    async def support_room(self, user_id: int, *, create: bool) -> Room | None:
        """The user's support thread (kind "support", `creator_id` the user, who is its
        only member). With `create`, made on first use, race-safely; else None if absent."""

    async def latest_support_user(self, operator_id: int) -> int | None:
        """The user `chat.store.support._LATEST_USER` names, or None if no thread
        has a message from its user or from that operator."""

    async def waiting_support_threads(self, limit: int) -> list[WaitingThread]:
        """Up to `limit` support threads whose latest message is from their user, the
        longest-waiting first."""


class Moderation(Protocol):
    """Running a room (chat/store/moderation.py): members' roles,
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
        self,
        room_id: int,
        user_id: int,
        *,
        audit: AuditEntry | None,
        keep_an_owner: bool,
        by_id: int,
        reason: str = "",
    ) -> Departure | None:
        """Take the user out of the room (by `by_id`, themselves if they leave, for
        `reason`): their departure, at the next position of the stream (None: not a
        member, nothing done). With `keep_an_owner`, raises `LastOwner` rather than leave
        other members ownerless."""

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
        target_rank: int = 0,
    ) -> Departure | None:
        """Ban or mute the user (replacing one in force), who is of `target_rank` in the
        room now (`chat.core.room_permissions.rank_of`: kept for `lift`). A ban also
        takes a member out of the room: their departure comes back (None: a mute, or
        they were not a member)."""

    async def lift(
        self,
        kind: str,
        room_id: int,
        user_id: int,
        audit: AuditEntry,
        *,
        check: Callable[[int], None] | None = None,
    ) -> bool:
        """Lift a ban or mute; False if none was in force. `check` is called, under the
        room's lock, with the rank its person had when it was placed, and raises to
        refuse (nothing is lifted)."""

    async def restrictions(
        self, kind: str, room_id: int, *, user_id: int | None = None, limit: int
    ) -> list[Restriction]:
        """The bans or mutes in force in the room (one user's, with `user_id`), newest
        first."""

    async def update_room(self, room_id: int, changes: dict[str, Any], audit: AuditEntry) -> Room:
        """Set some of a room's settings (`chat.store.moderation.ROOM_SETTINGS`: name, topic,
        is_private, slow_mode_seconds); the room after. Raises `RoomNameTaken`."""

    async def add_audit(self, entry: AuditEntry) -> None:
        """Append an entry for a change made elsewhere (a moderator's deletion)."""

    async def audit_entries(
        self,
        room_id: int | None,
        *,
        before: int | None,
        limit: int,
        action: str | None = None,
        user_id: int | None = None,
    ) -> list[AuditEntry]:
        """A page of the log, newest first: ids below `before`, one room's or all; only
        `action`'s entries, and only those `user_id` took or was the target of, when
        given."""


class RoomLifecycle(Protocol):
    """A group room's end (chat/store/room_lifecycle.py): archived (read-only, out of the
    directory) and unarchived, or deleted with every message in it."""

    async def set_archived(
        self, room_id: int, archived: bool, audit: AuditEntry | None
    ) -> tuple[Room | None, bool]:
        """Archive or unarchive the room, with its audit entry if that changed it: the
        room after (None: there is none), and whether it changed."""

    async def delete_room_messages(self, room_id: int, *, limit: int) -> ExpiredBatch:
        """Delete up to `limit` of the room's oldest messages in one short transaction
        (`done` once fewer were left)."""

    async def delete_room(self, room_id: int, audit: AuditEntry) -> bool:
        """Delete a group room with the messages it has left, and write `audit`, in one
        transaction; False if it was gone already."""


class Reports(Protocol):
    """Reports of messages (chat/store/reports.py): one per reporter and message."""

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

    async def open_reports(self, room_id: int) -> int:
        """How many of the room's reports are open."""

    async def room_staff(self, room_id: int, *, limit: int) -> list[int]:
        """The UIDs of up to `limit` moderators and owners of the room, by UID."""


class IncomingWebhooks(Protocol):
    """A room's incoming webhooks (`chat.app.rooms.webhooks` decides;
    chat/store/incoming_webhooks.py): secrets stored as their SHA-256, each change one
    transaction with its audit entry."""

    async def add_incoming_webhook(
        self, webhook: IncomingWebhook, audit: AuditEntry, *, most: int
    ) -> bool:
        """Store a new webhook, unless its room has `most` already (False)."""

    async def incoming_webhook(self, webhook_id: str) -> IncomingWebhook | None:
        """The webhook, with its secret's hash."""

    async def incoming_webhooks_of(self, room_id: int) -> list[IncomingWebhook]:
        """The room's webhooks, oldest first, with their bot's and creator's names and no
        hash."""

    async def rotate_incoming_webhook(
        self, webhook_id: str, room_id: int, new_hash: str, audit: AuditEntry
    ) -> bool:
        """Replace the webhook's secret; whether the room has it."""

    async def delete_incoming_webhook(
        self, webhook_id: str, room_id: int, audit: AuditEntry
    ) -> int | None:
        """Delete the webhook and erase its bot (as `Bots.delete_bot`); the bot's UID, or
        None if the room has no such webhook."""


class RoomCommandRegistrations(Protocol):
    """A room's slash commands and outgoing webhooks (`chat.app.commands` decides;
    chat/store/room_commands.py): secrets stored as they are (HMAC keys), each change one
    transaction with its audit entry."""

    async def add_room_command(self, command: RoomCommand, audit: AuditEntry, *, most: int) -> str:
        """Store a registration: "added", "full" (its room has `most` of its kind) or
        "taken" (its room has a command of that name)."""

    async def room_commands_of(self, room_id: int, kind: str) -> list[RoomCommand]:
        """The room's registrations of `kind`, oldest first, with their bot's and
        creator's names and no secret."""

    async def room_command_named(self, room_id: int, command: str) -> RoomCommand | None:
        """The room's command of that name, with its secret."""

    async def room_triggers(self, room_id: int) -> list[RoomCommand]:
        """The room's outgoing webhooks, with their secrets."""

    async def delete_room_command(
        self, command_id: str, room_id: int, kind: str, audit: AuditEntry
    ) -> int | None:
        """Delete the registration; its bot's UID, or None if the room has no such one."""
