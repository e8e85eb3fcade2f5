"""Activity: telling each ``/ws`` connection of a user that something arrived in one of
their rooms other than the one it is in, so badges update without polling.

A connection hears ``{"Type": "activity", "RoomID", "MessageID", "Mention"}`` for a
message someone else sent in one of its user's rooms, and for an edit that newly
mentions its user. Per connection and room at most one frame a `window` (1 s): the first
goes at once; what follows within the window is coalesced into one frame at its end
(the latest MessageID; Mention true if any of them mentioned the user). Best effort, as
notices are: the counts themselves are in the database (``GET /rooms/unread``).

What it costs: a message in room R is looked at once per instance, and costs one step
per connected member of R on this instance; never anything per member of another room,
nor per room of a member. For that, each instance keeps, for the users connected to it
here, which rooms they are members of (`_members`: room id to user ids), loaded when a
user's first connection arrives and kept up to date by the notices that say a user
joined a room or was invited into one (`on_notice`). The lobby (everyone) and direct
conversations and support threads (their users are named by the room) need no index.

Ownership: `Activity` owns the registry of room-protocol connections by user (filed and
unfiled by `chat.ws.server` for each session's life, as `chat.notices` is), the index,
and the coalescing state. The writer hands it each published batch (`offer`, never
waiting: a full inbox drops the batch and counts it). `run`, a child of the root
nursery, owns the inbox's receive end and a nursery of two tasks: the fan-out with its
timer for coalesced frames, and the loader of new users' rooms.
"""

from __future__ import annotations

import heapq
import json
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NoReturn, Protocol

import trio

from .store import Change, Message, Room
from .task_failures import TaskFailures
from .ws.frames import text_frame

if TYPE_CHECKING:
    from .service import Identity
    from .store.roles import Rooms

log = logging.getLogger(__name__)

#: At most one activity frame per connection and room in this many seconds.
WINDOW_S = 1.0
#: Published batches waiting for the fan-out past which new ones are dropped.
INBOX_SIZE = 256
#: Users whose rooms wait to be loaded past which new ones are not indexed.
LOAD_QUEUE_SIZE = 10_000
#: The longest a new connection's first frame waits for its user's rooms to be indexed.
READY_WAIT_S = 2.0

Published = Sequence[tuple[Message | Change, Room]]


class Watcher(Protocol):
    """A connection as activity sees it (`chat.ws.session.ClientSession`)."""

    identity: Identity | None
    #: The room the connection is in (None: none), kept by `chat.ws.rooms`.
    room_id: int | None

    def offer(self, data: bytes) -> bool: ...


@dataclass(slots=True)
class _Slot:
    """A connection's activity state for one room: when its last frame went, and what
    waits for the end of the window (`held_id` 0: nothing)."""

    sent_at: float
    held_id: int = 0
    mention: bool = False


def activity_frame(room_id: int, message_id: int, mention: bool) -> bytes:
    # The same compact JSON as `chat.ws.dispatch.dumps` (which this module, imported by
    # the service, cannot import: the ws package imports the service).
    frame = {"Type": "activity", "RoomID": room_id, "MessageID": message_id, "Mention": mention}
    return text_frame(json.dumps(frame, separators=(",", ":")))


class Activity:
    """The registry, the membership index and the coalescing; `run` does the work."""

    def __init__(
        self,
        store: Rooms,
        lobby_id: int,
        *,
        window: float = WINDOW_S,
        failures: TaskFailures | None = None,
    ) -> None:
        self._store = store
        self._lobby_id = lobby_id
        self._window = window
        self._failures = failures or TaskFailures()
        #: This instance's room-protocol connections, by user.
        self._connections: dict[int, set[Watcher]] = {}
        #: For the users connected here: room id to the members among them.
        self._members: dict[int, set[int]] = {}
        #: For the users connected here: their rooms (to take them out of `_members`).
        self._rooms: dict[int, set[int]] = {}
        self._slots: dict[Watcher, dict[int, _Slot]] = {}
        #: Held frames' due times: (due, tie-breaker, connection, room id).
        self._due: list[tuple[float, int, Watcher, int]] = []
        self._ticket = 0
        # `offer` holds the send end (the writer calls it); `run` owns the receive end.
        self._inbox_send, self._inbox_receive = trio.open_memory_channel[Published](INBOX_SIZE)
        self._load_send, self._load_receive = trio.open_memory_channel[int](LOAD_QUEUE_SIZE)
        #: Users whose rooms are being loaded: set once they are indexed (or failed).
        self._loading: dict[int, trio.Event] = {}
        #: Counters for `chat.metrics`: frames sent, batches dropped (inbox full).
        self.frames = 0
        self.dropped = 0

    # --- the registry (`chat.ws.session.Registry`, for room-protocol sessions) ---

    def file(self, session: Watcher) -> None:
        if session.identity is None:
            return
        user_id = session.identity.user_id
        connections = self._connections.setdefault(user_id, set())
        connections.add(session)
        if len(connections) == 1:
            try:
                self._load_send.send_nowait(user_id)
            except trio.WouldBlock:
                log.warning("activity: too many users to index at once; user %d left out", user_id)
            else:
                self._loading[user_id] = trio.Event()

    async def ready(self, user_id: int) -> None:
        """Return once the user's rooms are indexed (at most `READY_WAIT_S`): a room
        connection handles its first frame after this (`chat.ws.rooms`), so a client
        that had an answer hears every room's activity from then on."""
        loading = self._loading.get(user_id)
        if loading is not None:
            with trio.move_on_after(READY_WAIT_S):
                await loading.wait()

    def refile(self, session: Watcher, before: Identity | None) -> None:
        if before is not None:
            self._forget(before.user_id, session)
        self.file(session)

    def unfile(self, session: Watcher) -> None:
        if session.identity is not None:
            self._forget(session.identity.user_id, session)

    def _forget(self, user_id: int, session: Watcher) -> None:
        self._slots.pop(session, None)
        connections = self._connections.get(user_id)
        if connections is None:
            return
        connections.discard(session)
        if connections:
            return
        del self._connections[user_id]
        for room_id in self._rooms.pop(user_id, ()):
            members = self._members.get(room_id)
            if members is not None:
                members.discard(user_id)
                if not members:
                    del self._members[room_id]

    def _index(self, user_id: int, room_ids: Sequence[int]) -> None:
        """`user_id` is a member of `room_ids` (while connected here)."""
        if user_id not in self._connections:
            return  # gone meanwhile
        rooms = self._rooms.setdefault(user_id, set())
        for room_id in room_ids:
            rooms.add(room_id)
            self._members.setdefault(room_id, set()).add(user_id)

    def on_notice(self, user_id: int, frame: dict[str, Any]) -> None:
        """A notice to a user (`chat.notices`): one saying they joined a room or were
        invited into one adds the room to their index here. Never waits."""
        room_id = frame.get("RoomID")
        if frame.get("Type") in ("joined", "invited") and isinstance(room_id, int):
            self._index(user_id, (room_id,))

    # --- the fan-out ---

    def offer(self, published: Published) -> None:
        """A batch the writer published, in position order. Never waits."""
        try:
            self._inbox_send.send_nowait(published)
        except trio.WouldBlock:
            self.dropped += 1

    def _readers(self, room: Room) -> Sequence[int] | set[int]:
        """The users connected here who may read `room`."""
        if room.id == self._lobby_id:
            return list(self._connections)
        if room.kind == "direct" and room.pair is not None:
            return [u for u in set(room.pair) if u in self._connections]
        if room.kind == "support" and room.creator_id is not None:
            return [room.creator_id] if room.creator_id in self._connections else []
        return self._members.get(room.id, set())

    def _fan_out(self, published: Published) -> None:
        now = trio.current_time()
        for item, room in published:
            if isinstance(item, Message):
                if item.deleted:
                    continue
                for user_id in list(self._readers(room)):
                    if user_id != item.sender_id:
                        self._tell(user_id, room.id, item.id, item.mentions_user(user_id), now)
            elif item.kind == "edited" and item.newly is not None:
                newly = item.newly
                for user_id in list(self._readers(room)):
                    if newly.mentions_user(user_id):
                        self._tell(user_id, room.id, item.message_id, True, now)

    def _tell(self, user_id: int, room_id: int, message_id: int, mention: bool, now: float) -> None:
        for session in self._connections.get(user_id, ()):
            if session.room_id == room_id:
                continue  # it sees the message itself
            slots = self._slots.setdefault(session, {})  # made with its first activity
            slot = slots.get(room_id)
            if slot is None or (slot.held_id == 0 and now - slot.sent_at >= self._window):
                slots[room_id] = _Slot(now)
                self._send(session, room_id, message_id, mention)
                continue
            if slot.held_id == 0:
                self._ticket += 1
                heapq.heappush(
                    self._due, (slot.sent_at + self._window, self._ticket, session, room_id)
                )
            slot.held_id = max(slot.held_id, message_id)
            slot.mention = slot.mention or mention

    def _send(self, session: Watcher, room_id: int, message_id: int, mention: bool) -> None:
        self.frames += 1
        session.offer(activity_frame(room_id, message_id, mention))

    def _flush_due(self) -> None:
        """Send the held frames whose window has ended."""
        now = trio.current_time()
        while self._due and self._due[0][0] <= now:
            _due, _ticket, session, room_id = heapq.heappop(self._due)
            slot = self._slots.get(session, {}).get(room_id)
            if slot is None or slot.held_id == 0:
                continue  # the connection is gone
            message_id, mention = slot.held_id, slot.mention
            slot.sent_at, slot.held_id, slot.mention = now, 0, False
            if session.room_id != room_id:  # it may have entered the room meanwhile
                self._send(session, room_id, message_id, mention)

    # --- the tasks ---

    async def run(
        self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> NoReturn:
        """Fan out published batches and flush coalesced frames; load new users' rooms.
        Runs until cancelled."""
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._load_rooms)
            task_status.started()
            await self._fan_out_forever()
        raise AssertionError("unreachable")

    async def _fan_out_forever(self) -> NoReturn:
        while True:
            wait = self._due[0][0] - trio.current_time() if self._due else math.inf
            with trio.move_on_after(max(wait, 0)):
                published = await self._inbox_receive.receive()
                with self._failures.contained("activity", "a fan-out"):
                    self._fan_out(published)
            self._flush_due()

    async def _load_rooms(self) -> NoReturn:
        while True:
            user_id = await self._load_receive.receive()
            # If the database is away, this user's badges wait for their next connection
            # (the counts stay right in the database).
            with self._failures.contained("activity", f"loading the rooms of user {user_id}"):
                if user_id in self._connections:
                    self._index(user_id, await self._store.rooms_of(user_id))
            loaded = self._loading.pop(user_id, None)
            if loaded is not None:
                loaded.set()
