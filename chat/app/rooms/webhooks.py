"""A room's incoming webhooks: made, listed, rotated and deleted by its moderators and
owners (and operators: `chat.core.room_permissions`' ``WEBHOOKS``), and the posts to
their secret addresses (chat/core/incoming_webhooks.py says what one is).

Each webhook posts as a bot of its own: a user of kind ``bot`` owned by the webhook's
creator (one of their bots, counted against `CHAT_MAX_BOTS_PER_USER`), named after the
webhook (``<name>-hook``, made unique), shown by the webhook's name, and a member of the
room: its messages carry the BOT badge and pass every rule a member's do (length, rate,
the room's mutes). Deleting the webhook erases its bot, as deleting a bot does (its
messages stay). Every change is written with its audit entry in one transaction, and
logged as one (`log_audit`); neither ever holds the secret.

A post is checked in this order: the address (a malformed id, an unknown one or a wrong
secret are one answer, `NotFound`, after the same work: a constant-time comparison of
hashes), then the webhook's rate (``incoming-webhooks``, by its id), then the message as
any message. Everything is read from the database, so a webhook made on one instance works
on every other at once, and a rotated secret stops working everywhere at once.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Protocol

import trio

from chat.app.rooms.moderation import log_audit
from chat.core import incoming_webhooks as hooks
from chat.core.api_tokens import secret_hash, secret_matches
from chat.core.errors import Conflict, NotFound
from chat.core.incoming_webhooks import IncomingWebhook
from chat.core.moderation_records import AuditEntry
from chat.core.outgoing import OutgoingMessage
from chat.core.records import Identity, Room, User
from chat.core.room_permissions import Action, require
from chat.store import IncomingWebhooks, Rooms

if TYPE_CHECKING:
    from collections.abc import Iterable

    from chat.app.limits.rate_limits import RateLimits
    from chat.app.rooms.moderation import RoomModeration

#: How many names a webhook's bot tries before giving up (the stem, then with suffixes).
_NAME_TRIES = 4
#: The hash a post to an unknown webhook is compared with, so it costs what a wrong
#: secret does.
_NO_HASH = "0" * 64


class WebhookStore(IncomingWebhooks, Rooms, Protocol):
    """What webhooks need of the store: theirs, and rooms' memberships."""


class BotMaker(Protocol):
    """Making and deleting the webhooks' bots (`chat.app.accounts.bots.BotService`)."""

    async def create(self, identity: Identity, name: object) -> User: ...
    async def create_first_free(
        self, identity: Identity, names: Iterable[str], shown: str, display: WebhookHost
    ) -> User | None: ...
    async def delete(self, identity: Identity, uid: int) -> None: ...


class Revoker(Protocol):
    """Closing a deleted account's connections (`chat.app.accounts.revocations`)."""

    async def account_deleted(self, user_id: int) -> None: ...


class WebhookHost(Protocol):
    """What webhooks need of `chat.app.service.ChatService`."""

    @property
    def store(self) -> WebhookStore: ...
    @property
    def moderation(self) -> RoomModeration: ...
    @property
    def rate_limits(self) -> RateLimits: ...
    @property
    def bots(self) -> BotMaker: ...
    @property
    def revocations(self) -> Revoker: ...
    async def room(self, room_id: int) -> Room: ...
    async def member_room(self, identity: Identity, room_id: int) -> Room: ...
    async def user(self, user_id: int) -> User: ...
    async def set_display_name(self, identity: Identity, display_name: str | None) -> User: ...
    async def post(self, identity: Identity, room: Room, outgoing: OutgoingMessage) -> object: ...


class IncomingWebhookService:
    """A room's incoming webhooks, for the HTTP routes."""

    def __init__(self, host: WebhookHost) -> None:
        self._host = host
        self._store = host.store

    # --- run by the room's moderators ---

    async def create(
        self, identity: Identity, room_id: int, name: object
    ) -> tuple[IncomingWebhook, str]:
        """A new webhook of the room and its secret (given once, never stored): its bot
        made and in the room, the change audited. `Conflict` past `MAX_PER_ROOM`."""
        webhook_name = hooks.webhook_name(name)
        room = await self._authorized(identity, room_id)
        if len(await self._store.incoming_webhooks_of(room.id)) >= hooks.MAX_PER_ROOM:
            raise _too_many(room)
        bot = await self._make_bot(identity, webhook_name)
        webhook_id, secret = hooks.new_secret()
        webhook = IncomingWebhook(
            webhook_id=webhook_id,
            room_id=room.id,
            bot_id=bot.id,
            name=webhook_name,
            created_by=identity.user_id,
            created_at=int(time.time()),
            secret_hash=secret_hash(secret),
        )
        entry = _entry(identity, room, "webhook-create", webhook, bot.name)
        made = False
        try:
            await self._store.add_member(room.id, bot.id)
            if not await self._store.add_incoming_webhook(webhook, entry, most=hooks.MAX_PER_ROOM):
                raise _too_many(room)
            made = True
        finally:
            if not made:
                # A bot without its webhook is deleted, even if the request is being
                # cancelled: its creator would otherwise hold a bot nobody asked for.
                with trio.move_on_after(5, shield=True):
                    await self._host.bots.delete(identity, bot.id)
        log_audit(entry)
        return webhook, secret

    async def webhooks(self, identity: Identity, room_id: int) -> list[IncomingWebhook]:
        """The room's webhooks, oldest first, without their secrets."""
        room = await self._authorized(identity, room_id)
        return await self._store.incoming_webhooks_of(room.id)

    async def rotate(self, identity: Identity, room_id: int, webhook_id: str) -> str:
        """A new secret for the webhook (given once); the old one stops working at once."""
        room, webhook, bot_name = await self._webhook_of(identity, room_id, webhook_id)
        secret = hooks.new_rotated_secret()
        entry = _entry(identity, room, "webhook-rotate", webhook, bot_name)
        if not await self._store.rotate_incoming_webhook(
            webhook.webhook_id, room.id, secret_hash(secret), entry
        ):
            raise _no_webhook(room.id, webhook_id)
        log_audit(entry)
        return secret

    async def delete(self, identity: Identity, room_id: int, webhook_id: str) -> None:
        """Delete the webhook and its bot (its messages stay, under its name)."""
        room, webhook, bot_name = await self._webhook_of(identity, room_id, webhook_id)
        entry = _entry(identity, room, "webhook-delete", webhook, bot_name)
        bot_id = await self._store.delete_incoming_webhook(webhook.webhook_id, room.id, entry)
        if bot_id is None:
            raise _no_webhook(room.id, webhook_id)
        log_audit(entry)
        # The bot's connections (its owner may have made it tokens) close everywhere.
        await self._host.revocations.account_deleted(bot_id)

    async def _authorized(self, identity: Identity, room_id: int) -> Room:
        """The room, if the caller may manage its webhooks; else the exact refusal (a
        direct conversation or support thread: only to those who may read it)."""
        room = await self._host.room(room_id)
        if room.kind in ("direct", "support"):
            room = await self._host.member_room(identity, room_id)
        require(room, Action.WEBHOOKS, await self._host.moderation.rank(identity, room))
        return room

    async def _webhook_of(
        self, identity: Identity, room_id: int, webhook_id: str
    ) -> tuple[Room, IncomingWebhook, str]:
        room = await self._authorized(identity, room_id)
        for webhook in await self._store.incoming_webhooks_of(room.id):
            if webhook.webhook_id == webhook_id:
                return room, webhook, webhook.bot_name
        raise _no_webhook(room.id, webhook_id)

    async def _make_bot(self, identity: Identity, webhook_name: str) -> User:
        """The webhook's bot: the first free name of `hooks.bot_name`'s tries, shown by
        the webhook's name when that passes the display-name rules."""
        names = (hooks.bot_name(webhook_name, attempt) for attempt in range(_NAME_TRIES))
        bot = await self._host.bots.create_first_free(identity, names, webhook_name, self._host)
        if bot is not None:
            return bot
        raise Conflict(f"no free bot name for {webhook_name!r}: give the webhook another name")

    # --- posts to a webhook's address ---

    async def authenticated(self, webhook_id: str, secret: str) -> IncomingWebhook:
        """The webhook at this address, or `NotFound` (the same for an unknown id, a
        wrong secret or a malformed address), then counted against its rate
        (`RateLimited`)."""
        webhook = None
        if hooks.well_formed(webhook_id, secret):
            webhook = await self._store.incoming_webhook(webhook_id)
        stored = _NO_HASH if webhook is None else webhook.secret_hash
        if not secret_matches(secret, stored) or webhook is None:
            raise NotFound("no such webhook")
        limits = self._host.rate_limits
        limits.hit(limits.incoming_webhooks, webhook.webhook_id)
        return webhook

    async def post(self, webhook: IncomingWebhook, text: str) -> None:
        """Post `text` (Markdown) in the webhook's room as its bot, as any message."""
        bot = await self._host.user(webhook.bot_id)
        room = await self._host.room(webhook.room_id)
        identity = Identity(bot.id, bot.name, False, bot.token_version)
        await self._host.post(identity, room, OutgoingMessage(body=text))


def _entry(
    identity: Identity, room: Room, action: str, webhook: IncomingWebhook, bot_name: str
) -> AuditEntry:
    return AuditEntry(
        room_id=room.id,
        action=action,
        actor_id=identity.user_id,
        actor_name=identity.name,
        target_id=webhook.bot_id,
        target_name=bot_name,
        details={"WebhookID": webhook.webhook_id, "Name": webhook.name},
    )


def _too_many(room: Room) -> Conflict:
    return Conflict(f"room {room.id} has {hooks.MAX_PER_ROOM} webhooks: delete one first")


def _no_webhook(room_id: int, webhook_id: str) -> NotFound:
    return NotFound(f"room {room_id} has no webhook {webhook_id[:32]!r}")
