"""What the operators' console reads about an account (`chat.app.console`):
records only, no I/O."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from chat.core.records import User


@dataclass(frozen=True, slots=True)
class Membership:
    """A room an account is a member of, as the console lists it."""

    room_id: int
    name: str | None
    kind: str


@dataclass(frozen=True, slots=True)
class UserOverview:
    """One account as an operator sees it: the user, the first of their rooms and how
    many there are, their browser sessions that have not ended and when one was last
    used (None: no session has been), and whether two-factor authentication is on."""

    user: User
    rooms: list[Membership]
    room_count: int
    sessions: int
    last_seen: datetime | None
    two_factor: bool = False


@dataclass(frozen=True, slots=True)
class RoomSummary:
    """A named room as the console lists it: how many members, its first owners (UID,
    name), and when its newest message was sent (None: it has none)."""

    room_id: int
    name: str | None
    kind: str
    is_private: bool
    archived: bool
    created_at: datetime
    members: int
    owners: list[tuple[int, str]]
    last_message_at: datetime | None
