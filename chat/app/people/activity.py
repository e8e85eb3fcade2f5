"""Activity: telling each ``/ws`` connection of a user that something arrived in one of
their rooms other than the one it is in, so badges update without polling.

A connection hears ``{"Type": "activity", "RoomID", "MessageID", "Mention"}`` for a
message someone else sent in one of its user's rooms (a thread reply not sent to the
room only if it mentions its user or its user follows the thread, and then with
``"ThreadID"``, the thread's root), and for an edit that newly mentions its user. A
room's connections elsewhere are told at most once a `window` (1 s; longer where the
room has more than `WINDOW_READERS` members connected here, up to `MAX_WINDOW_S`, as
each telling is a write to every one of their connections): the first message is told at
once; what follows within the window is gathered (`ActivityWindow`: the latest id, who
sent, who was mentioned or follows) and told once at its end (the latest MessageID;
Mention true if any of them mentioned the user). Best effort, as notices are: the counts
themselves are in the database (``GET /rooms/unread``, ``GET /threads/unread``).

What it costs: a message costs a constant step, and one per user it mentions, whatever
the size of any room; a telling (at most one a second per room) costs one step per
connection of the room's members elsewhere on this instance, and encodes each of its
frames (mention or not, and which thread if any) once. A busy lobby thus costs what a
quiet one does, however many connections look at other rooms. For the tellings, each
instance keeps, for the users connected to it here, which rooms they are members of
(`_members`: room id to user ids), loaded when a user's first connection arrives and
kept up to date by the notices that say a user joined a room or was invited into one
(`on_notice`). The lobby (everyone) and support threads (their user is named by the
room) need no index. Direct conversations have no activity frames: every connection of
their two users gets the message itself (spec 003's frame, on their user topics).

Ownership: `Activity` owns the registry of room-protocol connections by user (filed and
unfiled by `chat.ws.opening` and `chat.ws.server` for each session's life, as
`chat.app.people.user_notices` is), the index, and the rooms' windows. The writer hands
it each published batch (`offer`), which is gathered in the writer's own step: never
waiting, and no task of ours wakes for a message (at low rates a task step is a large
share of a message's cost). `run`, a child of the root nursery, owns a nursery of three
tasks: the timer that tells the windows whose end has come (`offer` pulls its deadline
in when a window falls due sooner), the loader of new users' rooms, and the loader of
thread replies' followers, which finds them (`chat.app.people.thread_follows`: kept in
memory, read once per thread) and adds those connected here to the reply's window. The
windows change only between two awaits, so whichever task does it sees them whole.
"""

from __future__ import annotations

import heapq
import logging
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NoReturn, Protocol

import trio

from chat.app.people.activity_windows import ActivityWindow, activity_frame
from chat.app.people.thread_follows import KnownFollows
from chat.core.records import Change, Message, Room
from chat.core.task_failures import TaskFailures

if TYPE_CHECKING:
    from chat.core.records import Identity
    from chat.store.roles import Rooms, Threads

    class ActivityStore(Rooms, Threads, Protocol):
        """The rooms of users connected here; the followers of threads replied in."""


log = logging.getLogger(__name__)

#: At most one activity frame per connection and room in this many seconds...
WINDOW_S = 1.0
#: ...and, in a room with more readers connected here than this, less often in
#: proportion (`window_length`): a telling is a write to each of their connections...
WINDOW_READERS = 200
#: ...up to this: a badge in the busiest room is at most a few seconds behind.
MAX_WINDOW_S = 5.0


def window_length(readers: int, base: float = WINDOW_S) -> float:
    """How long a room with `readers` (its members connected here) gathers activity
    before telling them: `base`, longer in proportion past `WINDOW_READERS`, at most
    `MAX_WINDOW_S` (never less than `base`)."""
    return max(base, min(MAX_WINDOW_S, base * readers / WINDOW_READERS))


#: Users whose rooms wait to be loaded past which new ones are not indexed.
LOAD_QUEUE_SIZE = 10_000
#: The most users whose rooms one query reads.
LOAD_BATCH = 500
#: The longest a new connection waits for its user's rooms to be indexed before it is
#: answered (`chat.ws.opening`).
READY_WAIT_S = 2.0

Published = Sequence[tuple[Message | Change, Room]]
#: Thread replies (not sent to their room) whose followers are looked up, at most...
FOLLOWERS_QUEUE_SIZE = 1_000
#: ...and at most this many in one query.
FOLLOWERS_BATCH = 200


class Watcher(Protocol):
    """A connection as activity sees it (`chat.ws.session.client_session.ClientSession`)."""

    identity: Identity | None
    #: The room the connection is in (None: none), kept by `chat.ws.rooms`.
    room_id: int | None

    def offer(self, data: bytes) -> bool: ...


class Activity:
    """The registry, the membership index and the coalescing: `offer` gathers, `run`
    tells each window at its end and loads what the index and the windows need."""

    def __init__(
        self,
        store: ActivityStore,
        lobby_id: int,
        *,
        window: float = WINDOW_S,
        failures: TaskFailures | None = None,
        follows: KnownFollows | None = None,
    ) -> None:
        self._store = store
        self._lobby_id = lobby_id
        #: Who follows the threads replied in lately (one told by the bus in `serve`).
        self.follows = KnownFollows(store) if follows is None else follows
        self._window = window
        self._failures = failures or TaskFailures()
        #: This instance's room-protocol connections, by user.
        self._connections: dict[int, set[Watcher]] = {}
        #: For the users connected here: room id to the members among them.
        self._members: dict[int, set[int]] = {}
        #: For the users connected here: their rooms (to take them out of `_members`).
        self._rooms: dict[int, set[int]] = {}
        #: The rooms with activity in the last window or two, by id.
        self._windows: dict[int, ActivityWindow] = {}
        #: When each timed window is looked at again: (time, tie-breaker, room id).
        self._due: list[tuple[float, int, int]] = []
        self._ticket = 0
        #: The timer's wait for the earliest window end (`_tell_when_due`); `_time`
        #: pulls its deadline in. A scope not entered yet, or one already left, is
        #: harmless to move: the timer reads `_due` again before each wait.
        self._timer = trio.CancelScope()
        self._followers_send, self._followers_receive = trio.open_memory_channel[
            tuple[Message, Room]
        ](FOLLOWERS_QUEUE_SIZE)
        self._load_send, self._load_receive = trio.open_memory_channel[int](LOAD_QUEUE_SIZE)
        #: Users whose rooms are being loaded: set once they are indexed (or failed).
        self._loading: dict[int, trio.Event] = {}
        #: Counters for `chat.app.metrics`: frames sent, thread replies whose followers
        #: could not be looked up (the loader's queue full).
        self.frames = 0
        self.dropped = 0

    # --- the registry (`chat.ws.session.contracts.Registry`, for room-protocol sessions) ---

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
        connection is answered (its 101) after this (`chat.ws.opening`), so it hears
        every room's activity from then on."""
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
        connections = self._connections.get(user_id)
        if connections is None:
            return
        connections.discard(session)
        if connections:
            return
        del self._connections[user_id]
        for room_id in self._rooms.pop(user_id, ()):
            self._drop_member(room_id, user_id)

    def _index(self, user_id: int, room_ids: Sequence[int]) -> None:
        """`user_id` is a member of `room_ids` (while connected here)."""
        if user_id not in self._connections:
            return  # gone meanwhile
        rooms = self._rooms.setdefault(user_id, set())
        for room_id in room_ids:
            rooms.add(room_id)
            self._members.setdefault(room_id, set()).add(user_id)

    def on_notice(self, user_id: int, frame: dict[str, Any]) -> None:
        """A notice to a user (`chat.app.people.user_notices`): one saying they joined a room or
        were invited into one adds the room to their index here; one saying they left it,
        were removed or it was deleted takes it out. Never waits."""
        room_id = frame.get("RoomID")
        if not isinstance(room_id, int):
            return
        if frame.get("Type") in ("joined", "invited"):
            self._index(user_id, (room_id,))
        elif frame.get("Type") in ("removed", "room-deleted"):
            self._unindex(user_id, room_id)

    def _unindex(self, user_id: int, room_id: int) -> None:
        """`user_id` is no longer a member of `room_id`."""
        self._rooms.get(user_id, set()).discard(room_id)
        self._drop_member(room_id, user_id)

    def _drop_member(self, room_id: int, user_id: int) -> None:
        members = self._members.get(room_id)
        if members is not None:
            members.discard(user_id)
            if not members:
                del self._members[room_id]

    def members_here(self, room_id: int) -> Sequence[int] | set[int]:
        """The users connected here who are members of group room `room_id` (everyone
        connected, for the lobby): who hears of its activity, and of `chat.app.people.user_notices`'
        notices to a room's members. Never waits."""
        if room_id == self._lobby_id:
            return list(self._connections)
        return self._members.get(room_id, set())

    # --- the fan-out ---

    def offer(self, published: Published) -> None:
        """A batch the writer published, in position order, gathered now, in the writer's
        step (`chat.app.messages.publisher.Publisher.follow`). Never waits, never raises."""
        with self._failures.contained("activity", "a fan-out"):
            self._fan_out(published)

    def _readers(self, room: Room) -> Sequence[int] | set[int]:
        """The users connected here who may read `room`."""
        if room.kind == "direct" and room.pair is not None:
            return ()  # every connection of the pair gets the message itself (user topics)
        if room.kind == "support" and room.creator_id is not None:
            return [room.creator_id] if room.creator_id in self._connections else []
        return self.members_here(room.id)

    def _length(self, room: Room) -> float:
        """How long `room`'s window gathers (`window_length` of its readers here)."""
        if room.id == self._lobby_id:
            readers = len(self._connections)
        elif room.kind == "group" or room.is_group_direct:
            readers = len(self._members.get(room.id, ()))
        else:
            readers = 1  # a support thread's one user
        return window_length(readers, self._window)

    def _fan_out(self, published: Published) -> None:
        """Gather a published batch into its rooms' windows; tell those due now. A thread
        reply's followers are looked up by the loader, which hands them back."""
        now = trio.current_time()
        touched: dict[int, ActivityWindow] = {}
        for item, room in published:
            window = self._window_of(room)
            if isinstance(item, Message):
                if item.deleted:
                    continue
                if not item.in_main_timeline:
                    self._ask_followers(item, room)
                window.add_message(item)
            elif item.kind == "edited" and item.newly is not None:
                window.add_edit(item, item.newly)
            else:
                continue
            window.room = room
            touched[room.id] = window
        for window in touched.values():
            self._touched(window, now)

    def _ask_followers(self, reply: Message, room: Room) -> None:
        try:
            self._followers_send.send_nowait((reply, room))
        except trio.WouldBlock:
            self.dropped += 1

    def _fan_out_followers(self, reply: Message, room: Room, user_ids: frozenset[int]) -> None:
        """Add the followers connected here of `reply`'s thread to its room's window."""
        window = self._window_of(room)
        window.add_followers(reply, user_ids)
        window.room = room
        self._touched(window, trio.current_time())

    def _window_of(self, room: Room) -> ActivityWindow:
        """`room`'s window, made (never told) if it has none."""
        window = self._windows.get(room.id)
        if window is None:
            window = self._windows[room.id] = ActivityWindow(room, -math.inf)
        return window

    def _touched(self, window: ActivityWindow, now: float) -> None:
        """Tell `window` now if its last telling is a window's length ago, or time it."""
        if window.timed:
            return  # told at the end of its window
        length = self._length(window.room)
        if now - window.told_at >= length:
            self._tell(window, now)
            self._time(window, now + length)  # then looked at again
        else:
            self._time(window, window.told_at + length)

    def _time(self, window: ActivityWindow, when: float) -> None:
        window.timed = True
        self._ticket += 1
        heapq.heappush(self._due, (when, self._ticket, window.room.id))
        if when < self._timer.deadline:
            self._timer.deadline = when  # wakes the timer then (its next wait reads `_due`)

    def _tell(self, window: ActivityWindow, now: float) -> None:
        """Tell the room's members' connections elsewhere what its window gathered: one
        frame each, encoded once per kind (mention or not)."""
        room_id = window.room.id
        frames: dict[tuple[bool, int | None], bytes] = {}
        for user_id in list(self._readers(window.room)):
            heard, mention = window.heard_by(user_id)
            if not heard:
                continue
            thread_id = window.thread_of(user_id)
            for session in self._connections.get(user_id, ()):
                if session.room_id == room_id:
                    continue  # it sees the messages themselves
                kind = (mention, thread_id)
                data = frames.get(kind)
                if data is None:
                    data = frames[kind] = activity_frame(room_id, window.latest, mention, thread_id)
                self.frames += 1
                session.offer(data)
        window.told(now)

    def _flush_due(self) -> None:
        """Tell the windows whose time has come; forget those with nothing to tell (the
        next message in their room is told at once)."""
        now = trio.current_time()
        while self._due and self._due[0][0] <= now:
            _when, _ticket, room_id = heapq.heappop(self._due)
            window = self._windows.get(room_id)
            if window is None:
                continue
            window.timed = False
            if window.latest == 0:
                del self._windows[room_id]
                continue
            self._tell(window, now)
            self._time(window, now + self._length(window.room))

    # --- the tasks ---

    async def run(
        self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> NoReturn:
        """Tell the windows whose end has come; load new users' rooms and thread
        replies' followers. Runs until cancelled."""
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._load_rooms)
            nursery.start_soon(self._load_followers)
            task_status.started()
            await self._tell_when_due()
        raise AssertionError("unreachable")

    async def _tell_when_due(self) -> NoReturn:
        while True:
            # Sleeps until the earliest window's end; `_time` (in the writer's step, or
            # a loader's) moves the deadline in if a sooner one is timed meanwhile.
            self._timer = trio.CancelScope(deadline=self._due[0][0] if self._due else math.inf)
            with self._timer:
                await trio.sleep_forever()
            with self._failures.contained("activity", "the end of a window"):
                self._flush_due()

    async def _load_rooms(self) -> NoReturn:
        while True:
            # Everyone queued since the last read is read in one query (a reconnection
            # storm files thousands of users in seconds: chat.app.reads.batched_point_reads
            # says why).
            user_ids = [await self._load_receive.receive()]
            while len(user_ids) < LOAD_BATCH:
                try:
                    user_ids.append(self._load_receive.receive_nowait())
                except trio.WouldBlock:
                    break
            # If the database is away, these users' badges wait for their next
            # connection (the counts stay right in the database).
            with self._failures.contained(
                "activity", f"loading the rooms of {len(user_ids)} users"
            ):
                connected = [user_id for user_id in user_ids if user_id in self._connections]
                rooms = await self._store.rooms_of_users(connected) if connected else {}
                for user_id in connected:
                    self._index(user_id, rooms.get(user_id, ()))  # unless gone meanwhile
            for user_id in user_ids:
                loaded = self._loading.pop(user_id, None)
                if loaded is not None:
                    loaded.set()

    async def _load_followers(self) -> NoReturn:
        while True:
            asked = [await self._followers_receive.receive()]
            while len(asked) < FOLLOWERS_BATCH:
                try:
                    asked.append(self._followers_receive.receive_nowait())
                except trio.WouldBlock:
                    break
            # If the database is away, these replies' followers hear nothing (their
            # unread counts stay right in the database).
            with self._failures.contained("activity", f"finding {len(asked)} followers"):
                followers = await self.follows.followers_after([reply for reply, _ in asked])
                for (reply, room), following in zip(asked, followers, strict=True):
                    here = (following & self._connections.keys()) - {reply.sender_id}
                    if here:
                        self._fan_out_followers(reply, room, here)
