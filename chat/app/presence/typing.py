"""Typing frames for a room's connections: at once in a small room, gathered in a busy one.

A ``typing`` frame goes to every connection in the room that listens to presence
(`chat.app.presence.tracker`), so one user typing in a room of a thousand is a thousand writes,
in one step of whoever tells them. In a room with few listeners here (at most
`COALESCE_LISTENERS`) each is told at once, as it always was. In a busy one a room is
told as its presence changes are: the first after a quiet spell at once, those that
follow gathered until the room's interval (`coalesce_interval`, up to 2.5 s) has passed
since, then told together, each user's frame once, in one write per connection. A
client shows "typing..." for about 5 s after the last frame, so a frame a second or two
late still shows while the user types.

Ownership: `Presence` owns this object and the registry of listening connections it
reads (`rooms`, shared); `Presence.announce` tells what is due (`due_at`, `tell_due`),
and `wake` is its event's setter, so a gathered frame never waits past its room's time.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import trio

from chat.core.frames import text_frame

if TYPE_CHECKING:
    from chat.app.presence.frames import RoomConnection


class TypingNotices:
    """The typing frames of busy rooms waiting for their room's telling."""

    def __init__(
        self,
        rooms: dict[int, set[RoomConnection]],
        interval: Callable[[int], float],
        crowd: int,
        wake: Callable[[], None],
    ) -> None:
        self._rooms = rooms  # Presence's: the connections here that listen, by room
        self._interval = interval  # a room's telling interval
        self._crowd = crowd  # more listeners than this: a busy room
        self._wake = wake
        # Per busy room: who typed since it was last told (name, the sending connection,
        # if it is here), and when it was last told.
        self._held: dict[int, dict[int, tuple[bytes, RoomConnection | None]]] = {}
        self._told_at: dict[int, float] = {}

    def typed(self, room_id: int, frame: str, user_id: int, sender: RoomConnection | None) -> None:
        """`user_id` is typing in `room_id` (`frame` says so): tell the room's listening
        connections here but `sender` (its own connection, if it is here), now or at the
        room's next telling. Never waits."""
        sessions = self._rooms.get(room_id)
        if not sessions:
            return
        data = text_frame(frame)
        if len(sessions) <= self._crowd:
            _offer(sessions, data, sender)
            return
        held = self._held.setdefault(room_id, {})
        held[user_id] = (data, sender)  # a user's latest frame: each user once a telling
        told_at = self._told_at.get(room_id)
        if told_at is None or trio.current_time() - told_at >= self._interval(room_id):
            self._tell(room_id)
        else:
            self._wake()  # `announce` tells it when the room's interval has passed

    def due_at(self) -> float | None:
        """When the first room with frames held back is due, or None."""
        return min(
            (self._told_at[room_id] + self._interval(room_id) for room_id in self._held),
            default=None,
        )

    def tell_due(self, now: float) -> None:
        """Tell every room whose interval has passed the frames it holds."""
        for room_id in [r for r in self._held if now - self._told_at[r] >= self._interval(r)]:
            self._tell(room_id)

    def forget(self, room_id: int) -> None:
        """Nobody listens to `room_id` here any more."""
        self._held.pop(room_id, None)
        self._told_at.pop(room_id, None)

    def _tell(self, room_id: int) -> None:
        held = self._held.pop(room_id, {})
        self._told_at[room_id] = trio.current_time()
        sessions = self._rooms.get(room_id)
        if not held or not sessions:
            return
        everyone = b"".join(data for data, _ in held.values())
        senders = {sender for _, sender in held.values() if sender is not None}
        for session in list(sessions):
            if session in senders:  # all but its own frame
                own = b"".join(data for data, sender in held.values() if sender is not session)
                if own:
                    session.offer(own)
            else:
                session.offer(everyone)


def _offer(sessions: set[RoomConnection], data: bytes, skip: RoomConnection | None) -> None:
    for session in list(sessions):
        if session is not skip:
            session.offer(data)
