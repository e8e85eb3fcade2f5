"""The operators' console (``/admin/...``): search every account, see one whole (rooms,
sessions, last seen), deactivate and reactivate it, promote and demote operators, end
every session of an account, make a password-reset link for it; and list the named
rooms with their members and activity.

Every method asks first whether the caller is an operator (`Forbidden` otherwise), so a
member learns nothing, not even whether a user exists. The role is read from the
database on every request (`AccountOperations.identify`), so a demoted operator loses the
console at once; a demotion also revokes their tokens, as ``chat user demote`` does, so
their WebSockets (which hold the role they opened with) close on every instance.
Deactivating revokes every token and session of the account the same way; its personal
access tokens and its bots' are refused while it stays deactivated
(`chat.app.accounts.api_tokens`). Every change is one audit entry, server-wide.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import TYPE_CHECKING, Protocol

from chat.core.admin_records import RoomSummary, UserOverview
from chat.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from chat.core.moderation_records import AuditEntry
from chat.core.records import Identity, User
from chat.store import Accounts, Administration, Moderation, Sessions

if TYPE_CHECKING:
    from chat.app.accounts.revocations import Revocations

#: The most users one page of a search lists, and how many when not asked.
MOST_LISTED = 100
DEFAULT_LISTED = 50
#: The longest search text, in characters.
MAX_SEARCH_CHARS = 100
#: How many of an account's rooms its overview names (it counts all of them).
MOST_ROOMS_SHOWN = 200


class ResetLinks(Protocol):
    """Making a password-reset link without mailing it (`chat.app.email.accounts`)."""

    async def reset_link(self, user_id: int, *, base_url: str) -> str: ...


class AdministrationStore(Administration, Accounts, Sessions, Moderation, Protocol):
    """What the console reads and writes."""


def require_operator(identity: Identity) -> None:
    """`Forbidden` unless the caller is a server operator."""
    if not identity.is_admin:
        raise Forbidden("only server operators may use the console")


class OperatorConsole:
    """What operators read and do from the console."""

    def __init__(self, store: AdministrationStore, revocations: Revocations) -> None:
        self._store = store
        self._revocations = revocations

    async def search(
        self, identity: Identity, text: str, *, after: int, limit: int | None
    ) -> tuple[list[User], int | None]:
        """One page of the accounts whose name, display name or e-mail address holds
        `text`, by UID, after `after`; and the `after` of the next page (None: this is
        the last)."""
        require_operator(identity)
        text, limit = _page_asked(text, after, limit)
        # One more than the page, to know whether another follows.
        found = await self._store.search_users(text, after=after, limit=limit + 1)
        page = found[:limit]
        return page, page[-1].id if len(found) > limit else None

    async def rooms(
        self, identity: Identity, text: str, *, after: int, limit: int | None
    ) -> tuple[list[RoomSummary], int | None]:
        """One page of the named rooms whose name holds `text`, by RoomID, after
        `after`; and the `after` of the next page (None: this is the last)."""
        require_operator(identity)
        text, limit = _page_asked(text, after, limit)
        found = await self._store.search_rooms(text, after=after, limit=limit + 1)
        page = found[:limit]
        return page, page[-1].room_id if len(found) > limit else None

    async def overview(self, identity: Identity, user_id: int) -> UserOverview:
        """One account, whole."""
        require_operator(identity)
        found = await self._store.user_overview(
            user_id, now=int(time.time()), most_rooms=MOST_ROOMS_SHOWN
        )
        if found is None:
            raise NotFound(f"no user with UID {user_id}")
        return found

    async def update(
        self, identity: Identity, user_id: int, *, active: bool | None, operator: bool | None
    ) -> UserOverview:
        """Deactivate or reactivate the account, promote or demote it; what is asked and
        already so is left as it is. An operator changes neither for themselves (the
        console must keep someone who can undo it)."""
        require_operator(identity)
        user = await self._store.user_by_id(user_id)
        if user is None:
            raise NotFound(f"no user with UID {user_id}")
        if user_id == identity.user_id and (active is False or operator is False):
            raise Conflict("you cannot deactivate or demote yourself: ask another operator")
        if operator and user.kind == "bot":
            raise InvalidInput("a bot cannot be an operator")
        if active is not None and active != user.active:
            await self._set_active(identity, user, active)
        if operator is not None and operator != user.is_admin:
            await self._set_operator(identity, user, operator)
        return await self.overview(identity, user_id)

    async def _set_active(self, identity: Identity, user: User, active: bool) -> None:
        action = "user-reactivate" if active else "user-deactivate"
        changed = await self._store.set_active(
            user.id, active, now=int(time.time()), audit=_entry(identity, action)
        )
        if changed is None:
            raise NotFound(f"no user with UID {user.id}")
        if not active:
            await self._revocations.revoked(user.id)

    async def _set_operator(self, identity: Identity, user: User, operator: bool) -> None:
        action = "user-promote" if operator else "user-demote"
        changed = await self._store.set_admin(user.id, operator, audit=_entry(identity, action))
        if changed is None:
            raise NotFound(f"no user with UID {user.id}")
        if not operator:
            # After the role is stored: a token issued from here on is an ordinary
            # user's, and every session opened before closes, on every instance.
            await self._store.revoke_tokens(user.id)
            await self._revocations.revoked(user.id)

    async def password_reset_link(
        self, identity: Identity, user_id: int, links: ResetLinks, *, base_url: str
    ) -> str:
        """A one-time password-reset link for the account (an hour; it replaces any
        earlier one), for the operator to hand over however they trust: nothing is
        mailed. Following it sets a new password and ends every session."""
        require_operator(identity)
        user = await self._store.user_by_id(user_id)
        if user is None:
            raise NotFound(f"no user with UID {user_id}")
        if user.kind == "bot":
            raise InvalidInput("a bot has no password to reset")
        url = await links.reset_link(user_id, base_url=base_url)
        entry = _entry(identity, "user-password-reset-link")
        await self._store.add_audit(replace(entry, target_id=user.id, target_name=user.name))
        return url

    async def end_sessions(self, identity: Identity, user_id: int) -> None:
        """Log the account out everywhere: every browser session ended, every token
        issued so far revoked, its WebSockets closed on every instance."""
        require_operator(identity)
        user = await self._store.user_by_id(user_id)
        if user is None:
            raise NotFound(f"no user with UID {user_id}")
        await self._store.revoke_user_sessions(user_id, now=int(time.time()))
        await self._store.revoke_tokens(user_id)
        entry = _entry(identity, "user-logout-everywhere")
        await self._store.add_audit(replace(entry, target_id=user.id, target_name=user.name))
        await self._revocations.revoked(user_id)


def _page_asked(text: str, after: int, limit: int | None) -> tuple[str, int]:
    """A search's text and page size, checked (`InvalidInput`)."""
    if len(text) > MAX_SEARCH_CHARS:
        raise InvalidInput(f"the search is at most {MAX_SEARCH_CHARS} characters")
    if after < 0:
        raise InvalidInput("after must be 0 or more")
    if limit is None:
        limit = DEFAULT_LISTED
    if not 1 <= limit <= MOST_LISTED:
        raise InvalidInput(f"limit must be 1-{MOST_LISTED}")
    return text.strip(), limit


def _entry(identity: Identity, action: str) -> AuditEntry:
    """A server-wide entry for `action`, by the operator `identity` (its target is set by
    the store, in the same transaction as the change)."""
    return AuditEntry(
        room_id=None, action=action, actor_id=identity.user_id, actor_name=identity.name
    )
