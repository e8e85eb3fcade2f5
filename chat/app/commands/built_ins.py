"""The commands the server runs itself, typed in the composer: ``/topic``, ``/invite``,
``/leave``, ``/mute``, ``/status`` and ``/help`` (``/me`` is posted, as an action: see
`chat.app.commands.dispatch`). Each does what the matching HTTP route does, under the
same rules (`chat.core.room_permissions`), and answers its caller alone: its answer or
its refusal is the text of an ephemeral frame.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Protocol

from chat.core import moderation_input
from chat.core.errors import InvalidInput, NotFound
from chat.core.moderation_input import MAX_MUTE_SECONDS
from chat.core.records import Identity, Room, User
from chat.core.room_commands import BUILT_INS, CommandText
from chat.core.statuses import UserStatus, status_from_fields

if TYPE_CHECKING:
    from chat.app.commands.registry import CommandRegistry
    from chat.app.rooms.moderation import RoomModeration

#: ``10m``: a number and a unit (seconds, minutes, hours, days).
_DURATION = re.compile(r"([1-9][0-9]{0,6})([smhd])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class StatusSetter(Protocol):
    """Setting and clearing one's status (`chat.app.people.statuses.Statuses`)."""

    async def set(self, identity: Identity, status: UserStatus) -> UserStatus: ...
    async def clear(self, identity: Identity) -> None: ...


class UserFinder(Protocol):
    async def user_by_name(self, name: str) -> User | None: ...


class BuiltInHost(Protocol):
    """What the built-ins need of `chat.app.service.ChatService`."""

    @property
    def store(self) -> UserFinder: ...
    @property
    def moderation(self) -> RoomModeration: ...
    async def invite(self, identity: Identity, room_id: int, user_id: int) -> Room: ...


class BuiltIns:
    """Runs a built-in command; its answer is for the caller alone."""

    def __init__(
        self, host: BuiltInHost, registry: CommandRegistry, statuses: StatusSetter | None
    ) -> None:
        self._host = host
        self._registry = registry
        self._statuses = statuses

    async def run(self, identity: Identity, room: Room, command: CommandText) -> str:
        """Run `command` (one of `BUILT_INS` but ``/me``); its answer. A `ChatError`
        refuses it (no permission, an unknown user, a bad duration)."""
        if command.name == "/help":
            return await self._help(room)
        if command.name == "/leave":
            await self._host.moderation.leave(identity, room.id)
            return f"you left {room.name}"
        if command.name == "/topic":
            topic = moderation_input.topic({"Topic": command.rest})
            await self._host.moderation.update_settings(identity, room.id, {"topic": topic})
            return "topic changed" if topic else "topic cleared"
        if command.name == "/invite":
            user = await self._named(command.rest, "/invite @name")
            await self._host.invite(identity, room.id, user.id)
            return f"invited @{user.name}"
        if command.name == "/mute":
            return await self._mute(identity, room, command.rest)
        if command.name == "/status":
            return await self._status(identity, command.rest)
        raise AssertionError(f"not a built-in: {command.name}")

    async def _help(self, room: Room) -> str:
        lines = ["Commands:", *(f"{BUILT_INS[name]}" for name in BUILT_INS)]
        registered = await self._registry.commands_of(room.id)
        if registered:
            lines.append("This room's commands:")
            for command in registered:
                described = f": {command.description}" if command.description else ""
                lines.append(f"{command.command}{described}")
        lines.append("Start a message with // or '/ ' to post it as it is.")
        return "\n".join(lines)

    async def _named(self, words: str, usage: str) -> User:
        """The user `words` names first (``@name`` or ``name``)."""
        name = words.split()[0].removeprefix("@") if words.split() else ""
        if not name:
            raise InvalidInput(f"usage: {usage}")
        user = await self._host.store.user_by_name(name[:100])
        if user is None:
            raise NotFound(f"no user @{name[:100]}")
        return user

    async def _mute(self, identity: Identity, room: Room, rest: str) -> str:
        usage = "/mute @name 10m [reason] (s, m, h or d)"
        user = await self._named(rest, usage)
        words = rest.split(maxsplit=2)
        found = _DURATION.fullmatch(words[1]) if len(words) > 1 else None
        if found is None:
            raise InvalidInput(f"not a duration: usage {usage}")
        seconds = int(found[1]) * _UNIT_SECONDS[found[2]]
        if seconds > MAX_MUTE_SECONDS:
            raise InvalidInput(f"a mute lasts at most {MAX_MUTE_SECONDS // 86400} days")
        reason = moderation_input.reason({"Reason": words[2] if len(words) > 2 else ""})
        until = datetime.now(UTC) + timedelta(seconds=seconds)
        await self._host.moderation.mute(identity, room.id, user.id, reason=reason, until=until)
        return f"muted @{user.name} for {words[1]}"

    async def _status(self, identity: Identity, text: str) -> str:
        if self._statuses is None:
            raise InvalidInput("statuses are not kept by this server")
        if not text:
            await self._statuses.clear(identity)
            return "status cleared"
        await self._statuses.set(identity, status_from_fields({"Text": text}, datetime.now(UTC)))
        return "status set"
