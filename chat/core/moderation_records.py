"""The records of running rooms and the server: restrictions (bans, mutes), the audit
log, and what the retention task reads and does. Plain frozen dataclasses, the same for
both backends, beside `chat.core.records` (users, rooms, messages)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


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


#: The `AuditEntry.actor_id` of an action no user took (user ids start at 1).
NOT_A_USER = 0


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One line of the audit log (`Moderation.audit_entries`): who did what to whom,
    when and why. Names are as they were then. `id` is 0 until stored. `room_id` is None
    for a server-wide action (an operator's command); `actor_id` is `NOT_A_USER` for an
    action no user took: an operator's command (`actor_name` "operator:" and the
    system account that ran it) or the server's own (retention: "server")."""

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
