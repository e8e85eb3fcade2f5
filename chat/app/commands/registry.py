"""A room's slash commands and outgoing webhooks: registered, listed and deleted by its
moderators and owners (and operators: `chat.core.room_permissions`' ``COMMANDS``).

Each registration answers as a bot of its own: a user of kind ``bot`` owned by whoever
registered it (one of their bots, counted against `CHAT_MAX_BOTS_PER_USER`), named after
it (``deploy-cmd`` for ``/deploy``, ``<first word>-trigger`` for trigger words; made
unique with a suffix) and a member of the room, so its answers carry the BOT badge and
pass every rule a member's messages do. Deleting the registration deletes its bot (its
messages stay, under its name). Every change is written with its audit entry in one
transaction (``command-create``, ``command-delete``, ``outgoing-webhook-create``,
``outgoing-webhook-delete``) and logged as one; neither ever holds the secret.

Everything is read from the database, so a registration made on one instance is used on
every other at once.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

import trio

from chat.app.rooms.moderation import log_audit
from chat.core import room_commands as rc
from chat.core.errors import Conflict, NotFound
from chat.core.moderation_records import AuditEntry
from chat.core.records import Identity, Room, User
from chat.core.room_commands import RoomCommand
from chat.core.room_permissions import Action
from chat.store import RoomCommandRegistrations, Rooms

if TYPE_CHECKING:
    from chat.app.rooms.moderation import RoomModeration

#: How many names a registration's bot tries: its stem, then with random suffixes.
_NAME_TRIES = 4
#: Each kind's words: in audit actions, in refusals, and its most per room.
_KINDS = {
    "command": ("command", "slash commands", rc.MAX_COMMANDS_PER_ROOM),
    "trigger": ("outgoing-webhook", "outgoing webhooks", rc.MAX_TRIGGER_HOOKS_PER_ROOM),
}


class RegistryStore(RoomCommandRegistrations, Rooms, Protocol):
    """What registrations need of the store: theirs, and rooms' memberships."""


class BotMaker(Protocol):
    """Making and deleting bots (`chat.app.accounts.bots.BotService`)."""

    async def create_first_free(
        self, identity: Identity, names: Iterable[str], shown: str, display: RegistryHost
    ) -> User | None: ...


class RegistryHost(Protocol):
    """What registrations need of `chat.app.service.ChatService`."""

    @property
    def store(self) -> RegistryStore: ...
    @property
    def moderation(self) -> RoomModeration: ...
    @property
    def bots(self) -> BotMaker: ...
    async def set_display_name(self, identity: Identity, display_name: str | None) -> User: ...


class BotRemover(Protocol):
    """Deleting a registration's bot, and closing its connections everywhere."""

    async def __call__(self, bot_id: int) -> None: ...


class CommandRegistry:
    """A room's registrations, for the HTTP routes and ``/help``."""

    def __init__(
        self, host: RegistryHost, remove_bot: BotRemover, changed: Callable[[int], None]
    ) -> None:
        self._host = host
        self._store = host.store
        self._remove_bot = remove_bot
        #: Told the room of each registration made or deleted here.
        self._changed = changed

    async def register(
        self, identity: Identity, room_id: int, kind: str, body: Mapping[str, Any]
    ) -> tuple[RoomCommand, str]:
        """A new registration of `kind` ("command" or "trigger") from a request's body,
        and its secret (shown once): its bot made and in the room, the change audited.
        `Conflict` past the room's most, or for a command name the room has."""
        if kind == "command":
            command: str | None = rc.command_name(body.get("Command"))
            words: tuple[str, ...] = ()
            description = rc.description(body.get("Description"))
        else:
            command, words, description = None, rc.trigger_words(body.get("TriggerWords")), ""
        url = rc.target_url(body.get("URL"))
        room = await self._authorized(identity, room_id)
        action, plural, most = _KINDS[kind]
        if len(await self._store.room_commands_of(room.id, kind)) >= most:
            raise Conflict(f"room {room.id} has {most} {plural}: delete one first")
        if command is not None and await self._store.room_command_named(room.id, command):
            raise Conflict(f"room {room.id} has a command {command} already")
        bot = await self._make_bot(identity, command or words[0], kind)
        secret = rc.new_secret()
        registration = RoomCommand(
            command_id=rc.new_id(),
            room_id=room.id,
            bot_id=bot.id,
            kind=kind,
            url=url,
            secret=secret,
            created_by=identity.user_id,
            created_at=int(time.time()),
            command=command,
            trigger_words=words,
            description=description,
        )
        entry = _entry(identity, room, f"{action}-create", registration, bot.name)
        outcome = "not stored"
        try:
            await self._store.add_member(room.id, bot.id)
            outcome = await self._store.add_room_command(registration, entry, most=most)
        finally:
            if outcome != "added":
                # A bot without its registration is deleted, even if the request is
                # being cancelled: its creator would otherwise hold a bot nobody asked for.
                with trio.move_on_after(5, shield=True):
                    await self._remove_bot(bot.id)
        if outcome == "full":
            raise Conflict(f"room {room.id} has {most} {plural}: delete one first")
        if outcome == "taken":
            raise Conflict(f"room {room.id} has a command {command} already")
        log_audit(entry)
        self._changed(room.id)
        return registration, secret

    async def listed(self, identity: Identity, room_id: int, kind: str) -> list[RoomCommand]:
        """The room's registrations of `kind`, oldest first, without their secrets."""
        room = await self._authorized(identity, room_id)
        return await self._store.room_commands_of(room.id, kind)

    async def commands_of(self, room_id: int) -> list[RoomCommand]:
        """The room's slash commands, for anyone who may write there (``/help``, the
        composer's completion): without secrets."""
        return await self._store.room_commands_of(room_id, "command")

    async def delete(self, identity: Identity, room_id: int, kind: str, command_id: str) -> None:
        """Delete a registration and its bot (its messages stay, under its name)."""
        room = await self._authorized(identity, room_id)
        action, _plural, _most = _KINDS[kind]
        for registration in await self._store.room_commands_of(room.id, kind):
            if registration.command_id == command_id:
                break
        else:
            raise NotFound(f"room {room.id} has no {action.replace('-', ' ')} {command_id[:32]!r}")
        entry = _entry(identity, room, f"{action}-delete", registration, registration.bot_name)
        if await self._store.delete_room_command(command_id, room.id, kind, entry) is None:
            raise NotFound(f"room {room.id} has no {action.replace('-', ' ')} {command_id[:32]!r}")
        log_audit(entry)
        self._changed(room.id)
        await self._remove_bot(registration.bot_id)

    async def _authorized(self, identity: Identity, room_id: int) -> Room:
        """The room, if the caller may manage its registrations; else the exact refusal
        (a direct conversation or support thread: only to those who may read it)."""
        return await self._host.moderation.authorized(identity, room_id, Action.COMMANDS)

    async def _make_bot(self, identity: Identity, word: str, kind: str) -> User:
        """The registration's bot: the first free name of its stem (then with a random
        suffix), shown as the command (``/deploy``) or the hook's first word when that
        passes the display-name rules."""
        stem = f"{word.lstrip('/')}-{'cmd' if kind == 'command' else 'trigger'}"
        names = (stem if n == 0 else f"{stem}-{secrets.token_hex(2)}" for n in range(_NAME_TRIES))
        bot = await self._host.bots.create_first_free(identity, names, word, self._host)
        if bot is not None:
            return bot
        raise Conflict(f"no free bot name for {word!r}: choose another")


def _entry(
    identity: Identity, room: Room, action: str, registration: RoomCommand, bot_name: str
) -> AuditEntry:
    # Never the URL: it may carry a credential of the receiver's in its query.
    details: dict[str, Any] = {"ID": registration.command_id}
    if registration.command is not None:
        details["Command"] = registration.command
    else:
        details["TriggerWords"] = list(registration.trigger_words)
    return AuditEntry(
        room_id=room.id,
        action=action,
        actor_id=identity.user_id,
        actor_name=identity.name,
        target_id=registration.bot_id,
        target_name=bot_name,
        details=details,
    )
