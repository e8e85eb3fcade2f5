"""Telling a room's connections of presence changes, coalesced.

A client that flaps between two rooms (or many clients that come and go) must not send
every connection in a busy room a frame per change: each room is told at most every
`COALESCE_S` (longer in a busy room: `coalesce_interval`). The first change after a quiet
spell is told at once; later ones wait until the room's interval has passed since it was
last told (`tell_due`, from `Presence.announce`), and the room is then told the users
whose presence differs from what it was last told. Its connections always know, for each
user, `told`: the truth, except for the users held back (`_unsaid[room]`), for whom they
know what they were last told. That is the list a connection entering the room gets, so
it agrees with the others and the next telling is right for it too; after that telling,
everyone knows the truth.

Ownership: `Presence` owns this object and what it reads: the registry of this
instance's connections that listen in each room and of those that take lists (`rooms`,
`listing`, shared), who is present (`is_present`, `present`), the room's list here
(`present_here`) and whether other instances have anyone in it. `wake` sets the event
`Presence.announce` waits on, so that a held-back change never waits past its room's time.
"""

from __future__ import annotations

import math
from bisect import insort
from collections.abc import Callable
from typing import TYPE_CHECKING

import trio

from chat.app.presence.frames import (
    by_name,
    presence_changes_frame,
    presence_frame,
    presence_list_frame,
    presence_list_json_frame,
)
from chat.core.frames import text_frame

if TYPE_CHECKING:
    from chat.app.presence.frames import RoomConnection, StatusJSON
    from chat.app.presence.present_list import PresentList
    from chat.core.task_failures import TaskFailures

#: A room's connections are told of presence changes at most this often (`changed`)...
COALESCE_S = 0.25
#: ...and, where more than this many connections here listen, less often in proportion
#: (`coalesce_interval`): a telling costs a write to each of them, so a busy room of
#: hundreds costs at most about `COALESCE_LISTENERS / COALESCE_S` writes a second...
COALESCE_LISTENERS = 50
#: ...up to this: a user arriving in the biggest room is seen within a few seconds.
MAX_COALESCE_S = 2.5


def coalesce_interval(listeners: int) -> float:
    """How long a room whose connections here that listen to presence are `listeners`
    waits between two tellings: `COALESCE_S`, longer in proportion past
    `COALESCE_LISTENERS`, at most `MAX_COALESCE_S`."""
    return min(MAX_COALESCE_S, COALESCE_S * max(1.0, listeners / COALESCE_LISTENERS))


class PresenceAnnouncements:
    """The presence changes each room's connections have not been told yet, and when
    each room was last told."""

    def __init__(
        self,
        rooms: dict[int, set[RoomConnection]],
        listing: set[RoomConnection],
        *,
        is_present: Callable[[int, int], bool],
        present: Callable[[int], list[tuple[int, str]]],
        present_here: Callable[[int], PresentList | None],
        others_in_room: Callable[[int], bool],
        encoded: Callable[[int, str], str],
        wake: Callable[[], None],
        failures: TaskFailures,
        status_of: Callable[[int], StatusJSON] = lambda _user_id: None,
    ) -> None:
        self._rooms = rooms  # Presence's: the connections here that listen, by room
        self._listing = listing  # Presence's: those of them that take lists
        self._is_present = is_present
        self._present = present
        self._present_here = present_here
        self._others_in_room = others_in_room
        self._encoded = encoded
        self._status_of = status_of  # a user's status in force, as frames show it
        self._wake = wake
        self._failures = failures
        # Per room, the users whose presence changed since the room's connections were
        # last told, with what they were told then (and the name); when each room was
        # last told.
        self._unsaid: dict[int, dict[int, tuple[bool, str]]] = {}
        self._told_at: dict[int, float] = {}

    def interval(self, room_id: int) -> float:
        """How long the room waits between two tellings (its listeners here decide)."""
        return coalesce_interval(len(self._rooms.get(room_id, ())))

    def changed(self, room_id: int, user_id: int, name: str, *, was_present: bool) -> None:
        """Whether `user_id` is present in `room_id` has just changed from `was_present`:
        tell the room's connections now, or within its interval."""
        if room_id not in self._rooms:
            return  # nobody here listens to that room
        unsaid = self._unsaid.setdefault(room_id, {})
        told, _ = unsaid.get(user_id, (was_present, name))
        unsaid[user_id] = (told, name)
        told_at = self._told_at.get(room_id)
        if told_at is None or trio.current_time() - told_at >= self.interval(room_id):
            self._tell(room_id)
        # Otherwise `tell_due` tells it, once the interval has passed since `told_at`.

    def forget(self, room_id: int) -> None:
        """Nobody here listens to `room_id` any more: the next to enter gets the room as
        it is."""
        self._unsaid.pop(room_id, None)

    def told(self, room_id: int) -> list[tuple[int, str]]:
        """The users the room's connections know to be present (`present`, but for changes
        not told yet), as (id, name), by name."""
        listed = self._present(room_id)  # a new list, sorted
        hidden, shown = self._held_back(room_id)
        if hidden:
            listed = [person for person in listed if person[0] not in hidden]
        for person in shown:
            insort(listed, person, key=by_name)
        return listed

    def told_list_frame(self, room_id: int) -> str:
        """`told` as a ``presence-list`` frame. When nobody on another instance is in the
        room (the common case, and a busy room's on every `enter`), joined from the JSON
        the room's `PresentList` keeps, with the held-back changes applied to it."""
        here = self._present_here(room_id)
        if here is None or self._others_in_room(room_id):
            return presence_list_frame(room_id, self.told(room_id), self._encoded)
        hidden, shown = self._held_back(room_id)
        pieces = [(uid, name, self._encoded(uid, name)) for uid, name in shown]
        return presence_list_json_frame(room_id, here.joined(hidden, pieces))

    def due_at(self) -> float:
        """When the first room told within its interval may be told again (infinity if
        none). Those rooms are few: listeners here and a change in the last seconds."""
        return min(
            (told_at + self.interval(room) for room, told_at in self._told_at.items()),
            default=math.inf,
        )

    def tell_due(self, now: float) -> None:
        """Tell each room whose interval has passed since it was last told the changes
        held back meanwhile; a failure is kept to its room's telling."""
        for room_id, told_at in list(self._told_at.items()):
            if now - told_at < self.interval(room_id):
                continue
            # Forgotten, or told again (which remembers it again). Taken out first, so
            # that a room whose telling fails is not tried in a loop.
            del self._told_at[room_id]
            if room_id in self._unsaid:
                with self._failures.contained("presence", "telling a room of presence"):
                    self._tell(room_id)

    def _tell(self, room_id: int) -> None:
        """Tell the room's connections what changed since they were last told."""
        unsaid = self._unsaid.pop(room_id, {})
        changes = [
            (user_id, name, now)
            for user_id, (told, name) in unsaid.items()
            if (now := self._is_present(room_id, user_id)) != told
        ]
        if changes:
            # Each kind encoded once, if anyone takes it.
            frames: bytes | None = None
            changed: bytes | None = None
            for session in list(self._rooms.get(room_id, ())):
                if session in self._listing:
                    if changed is None:
                        changed = text_frame(
                            presence_changes_frame(room_id, changes, self._status_of)
                        )
                    session.offer(changed)
                else:
                    if frames is None:
                        frames = b"".join(
                            text_frame(presence_frame(room_id, *change, self._arrived(change)))
                            for change in changes
                        )
                    session.offer(frames)
        self._told_at[room_id] = trio.current_time()
        self._wake()

    def _arrived(self, change: tuple[int, str, bool]) -> StatusJSON:
        """The status of a user told present (a departure carries none)."""
        user_id, _, online = change
        return self._status_of(user_id) if online else None

    def _held_back(self, room_id: int) -> tuple[set[int], list[tuple[int, str]]]:
        """The few users whose change the room's connections have not been told yet, as
        the room was last told: present now but told absent (to hide), and absent now but
        told present (to show, as (id, name))."""
        hidden: set[int] = set()
        shown: list[tuple[int, str]] = []
        for user_id, (told, name) in self._unsaid.get(room_id, {}).items():
            if told != self._is_present(room_id, user_id):
                if told:
                    shown.append((user_id, name))
                else:
                    hidden.add(user_id)
        return hidden, shown
