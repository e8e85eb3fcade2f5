"""Bot accounts (``POST/GET/DELETE /bots``): a user makes bots, each a user of kind
``bot`` that is theirs (`User.owner_id`), up to `CHAT_MAX_BOTS_PER_USER`.

A bot's name follows every rule of a person's (normalised, unique, no look-alike of
anyone's, nor of a held or reserved name), so a bot cannot pass for a person; every
client shows it with a BOT badge (``"Bot": true`` on its messages, ``"Kind": "bot"``
on its profile). It has a password nobody knows and is never let in with one
(`AccountOperations` refuses a bot's login like a wrong password): its owner makes it
personal access tokens (``POST /tokens`` with its ``UID``), and adds it to rooms as
anyone. Deleting one erases its row but keeps its messages under its name, which
stays taken; its tokens and memberships go and its connections close, on every
instance. Operators see everyone's bots and may delete any.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from typing import TYPE_CHECKING, Protocol

from chat.app.accounts.operations import AccountStore, require_name_free
from chat.core import names
from chat.core.errors import Conflict, Forbidden, InvalidInput, NameHeld, NameTaken, NotFound
from chat.core.records import Identity, User
from chat.store import Bots

if TYPE_CHECKING:
    from chat.app.accounts.auth import Passwords
    from chat.app.accounts.revocations import Revocations


class BotStore(Bots, AccountStore, Protocol):
    """Bots, and the users they are."""


class DisplayNames(Protocol):
    """Setting a display name (`chat.app.accounts.operations.AccountOperations`)."""

    async def set_display_name(self, identity: Identity, display_name: str | None) -> User: ...


class BotService:
    """Making, listing and deleting bots."""

    def __init__(
        self, store: BotStore, passwords: Passwords, revocations: Revocations, *, most: int
    ) -> None:
        self._store = store
        self._passwords = passwords
        self._revocations = revocations
        self.most = most

    async def create(self, identity: Identity, name: object) -> User:
        """A new bot of the caller's (`InvalidInput`, `NameTaken`... as a registration)."""
        if not isinstance(name, str):
            name = ""
        caller = await self._store.user_by_id(identity.user_id)
        if caller is None or caller.kind == "bot":
            raise Forbidden("a bot makes no bots")
        name = names.new_user_name(name)
        await require_name_free(self._store, name)
        unknown = await self._passwords.hash(secrets.token_urlsafe(32))
        bot = await self._store.create_bot(name, unknown, identity.user_id, most=self.most)
        if bot is None:
            raise Conflict(f"you have {self.most} bots: delete one first")
        return bot

    async def create_first_free(
        self, identity: Identity, names: Iterable[str], shown: str, display: DisplayNames
    ) -> User | None:
        """A new bot of the caller's under the first of `names` that is free (an
        integration's: an incoming webhook's, a slash command's), shown as `shown` when
        that passes the display-name rules (else by its own name); None when every one
        is taken."""
        for name in names:
            try:
                bot = await self.create(identity, name)
            except (NameTaken, NameHeld):
                continue
            as_bot = Identity(bot.id, bot.name, False, bot.token_version)
            try:
                return await display.set_display_name(as_bot, shown)
            except (InvalidInput, Conflict):
                return bot  # a name like someone's: the bot's own name shows
        return None

    async def bots(self, identity: Identity) -> list[User]:
        """The caller's bots; an operator's: everyone's."""
        return await self._store.bots(None if identity.is_admin else identity.user_id)

    async def owned(self, identity: Identity, uid: int) -> User:
        """Bot `uid`, if it is the caller's (`NotFound` otherwise, whatever it is)."""
        user = await self._store.user_by_id(uid)
        if user is None or user.kind != "bot" or user.owner_id != identity.user_id:
            raise NotFound(f"no bot {uid} of yours")
        return user

    async def delete(self, identity: Identity, uid: int) -> None:
        """Delete the caller's bot `uid` (an operator: anyone's)."""
        if not identity.is_admin:
            await self.owned(identity, uid)
        if not await self._store.delete_bot(uid):
            raise NotFound(f"no bot {uid}")
        await self._revocations.account_deleted(uid)
