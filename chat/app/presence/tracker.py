"""Presence and typing: who is online, who is in which room, who is typing, cluster-wide.

A user is *online* while any of their authenticated WebSocket connections is open, on any
path and any instance; *present in a room* while a ``/ws`` connection of theirs has entered
it (`chat.ws.rooms`). Connections in a room get ``{"Type": "presence", ...}`` when a user
becomes present there (their first connection in it, anywhere) or stops being present
(their last one leaves or closes, or their instance is forgotten), and ``{"Type":
"typing", ...}`` when someone else in the room types; a connection that entered with
``"Presence": "list"`` gets the room's list in one ``presence-list`` frame and each
telling's changes in one ``presence-changes`` frame instead (a room of hundreds is one
frame to encode and read, not hundreds). docs/PROTOCOL.md has the frames.

What is counted where: each instance counts its own connections, per user and per (room,
user) (`file`, `unfile`, `enter_room`, `leave_room`: synchronous, so a cancellation can never
leave a count behind). Only the transitions (a first connection, a last one gone) travel,
as bus events, with a snapshot of the whole local state every `heartbeat` seconds; what
the other instances said is kept, and forgotten when they stop or fall silent, by
`chat.app.presence.cluster`. On SQLite (one instance, `LocalBus`) everything is local. The
frames are built by `chat.app.presence.frames`.

Ownership: the `Presence` object owns the counts, the other instances' states and the
registry of this instance's connections in each room (to which it offers frames without
waiting, as the broadcaster does). `run` is a child of the root nursery (`chat.server.serving.
serve`): it sends what changed, the snapshots, and forgets silent instances. Typing is
never stored, and is limited to `TYPING_LIMIT` frames per `TYPING_WINDOW_S` per user,
counted per instance, whatever ``CHAT_RATE_LIMITS`` says: it is part of the protocol.
"""

from __future__ import annotations

import logging
import math
from typing import TYPE_CHECKING, Any, NoReturn

import trio

from chat.app.presence.announcements import COALESCE_LISTENERS, PresenceAnnouncements
from chat.app.presence.cluster import (
    EVENT_TYPE,
    Key,
    OtherInstances,
    change_events,
    snapshot_events,
)
from chat.app.presence.frames import (
    RoomConnection,
    by_name,
    person_json,
    presence_frame,
    typing_frame,
)
from chat.app.presence.present_list import PresentList
from chat.app.presence.typing import TypingNotices
from chat.core.errors import Unavailable
from chat.core.frames import text_frame
from chat.core.task_failures import TaskFailures

if TYPE_CHECKING:
    from collections.abc import Callable

    from chat.app.presence.frames import StatusJSON
    from chat.bus.interface import Bus
    from chat.core.records import Identity

log = logging.getLogger(__name__)

#: The longest gap between two snapshots of an instance's state.
HEARTBEAT_S = 10.0
#: Changes waiting to be sent past which they are dropped for a snapshot instead.
MAX_PENDING = 10_000
#: The shortest gap between two rounds of changes sent to the other instances: a lone
#: change goes at once, and changes that come faster (a storm of reconnecting clients,
#: a room's typing) wait for the gap and travel together, one bus event for many.
ROUND_GAP_S = 0.05
#: How many typing frames one user may send per window (per instance); the rest are dropped.
TYPING_LIMIT = 3
TYPING_WINDOW_S = 2.0


class Presence:
    """This instance's presence counts, the other instances' states, and the task that
    keeps them in step."""

    def __init__(
        self,
        bus: Bus,
        instance_id: str,
        *,
        timeout: float,
        failures: TaskFailures | None = None,
        status_of: Callable[[int], StatusJSON] = lambda _user_id: None,
    ) -> None:
        self._bus = bus
        #: A user's status in force (`chat.app.people.statuses`), as frames show it.
        self._status_of = status_of
        self._failures = failures or TaskFailures()
        self._instance_id = instance_id
        self.timeout = timeout
        #: Snapshots go out well within the timeout, so one lost snapshot forgets no one.
        self.heartbeat = min(HEARTBEAT_S, timeout / 3)
        # Local counts: open connections per user, entered connections per (room, user).
        self._online: dict[int, int] = {}
        self._present: dict[Key, int] = {}
        # The same users, by room (room id -> user ids), so that listing one room's
        # present users reads that room only, not every user on the instance.
        self._present_in: dict[int, PresentList] = {}
        self._names: dict[int, str] = {}
        # The users connected here, by id, as presence lists show them: (name, status,
        # their JSON).
        self._person_json: dict[int, tuple[str, StatusJSON, str]] = {}
        # This instance's connections in each room that take presence and typing frames
        # (all but those that entered with ``"Presence": false``), to offer them to; and
        # those of them that take the lists (``"Presence": "list"``).
        self._rooms: dict[int, set[RoomConnection]] = {}
        self._listing: set[RoomConnection] = set()
        # Where each connection is counted: its identity, and its room with who it was there.
        self._counted: dict[RoomConnection, Identity] = {}
        self._room_of: dict[RoomConnection, tuple[int, int, str]] = {}
        self._others = OtherInstances(
            timeout,
            present_anywhere=self.is_present,
            changed=self._changed_elsewhere,
            typed=self._typed_elsewhere,
            name_of=lambda user_id: self._names.get(user_id, ""),
        )
        # Changes and typing for `run` to send, in order; `_changed` wakes it.
        self._pending: list[list[Any]] = []
        self._changed = trio.Event()
        self._snapshot_soon = False  # an instance appeared: snapshot at the next round
        self._generation = 0
        self._typed: dict[int, list[float]] = {}  # recent typing frames' times, per user
        # What wakes `announce`: a room told, or a typing frame held back.
        self._telling = trio.Event()
        # Presence changes told to a room at once, or held back until its interval has
        # passed (`chat.app.presence.announcements`), and typing frames the same way in a busy
        # room (`chat.app.presence.typing`): both told by `announce` when due.
        self._tellings = PresenceAnnouncements(
            self._rooms,
            self._listing,
            is_present=self.is_present,
            present=self.present,
            present_here=self._present_in.get,
            others_in_room=lambda room_id: bool(self._others.in_room(room_id)),
            encoded=self._encoded,
            wake=self._wake_announce,
            failures=self._failures,
            status_of=status_of,
        )
        self._typing = TypingNotices(
            self._rooms, self._tellings.interval, COALESCE_LISTENERS, self._wake_announce
        )

    def _wake_announce(self) -> None:
        """Something is to be told when its room is due: `announce` looks again."""
        self._telling.set()

    # --- what the cluster knows ---

    def instance_count(self) -> int:
        """How many instances are live: this one and those heard from within `timeout`."""
        return 1 + len(self._others)

    def online_by_instance(self) -> dict[str, int]:
        """How many users each live instance has online, by instance id, this one first
        (the operators' console)."""
        return {self._instance_id: len(self._online), **self._others.online_counts()}

    def is_online(self, user_id: int) -> bool:
        return user_id in self._online or self._others.is_online(user_id)

    def is_present(self, room_id: int, user_id: int) -> bool:
        key = (room_id, user_id)
        return key in self._present or self._others.has(key)

    def present(self, room_id: int) -> list[tuple[int, str]]:
        """The users present in a room anywhere in the cluster, as (id, name), by name."""
        here = self._present_in.get(room_id)
        elsewhere = self._others.in_room(room_id)
        if not elsewhere:
            return here.items() if here is not None else []  # kept in order already
        found = here.names() if here is not None else {}
        for users in elsewhere:
            for uid, name in users.items():
                found.setdefault(uid, name)
        return sorted(found.items(), key=by_name)

    # --- this instance's connections ---

    # `chat.ws.session.contracts.Registry`: a session counts as its user's connection from the
    # moment it has an identity (recounted if it authenticates as someone else) until it
    # ends, when it also leaves its room. Synchronous: cancelled anywhere, no count is
    # left behind.

    def file(self, session: RoomConnection) -> None:
        if session.identity is not None:
            self._count(session, session.identity)

    def refile(self, session: RoomConnection, before: Identity | None) -> None:
        assert session.identity is not None
        self._count(session, session.identity)

    def unfile(self, session: RoomConnection) -> None:
        self.leave_room(session)
        self._uncount(session)

    def _count(self, session: RoomConnection, identity: Identity) -> None:
        self._uncount(session)
        self._counted[session] = identity
        user_id = identity.user_id
        self._name(user_id, identity.name)
        self._online[user_id] = self._online.get(user_id, 0) + 1
        if self._online[user_id] == 1:
            self._queue(["online", user_id, identity.name, True])

    def _uncount(self, session: RoomConnection) -> None:
        identity = self._counted.pop(session, None)
        if identity is None:
            return
        user_id = identity.user_id
        count = self._online[user_id] - 1
        if count:
            self._online[user_id] = count
            return
        # Its last connection here: it is in no room here either (`unfile` left first).
        del self._online[user_id]
        self._names.pop(user_id, None)
        self._person_json.pop(user_id, None)
        self._queue(["online", user_id, identity.name, False])

    def _name(self, user_id: int, name: str) -> None:
        """`user_id` is called `name` from now on (a connection opened since a rename):
        the rooms it is present in here list it so."""
        old = self._names.get(user_id)
        self._names[user_id] = name
        if old is not None and old != name:
            for room_id, uid in self._present:  # renames are rare: a scan is fine
                if uid == user_id:
                    self._present_in[room_id].add(user_id, name, self._encoded(user_id, name))

    def enter_room(
        self, session: RoomConnection, room_id: int, *, listening: bool, lists: bool = False
    ) -> None:
        """`session` is in `room_id` from now on (after leaving any other room). Others in
        the room hear of its user if that is new. A `listening` session then gets presence
        and typing frames: first the room's present users (itself included), offered in
        the same step as counting it in, so no change overtakes them; with `lists`, the
        users in one frame and each telling's changes in one."""
        identity = session.identity
        assert identity is not None, "/ws requires a token at the handshake"
        self.leave_room(session)
        key = (room_id, identity.user_id)
        was_present = self.is_present(*key)
        self._room_of[session] = (room_id, identity.user_id, identity.name)
        self._name(identity.user_id, identity.name)  # before counting it in this room
        self._present[key] = self._present.get(key, 0) + 1
        if self._present[key] == 1:
            self._present_in.setdefault(room_id, PresentList()).add(
                identity.user_id, identity.name, self._encoded(identity.user_id, identity.name)
            )
            self._queue(["room", room_id, identity.user_id, identity.name, True])
        if not was_present:
            # To the room's connections before this one joins them: it gets the list.
            self._tellings.changed(room_id, identity.user_id, identity.name, was_present=False)
        if listening:
            self._rooms.setdefault(room_id, set()).add(session)
            if lists:
                self._listing.add(session)
                session.offer(text_frame(self._tellings.told_list_frame(room_id)))
            else:
                told = self._tellings.told(room_id)
                frames = [
                    presence_frame(room_id, uid, name, True, self._status_of(uid))
                    for uid, name in told
                ]
                session.offer(b"".join(text_frame(frame) for frame in frames))

    def _encoded(self, user_id: int, name: str) -> str:
        """`person_json(user_id, name)`, kept for the users connected here."""
        status = self._status_of(user_id)
        kept = self._person_json.get(user_id)
        if kept is not None and kept[0] == name and kept[1] == status:
            return kept[2]
        encoded = person_json(user_id, name, status)
        if user_id in self._names:  # connected here: kept until its last connection ends
            self._person_json[user_id] = (name, status, encoded)
        return encoded

    def status_changed(self, user_id: int) -> None:
        """`user_id`'s status changed (`chat.app.people.statuses`): the lists of the rooms
        it is present in here show the new one. Never waits."""
        name = self._names.get(user_id)
        if name is None:
            return  # not connected here: its JSON is made when it is listed
        self._person_json.pop(user_id, None)
        for room_id, uid in self._present:  # status changes are rare: a scan is fine
            if uid == user_id:
                users = self._present_in[room_id]
                users.discard(user_id)
                users.add(user_id, name, self._encoded(user_id, name))

    def leave_room(self, session: RoomConnection) -> None:
        """`session` is in no room from now on (a no-op if it was in none)."""
        where = self._room_of.pop(session, None)
        if where is None:
            return
        room_id, user_id, name = where
        self._listing.discard(session)
        sessions = self._rooms.get(room_id)
        if sessions is not None:
            sessions.discard(session)
            if not sessions:
                # Nobody here to tell: the next to enter gets the room as it is.
                del self._rooms[room_id]
                self._tellings.forget(room_id)
                self._typing.forget(room_id)
        key = (room_id, user_id)
        count = self._present[key] - 1
        if count:
            self._present[key] = count
            return
        del self._present[key]
        users = self._present_in[room_id]
        users.discard(user_id)
        if not users:
            del self._present_in[room_id]
        self._queue(["room", room_id, user_id, name, False])
        if not self.is_present(*key):
            self._tellings.changed(room_id, user_id, name, was_present=True)

    def typing(self, session: RoomConnection, room_id: int) -> None:
        """`session`'s user is typing in `room_id`: tell the room's other connections, here
        and everywhere. Over `TYPING_LIMIT` per `TYPING_WINDOW_S`, dropped silently."""
        identity = session.identity
        assert identity is not None
        now = trio.current_time()
        recent = [t for t in self._typed.get(identity.user_id, ()) if now - t < TYPING_WINDOW_S]
        if len(recent) >= TYPING_LIMIT:
            self._typed[identity.user_id] = recent
            return
        recent.append(now)
        self._typed[identity.user_id] = recent
        frame = typing_frame(room_id, identity.user_id, identity.name)
        self._typing.typed(room_id, frame, identity.user_id, session)
        self._queue(["typing", room_id, identity.user_id, identity.name])

    async def announce(
        self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> NoReturn:
        """Tell each room the presence changes held back while it was told recently
        (`chat.app.presence.announcements`), and the typing frames a busy room gathered
        (`chat.app.presence.typing`), once its interval (`coalesce_interval`) has passed since
        it was last told. Runs until cancelled."""
        task_status.started()
        while True:
            # Until the room whose interval ends first, or another telling, which may
            # start a shorter interval.
            typing_due = self._typing.due_at()
            due = self._tellings.due_at()
            with trio.move_on_at(min(due, math.inf if typing_due is None else typing_due)):
                await self._telling.wait()
            # No await from the wake-up to here: a telling since is in what is due below.
            self._telling = trio.Event()
            now = trio.current_time()
            self._tellings.tell_due(now)
            with self._failures.contained("presence", "telling rooms of typing"):
                self._typing.tell_due(now)

    # --- other instances ---

    def _queue(self, change: list[Any]) -> None:
        if len(self._pending) < MAX_PENDING:
            self._pending.append(change)
        self._changed.set()

    def on_event(self, event: dict[str, Any]) -> None:
        """An event of `EVENT_TYPE` from another instance (`chat.app.presence.cluster`)."""
        if self._others.on_event(event):
            # A newcomer (or one that came back): tell it our state now, rather than
            # at our next heartbeat, so that it knows the cluster within moments.
            self._snapshot_soon = True
            self._changed.set()

    def _changed_elsewhere(self, room_id: int, user_id: int, name: str, before: bool) -> None:
        self._tellings.changed(room_id, user_id, name, was_present=before)

    def _typed_elsewhere(self, room_id: int, user_id: int, name: str) -> None:
        self._typing.typed(room_id, typing_frame(room_id, user_id, name), user_id, None)

    def _snapshot(self) -> list[dict[str, Any]]:
        """The whole local state, as the parts of the next snapshot."""
        self._generation += 1
        online = [(uid, self._names[uid]) for uid in self._online]
        rooms = [(rid, uid, self._names[uid]) for rid, uid in self._present]
        return snapshot_events(self._instance_id, self._generation, online, rooms)

    def _changes(self) -> list[dict[str, Any]]:
        """What changed since the last send, as events."""
        pending, self._pending = self._pending, []
        return change_events(self._instance_id, pending)

    async def run(
        self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> NoReturn:
        """Send changes as they happen and a snapshot every `heartbeat` seconds; forget
        silent instances. Runs until cancelled."""
        # The goodbye goes out when the server stops, so the other instances forget this
        # one's users at once instead of after `timeout`. The bus sends it, as its last
        # act before it lets go of its connection: this task may be cancelled first.
        self._bus.send_when_stopping(
            {"type": EVENT_TYPE, "instance": self._instance_id, "gone": True}
        )
        task_status.started()
        next_snapshot = trio.current_time()
        last_round = -math.inf
        while True:
            with trio.move_on_at(min(next_snapshot, trio.current_time() + 1.0)):
                await self._changed.wait()
            # Changes queued while this waits join the round (`_changed` is replaced
            # after it, so none is left without a wake-up).
            await trio.sleep_until(last_round + ROUND_GAP_S)
            last_round = trio.current_time()
            self._changed = trio.Event()
            snapshot = self._snapshot_soon or trio.current_time() >= next_snapshot
            self._snapshot_soon = False
            if snapshot:
                next_snapshot = trio.current_time() + self.heartbeat
            with self._failures.contained("presence", "a round of presence"):
                await self._round(snapshot=snapshot)

    async def _round(self, *, snapshot: bool) -> None:
        """Forget silent instances, and send what changed (and a snapshot if asked)."""
        self._others.forget_silent()
        self._prune_typing()
        if snapshot:
            # The snapshot supersedes the changes not sent yet: sending them after it
            # would put an older state over a newer one.
            self._pending = [c for c in self._pending if c[0] == "typing"]
            events = self._changes() + self._snapshot()
        else:
            events = self._changes()
        for event in events:
            try:
                await self._bus.send_event(event)
            except Unavailable as error:
                # The next snapshot repairs what the other instances missed.
                log.debug("cannot send presence to other instances: %s", error)

    def _prune_typing(self) -> None:
        now = trio.current_time()
        for user_id, times in list(self._typed.items()):
            if not times or now - times[-1] >= TYPING_WINDOW_S:
                del self._typed[user_id]
