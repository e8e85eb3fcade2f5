"""Changes to messages: edits, deletions and reactions, the rules for who may make them,
and how each reaches everyone.

A change is committed before anyone hears of it, as a message is: the store writes it in
one transaction with the next position of the message stream (`chat.store.Changes`),
then `MessageWriter.committed` publishes it, in position order with the messages, on
this instance, and wakes the others, which read it from the table. Every connection in
the room, the author's included (that is its confirmation), receives it.

The rules live here once, for every adapter (the room protocol on /ws, HTTP):

- only a message's author may edit it, within `edit_window_s` of sending it (None: any
  time); editing to the same text changes nothing;
- its author may delete it, and so may the moderators and owners of the group room it is
  in (and operators, anywhere but direct conversations and support threads: the
  `Moderators` given, `chat.app.rooms.moderation`), whose deletions of others' messages go to
  the audit log; deleting a tombstone again changes nothing;
- a member muted in the room can neither edit nor react there;
- anyone who may read the room may react, at most once per emoji, with at most
  `MAX_EMOJI` different emoji per message;
- a tombstone can be neither edited nor reacted to;
- every change counts against its author's message rate limit, as a message does;
- an edit's text is read for mentions again (`chat.app.messages.mentions`): the message mentions who
  the new text mentions, and only those it did not mention before are notified.

They are checked inside the store's transaction (`Check`), so what they saw is still
true when the change commits (a deletion racing an edit cannot let the edit through).
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Protocol

import trio

from chat.app.messages import mentions
from chat.core import validation
from chat.core.api_tokens import require_write
from chat.core.errors import Forbidden, NotFound, Unavailable
from chat.core.records import Change, Message, Room, Version
from chat.store import Changes, LinkPreviews, Rooms

if TYPE_CHECKING:
    from chat.app.limits.rate_limits import RateLimits
    from chat.app.messages.writer import MessageWriter
    from chat.core.records import Identity

log = logging.getLogger(__name__)

#: The most different emoji one message may be reacted with.
MAX_EMOJI = 20
#: How long a deletion and its audit entry may take to be written (then it fails).
DELETE_TIMEOUT_S = 10.0


def _unknown(room: Room, message_id: int) -> NotFound:
    return NotFound(f"no message with MessageID {message_id} in room {room.id}")


def _exists(room: Room, message_id: int, message: Message | None) -> Message:
    """The message, if it exists and is not a tombstone."""
    if message is None:
        raise _unknown(room, message_id)
    if message.deleted:
        raise NotFound(f"message {message_id} was deleted")
    return message


class MentionsAndChanges(Changes, Rooms, LinkPreviews, Protocol):
    """What the changes need of the store: an edit looks its mentions up."""


class Moderators(Protocol):
    """What the changes need of the rules of running a room (`chat.app.rooms.moderation`)."""

    async def require_not_muted(self, identity: Identity, room: Room) -> None: ...
    async def require_writable(self, room: Room) -> None: ...

    async def may_delete_any(self, identity: Identity, room: Room) -> bool: ...

    async def deleted_by_moderator(
        self, identity: Identity, room: Room, message: Message
    ) -> None: ...


class MessageChanges:
    """Edits, deletions and reactions for every protocol adapter."""

    def __init__(
        self,
        store: MentionsAndChanges,
        writer: MessageWriter,
        rate_limits: RateLimits,
        *,
        max_text_chars: int,
        edit_window_s: float | None,
        moderators: Moderators,
    ) -> None:
        self._store = store
        self._moderators = moderators
        self._writer = writer
        self._rate_limits = rate_limits
        self._max_text_chars = max_text_chars
        self._edit_window = None if edit_window_s is None else timedelta(seconds=edit_window_s)
        #: Changes this instance committed, by kind ("edited", "deleted", "reactions";
        #: `chat.app.messages.pins` counts "pins" here too):
        #: plain counts, read by `chat.app.metrics` when it is scraped.
        self.committed: dict[str, int] = {}

    def _count(self, identity: Identity) -> None:
        """A change costs what a message costs (`RateLimited` past the limit); a read-only
        token may make none (`Forbidden`)."""
        require_write(identity)
        self._rate_limits.hit(self._rate_limits.messages, str(identity.user_id))

    def _published(self, change: Change | None, room: Room) -> Change | None:
        """Publish `change` (as committed: in position order), then the change its commit
        made next (a deleted thread reply's thread summary)."""
        if change is None:
            return None
        then = change.then
        if then is not None:
            change = replace(change, then=None)
        self.committed[change.kind] = self.committed.get(change.kind, 0) + 1
        self._writer.committed(change, room)
        if then is not None:
            self._published(then, room)
        return change

    async def edit(
        self, identity: Identity, room: Room, message_id: int, text: str
    ) -> Change | None:
        """Replace the text of the caller's own message `message_id` in `room` (the
        caller may read the room: `ChatService.member_room`). None if the text is the
        same: nothing changed."""
        validation.message_text(text, self._max_text_chars)
        self._count(identity)
        await self._moderators.require_writable(room)
        await self._moderators.require_not_muted(identity, room)
        mentioned = await mentions.resolve(self._store, room, identity.user_id, text)

        def check(message: Message | None) -> None:
            message = _exists(room, message_id, message)
            if message.sender_id != identity.user_id:
                raise Forbidden(f"only the author of message {message_id} may edit it")
            window = self._edit_window
            if window is not None and datetime.now(UTC) - message.created_at > window:
                raise Forbidden(
                    f"message {message_id} can no longer be edited: messages may be edited"
                    f" for {window.total_seconds():g} s after they are sent"
                )

        change = await self._store.edit_message(
            room.id,
            message_id,
            text,
            check,
            mentions=mentioned.uids,
            mentions_room=mentioned.room,
        )
        return self._published(change, room)

    async def delete(self, identity: Identity, room: Room, message_id: int) -> Change | None:
        """Delete message `message_id` of `room`: its author may, and so may the room's
        moderators (`Moderators.may_delete_any`). None if it was deleted already."""
        self._count(identity)
        await self._moderators.require_writable(room)
        moderator = await self._moderators.may_delete_any(identity, room)
        deleted: list[Message] = []

        def check(message: Message | None) -> None:
            if message is None:
                raise _unknown(room, message_id)
            if message.sender_id != identity.user_id and not moderator:
                raise Forbidden(
                    f"only the author of message {message_id} or a moderator of the room"
                    " may delete it"
                )
            deleted.append(message)

        # Shielded, from the commit to the audit entry: a deletion cancelled between the
        # two (its client gone, a shutdown; on PostgreSQL even while its COMMIT is
        # answered) would stay unaudited for good, since deleting again changes nothing.
        # Bounded, as the writer's commit is: a database that stops answering fails it.
        with trio.move_on_after(DELETE_TIMEOUT_S, shield=True) as deleting:
            committed = await self._store.delete_message(room.id, message_id, check)
            change = self._published(committed, room)
            if change is not None and deleted[-1].sender_id != identity.user_id:
                await self._moderators.deleted_by_moderator(identity, room, deleted[-1])
        if deleting.cancelled_caught:
            detail = f"deleting message {message_id} did not finish in {DELETE_TIMEOUT_S:g} s"
            log.warning("database unavailable: %s", detail)
            raise Unavailable(detail=detail)
        return change

    async def remove_previews(
        self, identity: Identity, room: Room, message_id: int
    ) -> Change | None:
        """Remove the link previews of message `message_id` of `room` for good: its author
        may, and so may the room's moderators. None if it had none."""
        self._count(identity)
        await self._moderators.require_writable(room)
        moderator = await self._moderators.may_delete_any(identity, room)

        def check(message: Message | None) -> None:
            message = _exists(room, message_id, message)
            if message.sender_id != identity.user_id and not moderator:
                raise Forbidden(
                    f"only the author of message {message_id} or a moderator of the room"
                    " may remove its previews"
                )

        change = await self._store.remove_previews(room.id, message_id, check)
        return self._published(change, room)

    async def react(
        self, identity: Identity, room: Room, message_id: int, emoji: str, *, add: bool
    ) -> Change | None:
        """Add (`add`) or take back the caller's reaction `emoji` to message `message_id`
        of `room`. None if there was nothing to change."""
        typed, emoji = emoji, validation.reaction(emoji)  # :thumbsup: and 👍 are one
        self._count(identity)
        await self._moderators.require_writable(room)
        await self._moderators.require_not_muted(identity, room)

        def check(message: Message | None) -> None:
            _exists(room, message_id, message)

        change = await self._store.react(
            room.id, message_id, identity.user_id, emoji, add=add, max_emoji=MAX_EMOJI, check=check
        )
        if change is None and not add and typed != emoji:
            # A reaction stored as typed, before shortcodes were folded into their emoji.
            change = await self._store.react(
                room.id,
                message_id,
                identity.user_id,
                typed,
                add=False,
                max_emoji=MAX_EMOJI,
                check=check,
            )
        return self._published(change, room)

    async def message(self, room: Room, message_id: int) -> Message:
        """Message `message_id` of `room` as it is now (a tombstone, if deleted)."""
        message = await self._store.message_in_room(room.id, message_id)
        if message is None:
            raise _unknown(room, message_id)
        return message

    async def versions(self, room: Room, message_id: int) -> list[Version]:
        """The versions of a message's text, the original first."""
        versions = await self._store.message_versions(room.id, message_id)
        if versions is None:
            raise _unknown(room, message_id)
        if not versions:
            raise NotFound(f"message {message_id} was deleted")
        return versions
