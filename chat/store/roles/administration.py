"""The storage role of the operators' console: every account, searched and seen whole,
and accounts turned off and on.

See `chat.store.roles` for what a role is and what every method promises."""

from __future__ import annotations

from typing import Protocol

from chat.core.admin_records import RoomSummary, UserOverview
from chat.core.moderation_records import AuditEntry
from chat.core.records import User


class Administration(Protocol):
    """What operators read and change of accounts (chat/store/administration.py)."""

    async def search_users(self, text: str, *, after: int, limit: int) -> list[User]:
        """Users (bots included, erased accounts left out) with an id above `after` whose
        name, display name or e-mail address contains `text`, case-insensitively ("":
        every user), by id, at most `limit`."""

    async def user_overview(
        self, user_id: int, *, now: int, most_rooms: int
    ) -> UserOverview | None:
        """The account (None if there is none, or it is erased) with its first
        `most_rooms` rooms by id, the number of its rooms, and its browser sessions that
        have not ended by `now` (seconds)."""

    async def set_active(
        self, user_id: int, active: bool, *, now: int, audit: AuditEntry
    ) -> User | None:
        """Reactivate the account, or deactivate it: stamped, every token issued so far
        revoked (token_version + 1) and every browser session ended, in one transaction
        with `audit` (its target set to the user). None if there is no such user."""

    async def search_rooms(self, text: str, *, after: int, limit: int) -> list[RoomSummary]:
        """Named rooms (the lobby and group rooms, private ones too; never direct or
        support conversations) with an id above `after` whose name contains `text`,
        case-insensitively ("": every one), by id, at most `limit`."""
