"""A group room's end, by its owners (and operators): archiving it (read-only, out of the
public directory, until unarchived) and deleting it with its messages and files.

Archived: every message stored checks the flag in its own transaction
(`chat.store.room_rules`), so a send through any instance, in any dialect, is refused
with `RoomArchived` (409) once the archiving has committed; edits, deletions, reactions
and pins (`require_writable`, from `chat.app.messages.changes` and `.pins`), joins and
invitations are refused too. Reading goes on: history, search, threads, read markers.
Every member's connections, on every instance, hear of the room as it is after
(``{"Type": "room", ..., "Archived"}``), as for any change of its settings.

Deleted: after a typed confirmation (the room's name), the store archives it, deletes
its messages a batch at a time and then its row (`chat.store.room_lifecycle`); the
files those messages carried are then collected (`after_files_detached`: the file
collector's sweep, `chat.files.collector`). Every member's connections, on every
instance, get ``{"Type": "room-deleted", "RoomID"}`` and leave it
(`chat.app.people.user_notices`). The lobby, direct conversations and support threads
are neither archived nor deleted (409): they have no owners.

Both write an audit entry ("archive", "unarchive", "delete-room") in the transaction
that makes the change.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Protocol

from chat.app.rooms.moderation import log_audit
from chat.core import shapes
from chat.core.errors import InvalidInput, NotFound, RoomArchived
from chat.core.moderation_records import AuditEntry
from chat.core.room_permissions import Action
from chat.store import RoomLifecycle

if TYPE_CHECKING:
    from chat.app.people.user_notices import UserNotices
    from chat.core.records import Identity, Room

#: Messages deleted per transaction while a room is deleted: each batch holds the writer
#: briefly (retention's batches are of this order, `chat.app.messages.retention`).
DELETE_BATCH = 500


def require_writable(room: Room) -> None:
    """Refuse a change to an archived room (as the store refuses its sends)."""
    if room.archived:
        raise RoomArchived(room.id)


class Authorizer(Protocol):
    """Who may act on a room (`chat.app.rooms.moderation.RoomModeration.authorized`)."""

    async def authorized(self, identity: Identity, room_id: int, action: Action) -> Room: ...


class HistoryCache(Protocol):
    """The newest messages kept in memory (`chat.app.history.from_memory`)."""

    async def messages_expired(self, room_id: int) -> None: ...


class LifecycleService(Protocol):
    """What a room's end needs of `chat.app.service.ChatService`."""

    @property
    def store(self) -> RoomLifecycle: ...
    @property
    def notices(self) -> UserNotices: ...
    @property
    def moderation(self) -> Authorizer: ...
    @property
    def history_cache(self) -> HistoryCache: ...


class RoomEnds:
    """Archiving, unarchiving and deleting group rooms, for HTTP routes."""

    def __init__(self, service: LifecycleService) -> None:
        self._service = service
        self._store = service.store
        self._notices = service.notices
        #: Called after a deletion that detached files (the collector's sweep; `serve` sets
        #: it, so the files go before the request is answered).
        self.after_files_detached: Callable[[], Awaitable[object]] | None = None

    async def set_archived(self, identity: Identity, room_id: int, archived: bool) -> Room:
        """Archive or unarchive a group room (owners and operators); the room after.
        Every member's connections, on every instance, hear of it (``room``)."""
        room = await self._service.moderation.authorized(identity, room_id, Action.ARCHIVE)
        entry = _entry(identity, room, "archive" if archived else "unarchive")
        after, changed = await self._store.set_archived(room.id, archived, entry)
        if after is None:
            raise NotFound(f"no room with RoomID {room_id}")
        if changed:
            log_audit(entry)
            await self._notices.send_to_members(after.id, {"Type": "room", **shapes.room(after)})
        return after

    async def delete(self, identity: Identity, room_id: int, confirm: str) -> None:
        """Delete a group room with its messages and files (owners and operators), once
        `confirm` is its name. Its members' connections, on every instance, are told
        (``room-deleted``) and leave it."""
        room = await self._service.moderation.authorized(identity, room_id, Action.ARCHIVE)
        if confirm != room.name:
            raise InvalidInput(
                f'"Confirm" must be the room\'s name, exactly as it is: {room.name!r}'
            )
        # Archived first: nothing new is stored in it while its messages go.
        await self._store.set_archived(room.id, True, None)
        deleted = files = 0
        while True:
            batch = await self._store.delete_room_messages(room.id, limit=DELETE_BATCH)
            deleted += batch.deleted
            files += batch.files
            if batch.done:
                break
        entry = _entry(identity, room, "delete-room", messages=deleted)
        if not await self._store.delete_room(room.id, entry):
            raise NotFound(f"no room with RoomID {room_id}")
        log_audit(entry)
        # Told before its memory is dropped: the members' connections leave it first.
        await self._notices.send_to_members(room.id, {"Type": "room-deleted", "RoomID": room.id})
        await self._service.history_cache.messages_expired(room.id)
        if files and self.after_files_detached is not None:
            await self.after_files_detached()


def _entry(
    identity: Identity, room: Room, action: str, *, messages: int | None = None
) -> AuditEntry:
    details: dict[str, object] = {"Name": room.name}
    if messages is not None:
        details["Messages"] = messages
    return AuditEntry(
        room_id=room.id,
        action=action,
        actor_id=identity.user_id,
        actor_name=identity.name,
        target_id=None,
        target_name=None,
        message_id=None,
        reason="",
        details=details,
    )
