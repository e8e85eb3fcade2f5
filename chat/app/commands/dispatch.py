"""Messages read as commands, and posted messages matched against trigger words.

A text sent over ``/ws`` (the room protocol's ``message`` frame) or ``POST
/messages/{roomID}`` is first offered to `SlashCommands.take`:

- not a command (`chat.core.room_commands.as_command`: no ``/word`` at its start, or
  ``//`` or ``/ `` there): posted as it is;
- ``/me <text>``: posted as it is; a message whose text starts with ``/me `` is an
  action, which clients show as "name <text>";
- another built-in (`chat.app.commands.built_ins`): run at once, its answer (or refusal)
  an ephemeral frame to the caller;
- a command the room registered: not posted; a job of `CommandCalls` sends it to the
  command's URL and posts the answer as the command's bot, or sends it to the caller
  alone (``Ephemeral``), or tells the caller why the call failed;
- any other ``/word``: not posted; the caller is told it is unknown.

What was taken is `Taken`: the front door acknowledges it (a ``command`` frame, or 202)
in place of a message, repeating a ClientMsgID, so a client stops retrying, then has
`tell` send the answer known at once (a built-in's, a refusal) as an ephemeral frame. A resend of
a ClientMsgID this instance took lately (`_SEEN`) is acknowledged without running again.

Ephemeral frames reach every ``/ws`` connection of the caller's, on every instance
(`chat.app.people.user_notices`). Trigger words: the writer tells `stored` each message
this instance stored (so each is matched once in a cluster); one job per message that
holds a room's trigger word sends it, with ``TriggerWord`` and ``MessageID``, and posts
the answer as the hook's bot. A room's hooks are kept `TRIGGERS_TTL_S` seconds in memory
(dropped at once here when they change): a hook registered on another instance is
matched within that long.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import TYPE_CHECKING, Any, NoReturn, Protocol

import trio

from chat.app.commands.built_ins import BuiltIns, StatusSetter
from chat.app.commands.calls import CallFailed, CommandCalls
from chat.app.commands.registry import CommandRegistry, RegistryHost, RegistryStore
from chat.core import shapes
from chat.core.api_tokens import require_write
from chat.core.errors import ChatError, Unavailable
from chat.core.outgoing import OutgoingMessage
from chat.core.records import Identity, Message, Room, User
from chat.core.room_commands import (
    BUILT_INS,
    CommandText,
    RoomCommand,
    answer_of,
    as_command,
    trigger_in,
)

if TYPE_CHECKING:
    from chat.app.limits.rate_limits import RateLimits
    from chat.app.people.user_notices import UserNotices

log = logging.getLogger(__name__)

#: How long a room's trigger words are kept in memory.
TRIGGERS_TTL_S = 2.0
#: Rooms whose trigger words are kept at once.
_MAX_ROOMS_KEPT = 4096
#: ClientMsgIDs of commands taken lately, per instance.
_SEEN = 4096


class CommandsStore(RegistryStore, Protocol):
    """What commands need of the store: registrations, users by name, bots' deletion."""

    async def user_by_name(self, name: str) -> User | None: ...
    async def delete_bot(self, bot_id: int) -> bool: ...


class Revoker(Protocol):
    async def account_deleted(self, user_id: int) -> None: ...


class CommandsHost(RegistryHost, Protocol):
    """What commands need of `chat.app.service.ChatService`."""

    @property
    def store(self) -> CommandsStore: ...
    @property
    def notices(self) -> UserNotices: ...
    @property
    def rate_limits(self) -> RateLimits: ...
    @property
    def revocations(self) -> Revoker: ...
    async def user(self, user_id: int) -> User: ...
    async def invite(self, identity: Identity, room_id: int, user_id: int) -> Room: ...
    async def post(self, identity: Identity, room: Room, outgoing: OutgoingMessage) -> object: ...


@dataclass(frozen=True, slots=True)
class Taken:
    """A text taken as a command instead of posted: which command, and the answer the
    caller was sent at once (a built-in's, a refusal), if any."""

    command: str
    text: str | None = None


class SlashCommands:
    """Commands and trigger words; owns the calls' task (`run`)."""

    def __init__(
        self, host: CommandsHost, calls: CommandCalls, statuses: StatusSetter | None
    ) -> None:
        self._host = host
        self.calls = calls
        self.registry = CommandRegistry(host, self._remove_bot, self.forget_triggers)
        self._built_ins = BuiltIns(host, self.registry, statuses)
        self._triggers: OrderedDict[int, tuple[float, list[RoomCommand]]] = OrderedDict()
        self._seen: OrderedDict[tuple[int, int, str], None] = OrderedDict()

    async def run(
        self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> NoReturn:
        """Run the calls' nursery (`CommandCalls.run`). Runs until cancelled."""
        await self.calls.run(task_status=task_status)

    # --- sent texts ---

    async def take(self, identity: Identity, room: Room, outgoing: OutgoingMessage) -> Taken | None:
        """What to do with a text sent to `room`: None, post it; else it was taken as a
        command (see the module's docstring). The caller may write to `room`."""
        command = as_command(outgoing.body)
        if command is None or (command.name == "/me" and command.rest):
            return None
        require_write(identity)
        key = None
        if outgoing.client_msg_id is not None:
            key = (identity.user_id, room.id, outgoing.client_msg_id)
            if key in self._seen:
                return Taken(command.name)  # a resend: taken once already
        # Every command costs what a message does (CHAT_RATE_MESSAGES), a built-in's and
        # an unknown one's too.
        self._host.rate_limits.hit(self._host.rate_limits.messages, str(identity.user_id))
        taken = await self._run(identity, room, command)
        # Remembered once taken: a refused command (muted, too many) may be sent again.
        if key is not None:
            self._seen[key] = None
            if len(self._seen) > _SEEN:
                self._seen.popitem(last=False)
        return taken

    async def _run(self, identity: Identity, room: Room, command: CommandText) -> Taken:
        if command.name == "/me":
            return Taken(command.name, "usage: /me <text>")
        if command.name in BUILT_INS:
            try:
                text = await self._built_ins.run(identity, room, command)
            except ChatError as error:
                text = str(error)
            return Taken(command.name, text)
        registered = await self._host.store.room_command_named(room.id, command.name)
        if registered is None:
            text = f"unknown command {command.name}; /help lists them"
            return Taken(command.name, text)
        # Someone muted here sends no commands either.
        await self._host.moderation.require_not_muted(identity, room)
        payload = {
            "Command": command.name,
            "Text": command.rest,
            "RoomID": room.id,
            "UID": identity.user_id,
            "Username": identity.name,
            "Timestamp": shapes.timestamp(datetime.now(UTC)),
        }
        job = partial(self._command_job, identity, room, registered, payload)
        if not self.calls.start(job):
            raise Unavailable("too many commands are being sent: try again in a moment")
        return Taken(command.name)

    async def tell(self, identity: Identity, room: Room, taken: Taken) -> None:
        """Send what `taken` answered at once, if anything, as an ephemeral frame: the
        front door calls it after its acknowledgement, so a client hears them in that
        order."""
        if taken.text is not None:
            await self.ephemeral(identity.user_id, room.id, taken.text)

    async def ephemeral(self, user_id: int, room_id: int, text: str) -> None:
        """Show `text` to the user alone, in the room: on each of their connections,
        on every instance. Never stored."""
        frame = {"Type": "ephemeral", "RoomID": room_id, "Text": text}
        await self._host.notices.send(user_id, frame)

    async def _command_job(
        self, identity: Identity, room: Room, command: RoomCommand, payload: dict[str, Any]
    ) -> None:
        """Send a command to its receiver and show its answer, or tell the caller why it
        failed. Runs in `CommandCalls`' nursery."""
        name = payload["Command"]
        try:
            answer = await self.calls.send(command.url, command.secret, payload)
            parsed = answer_of(answer.body)
            if parsed is None:
                return
            text, ephemeral = parsed
            if ephemeral:
                await self.ephemeral(identity.user_id, room.id, text)
            else:
                await self._post_as_bot(command, room, text)
        except (CallFailed, ChatError) as error:
            await self.ephemeral(identity.user_id, room.id, f"{name} failed: {error}")

    async def _post_as_bot(self, registration: RoomCommand, room: Room, text: str) -> None:
        """Post `text` in `room` as the registration's bot, under a member's rules."""
        bot = await self._host.user(registration.bot_id)
        as_bot = Identity(bot.id, bot.name, False, bot.token_version)
        await self._host.post(as_bot, room, OutgoingMessage(body=text))

    # --- trigger words ---

    def stored(self, messages: Sequence[tuple[Message, Room]]) -> None:
        """Messages this instance has just stored (`MessageWriter.tell_stored`): each one
        a person sent to a group room is matched against its trigger words. With the
        room's hooks in memory the match is made here, and only a message that holds a
        word takes a job (most rooms have none: no task per message); else a job reads
        them. Never waits; a full `CommandCalls` drops the job (logged)."""
        for message, room in messages:
            if message.sender_is_bot or room.kind != "group" or not message.body:
                continue
            hooks = self._kept_triggers(room.id)
            if hooks is not None and not any(
                trigger_in(message.body, hook.trigger_words) for hook in hooks
            ):
                continue
            if not self.calls.start(partial(self._trigger_job, message, room)):
                log.warning("too many jobs: message %d not matched to trigger words", message.id)

    async def _trigger_job(self, message: Message, room: Room) -> None:
        """Send `message` to each of its room's hooks that it holds a word of, and post
        their answers. Runs in `CommandCalls`' nursery."""
        for hook in await self._room_triggers(room.id):
            word = trigger_in(message.body, hook.trigger_words)
            if word is None:
                continue
            payload = {
                "TriggerWord": word,
                "Text": message.body,
                "MessageID": message.id,
                "RoomID": room.id,
                "UID": message.sender_id,
                "Username": message.sender_name,
                "Timestamp": shapes.timestamp(message.created_at),
            }
            try:
                answer = await self.calls.send(hook.url, hook.secret, payload)
                parsed = answer_of(answer.body)
                if parsed is not None:
                    await self._post_as_bot(hook, room, parsed[0])
            except (CallFailed, ChatError) as error:
                # Nobody asked for it: the failure is the log's alone.
                log.info("outgoing webhook %s failed: %s", hook.command_id, error)

    def _kept_triggers(self, room_id: int) -> list[RoomCommand] | None:
        """The room's hooks, if read within `TRIGGERS_TTL_S`; else None."""
        kept = self._triggers.get(room_id)
        if kept is not None and time.monotonic() - kept[0] < TRIGGERS_TTL_S:
            return kept[1]
        return None

    async def _room_triggers(self, room_id: int) -> list[RoomCommand]:
        kept = self._kept_triggers(room_id)
        if kept is not None:
            return kept
        # Timed from before the read: a change committed during it is read next time.
        now = time.monotonic()
        hooks = await self._host.store.room_triggers(room_id)
        self._triggers[room_id] = (now, hooks)
        self._triggers.move_to_end(room_id)
        if len(self._triggers) > _MAX_ROOMS_KEPT:
            self._triggers.popitem(last=False)
        return hooks

    def forget_triggers(self, room_id: int) -> None:
        """The room's hooks changed here: read them again next time."""
        self._triggers.pop(room_id, None)

    async def _remove_bot(self, bot_id: int) -> None:
        """Delete a registration's bot, and close its connections everywhere."""
        await self._host.store.delete_bot(bot_id)
        await self._host.revocations.account_deleted(bot_id)
