"""Notices to a user's room-protocol connections, on every instance.

Some frames are for a person rather than a room: a read marker that moved (so the user's
other tabs clear their badges), an invitation into a room or a room joined (so it
appears without a reload). `UserNotices.send` delivers such a frame to every ``/ws``
connection of the user on this instance at once, and tells the other instances over the
bus (a ``user-notice`` event), which deliver it to theirs (`on_event`, routed in
`chat.server.serving.serve`).

Notices are best-effort, like a frame to a client that has just disconnected: nothing is
stored, a bus that cannot take the event within `chat.bus.interface.EVENT_TIMEOUT_S` only
costs the other instances this notice (the state it reports is in the database for the
next reload).

Ownership: the registry maps a user id to that user's ``/ws`` connections. A connection
is filed for exactly its session's life (`file`/`unfile`, from before its 101 in
`chat.ws.opening` to the end of `ClientSession.run`: the
`chat.ws.session.contracts.Registry` protocol), and unfiled when the session ends,
however it ends, or if it never opens. What is offered to it before its 101 waits
behind it. Only synchronous methods touch the registry, so no lock is needed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Protocol

from chat.bus.interface import tell_others
from chat.core.frames import dumps, text_frame

if TYPE_CHECKING:
    from chat.bus.interface import Bus
    from chat.core.records import Identity

#: The type of the bus event that carries a notice to the other instances.
USER_NOTICE = "user-notice"
#: The type of the bus event that carries a notice for everyone to the other instances.
EVERYONE_NOTICE = "everyone-notice"
#: The type of the bus event that carries a notice for a room's members to the others.
ROOM_NOTICE = "room-notice"


class Recipient(Protocol):
    """A connection as notices see it (`chat.ws.session.client_session.ClientSession`)."""

    identity: Identity | None

    def offer(self, data: bytes) -> bool: ...

    def removed_from(self, room_id: int) -> None: ...


class UserNotices:
    """The registry of room-protocol connections by user, and delivering frames to them."""

    def __init__(self, bus: Bus) -> None:
        self._bus = bus
        self._connections: dict[int, set[Recipient]] = {}
        self._watchers: list[Callable[[int, dict[str, Any]], None]] = []
        #: Who of a room's members are connected here (`chat.app.people.activity` knows).
        self._members_here: Callable[[int], Iterable[int]] = lambda _room_id: ()

    def find_members_with(self, members_here: Callable[[int], Iterable[int]]) -> None:
        """Use `members_here(room_id)` (the users connected here who are members of the
        room; it must not wait) for notices to a room's members."""
        self._members_here = members_here

    def watch(self, watcher: Callable[[int, dict[str, Any]], None]) -> None:
        """Call `watcher(user_id, frame)` with every notice delivered here, whether the
        user has connections here or not (`chat.app.people.activity` follows memberships so).
        It must not wait."""
        self._watchers.append(watcher)

    # `chat.ws.session.contracts.Registry`, for room-protocol sessions: each gets its user's
    # notices from when it starts until it ends, under whoever it is now.

    def file(self, session: Recipient) -> None:
        if session.identity is not None:
            self._connections.setdefault(session.identity.user_id, set()).add(session)

    def refile(self, session: Recipient, before: Identity | None) -> None:
        if before is not None:
            self._forget(before.user_id, session)
        self.file(session)

    def unfile(self, session: Recipient) -> None:
        if session.identity is not None:
            self._forget(session.identity.user_id, session)

    def _forget(self, user_id: int, session: Recipient) -> None:
        connections = self._connections.get(user_id)
        if connections is not None:
            connections.discard(session)
            if not connections:
                del self._connections[user_id]

    def deliver(self, user_id: int, frame: dict[str, Any]) -> None:
        """Offer `frame` to the user's connections on this instance. Never waits."""
        for watcher in self._watchers:
            watcher(user_id, frame)
        connections = self._connections.get(user_id)
        if connections is None:
            return
        data = text_frame(dumps(frame))
        room_id = frame.get("RoomID")
        # Taken out of a room, or the room deleted: its connections leave it.
        leaving = frame.get("Type") in ("removed", "room-deleted")
        removed = room_id if leaving and isinstance(room_id, int) else None
        for connection in list(connections):
            if removed is not None:
                # First out of the room (no further message of it reaches this
                # connection), then told why.
                connection.removed_from(removed)
            connection.offer(data)

    async def send(self, user_id: int, frame: dict[str, Any]) -> None:
        """Deliver `frame` to the user's connections here and on every other instance."""
        self.deliver(user_id, frame)
        event = {"type": USER_NOTICE, "user_id": user_id, "frame": frame}
        await tell_others(self._bus, event, what=f"notice to user {user_id}")

    def deliver_to_everyone(self, frame: dict[str, Any]) -> None:
        """Offer `frame` to every room-protocol connection on this instance. Never waits."""
        data = text_frame(dumps(frame))
        for connections in list(self._connections.values()):
            for connection in list(connections):
                connection.offer(data)

    async def send_to_everyone(self, frame: dict[str, Any]) -> None:
        """Deliver `frame` to every room-protocol connection, here and on every other
        instance (a public room was created: every directory lists it)."""
        self.deliver_to_everyone(frame)
        event = {"type": EVERYONE_NOTICE, "frame": frame}
        await tell_others(self._bus, event, what="a notice to everyone")

    def deliver_to_members(self, room_id: int, frame: dict[str, Any]) -> None:
        """Offer `frame` to every connection here of the room's members. Never waits."""
        for user_id in list(self._members_here(room_id)):
            self.deliver(user_id, frame)

    async def send_to_members(self, room_id: int, frame: dict[str, Any]) -> None:
        """Deliver `frame` to every connection of the room's members, here and on every
        other instance (its settings or a member's role changed)."""
        self.deliver_to_members(room_id, frame)
        event = {"type": ROOM_NOTICE, "room_id": room_id, "frame": frame}
        await tell_others(self._bus, event, what=f"a notice to room {room_id}'s members")

    def on_room_event(self, event: dict[str, Any]) -> None:
        """A ``room-notice`` from another instance: deliver it here."""
        room_id, frame = event.get("room_id"), event.get("frame")
        if isinstance(room_id, int) and isinstance(frame, dict):
            self.deliver_to_members(room_id, frame)

    def on_everyone_event(self, event: dict[str, Any]) -> None:
        """An ``everyone-notice`` from another instance: deliver it here."""
        frame = event.get("frame")
        if isinstance(frame, dict):
            self.deliver_to_everyone(frame)

    def on_event(self, event: dict[str, Any]) -> None:
        """A ``user-notice`` from another instance: deliver it here. Malformed ones (from
        a different version, say) are ignored."""
        user_id, frame = event.get("user_id"), event.get("frame")
        if isinstance(user_id, int) and isinstance(frame, dict):
            self.deliver(user_id, frame)
