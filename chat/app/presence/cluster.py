"""Presence across instances: what the other instances last said, and what this one says.

Only transitions travel on the bus (a user's first connection on an instance, or its last
gone; a first or last connection in a room; typing), as events of `EVENT_TYPE`, with a
snapshot of the sender's whole state every heartbeat. `OtherInstances` keeps each other
instance's state by its id: a snapshot replaces it (so a lost event is repaired by the
next snapshot), an instance that says goodbye is forgotten at once, and one whose events
stop (it died) after the timeout, its users leaving their rooms here. `change_events` and
`snapshot_events` encode this instance's side, each event small enough for PostgreSQL's
NOTIFY.

Ownership: `chat.app.presence.tracker.Presence` owns one `OtherInstances` and calls it from its own
code only (bus events, its `run` task's rounds); nothing here awaits, so a cancellation
never leaves a state half-applied.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import trio

log = logging.getLogger(__name__)

#: The type of the bus events that carry presence (changes, snapshots) and typing.
EVENT_TYPE = "presence"
#: A bus event's JSON stays below this (PostgreSQL's NOTIFY takes at most 8000 bytes).
MAX_EVENT_BYTES = 6000

#: A user present in a room: (room id, user id).
Key = tuple[int, int]


@dataclass(slots=True)
class _Instance:
    """What another instance last said: who is online there, who is in which room."""

    seen: float
    online: dict[int, str] = field(default_factory=dict)
    rooms: dict[Key, str] = field(default_factory=dict)
    #: The same as `rooms`, by room: room id -> {user id: name} (what `present` reads).
    by_room: dict[int, dict[int, str]] = field(default_factory=dict)
    #: The snapshot being received in parts: its number, and the parts so far.
    building: tuple[int, dict[int, dict[str, Any]]] | None = None


class OtherInstances:
    """The other instances' states, kept from their events.

    A change to whether a user is present in a room *anywhere* is reported to `changed`
    (room, user, name shown, whether it was present before), typing elsewhere to `typed`;
    `present_anywhere` is the cluster's answer (this instance's counts and these states),
    asked before and after each change, and `name_of` names a user who left without one.
    """

    def __init__(
        self,
        timeout: float,
        *,
        present_anywhere: Callable[[int, int], bool],
        changed: Callable[[int, int, str, bool], None],
        typed: Callable[[int, int, str], None],
        name_of: Callable[[int], str],
    ) -> None:
        self.timeout = timeout
        self._present_anywhere = present_anywhere
        self._changed = changed
        self._typed = typed
        self._name_of = name_of
        self._states: dict[str, _Instance] = {}
        # Instances that said goodbye, and when: a change of theirs overtaken on the bus
        # by the goodbye must not bring them back. Kept for `timeout` seconds.
        self._departed: dict[str, float] = {}

    def __len__(self) -> int:
        return len(self._states)

    def online_counts(self) -> dict[str, int]:
        """Each other instance heard from, by id: how many users it has online."""
        return {origin: len(state.online) for origin, state in self._states.items()}

    def is_online(self, user_id: int) -> bool:
        return any(user_id in state.online for state in self._states.values())

    def has(self, key: Key) -> bool:
        """Whether another instance has (room, user) `key` present."""
        return any(key in state.rooms for state in self._states.values())

    def in_room(self, room_id: int) -> list[dict[int, str]]:
        """Each other instance's users present in `room_id` ({id: name}), where it has any."""
        return [users for state in self._states.values() if (users := state.by_room.get(room_id))]

    def on_event(self, event: dict[str, Any]) -> bool:
        """An event of `EVENT_TYPE` from another instance: changes, typing, a part of a
        snapshot, or its goodbye. Malformed content is ignored (another version, or
        garbage). True when the event is the first heard from its instance: this one's
        state should reach it soon."""
        try:
            origin = event["instance"]
            if not isinstance(origin, str) or origin in self._departed:
                return False
            if event.get("gone") is True:
                self._departed[origin] = trio.current_time()
                if origin in self._states:
                    self._forget(origin, "it stopped")
                return False
            state = self._states.get(origin)
            newcomer = state is None
            if state is None:
                state = self._states[origin] = _Instance(trio.current_time())
            state.seen = trio.current_time()
            if "changes" in event:
                for change in event["changes"]:
                    self._apply(state, change)
            elif "snapshot" in event:
                self._snapshot_part(state, event)
            return newcomer
        except (KeyError, TypeError, ValueError):
            log.debug("ignored a malformed presence event")
            return False

    def forget_silent(self) -> None:
        """Forget the instances whose last event is older than the timeout: their users
        leave their rooms here (with frames) and go offline."""
        now = trio.current_time()
        for origin, state in list(self._states.items()):
            if now - state.seen >= self.timeout:
                self._forget(origin, f"no presence heard for {self.timeout} s")
        for origin, when in list(self._departed.items()):
            if now - when >= self.timeout:
                del self._departed[origin]

    def _apply(self, state: _Instance, change: list[Any]) -> None:
        kind = change[0]
        if kind == "online":
            _, user_id, name, online = change
            if online:
                state.online[int(user_id)] = str(name)
            else:
                state.online.pop(int(user_id), None)
        elif kind == "room":
            _, room_id, user_id, name, present = change
            key = (int(room_id), int(user_id))
            self._set_room(state, key, str(name) if present else None)
        elif kind == "typing":
            _, room_id, user_id, name = change
            self._typed(int(room_id), int(user_id), str(name))

    def _set_room(self, state: _Instance, key: Key, name: str | None) -> None:
        """Set whether `state`'s instance has (room, user) `key`, reporting it if the
        cluster's view of it changes."""
        before = self._present_anywhere(*key)
        old_name = state.rooms.get(key)
        room_id, user_id = key
        if name is None:
            state.rooms.pop(key, None)
            users = state.by_room.get(room_id)
            if users is not None:
                users.pop(user_id, None)
                if not users:
                    del state.by_room[room_id]
        else:
            state.rooms[key] = name
            state.by_room.setdefault(room_id, {})[user_id] = name
        after = self._present_anywhere(*key)
        if before != after:
            shown = name if name is not None else old_name or self._name_of(user_id)
            self._changed(room_id, user_id, shown, before)

    def _snapshot_part(self, state: _Instance, event: dict[str, Any]) -> None:
        number, part, parts = int(event["snapshot"]), int(event["part"]), int(event["parts"])
        if state.building is None or state.building[0] != number:
            state.building = (number, {})
        state.building[1][part] = event
        if len(state.building[1]) < parts:
            return
        received = state.building[1].values()
        state.building = None
        online = {int(u): str(n) for e in received for u, n in e["online"]}
        rooms = {(int(r), int(u)): str(n) for e in received for r, u, n in e["rooms"]}
        state.online = online
        for key in set(state.rooms) | set(rooms):
            self._set_room(state, key, rooms.get(key))

    def _forget(self, origin: str, why: str) -> None:
        """Forget another instance: its users leave their rooms here (with frames) and
        go offline."""
        log.info("instance %s forgotten: %s", origin, why)
        state = self._states[origin]
        state.online = {}
        for key in list(state.rooms):
            self._set_room(state, key, None)  # compares with `state` still counted
        del self._states[origin]


def change_events(instance_id: str, pending: list[list[Any]]) -> list[dict[str, Any]]:
    """Changes to send, in order, as events of at most `MAX_EVENT_BYTES`."""
    events: list[dict[str, Any]] = []
    base = {"type": EVENT_TYPE, "instance": instance_id}
    size = MAX_EVENT_BYTES
    for change in pending:
        change_size = len(json.dumps(change)) + 2  # and the ", " after it
        if size + change_size > MAX_EVENT_BYTES:
            events.append({**base, "changes": []})
            size = 0
        events[-1]["changes"].append(change)
        size += change_size
    return events


def snapshot_events(
    instance_id: str,
    number: int,
    online: Iterable[tuple[int, str]],
    rooms: Iterable[tuple[int, int, str]],
) -> list[dict[str, Any]]:
    """This instance's whole state (its online users, and who is present in which room),
    as the parts of snapshot `number`, each small enough for PostgreSQL's NOTIFY."""
    # Each entry with its size as json.dumps writes it (``[1, "ann"]``) and the ", " after it.
    entries: list[tuple[str, list[Any], int]] = [
        ("online", [uid, name], len(str(uid)) + _json_length(name) + 6) for uid, name in online
    ]
    entries += [
        ("rooms", [rid, uid, name], len(str(rid)) + len(str(uid)) + _json_length(name) + 8)
        for rid, uid, name in rooms
    ]
    batches: list[dict[str, list[Any]]] = [{"online": [], "rooms": []}]
    size = 0
    for kind, entry, entry_size in entries:
        if size + entry_size > MAX_EVENT_BYTES:
            batches.append({"online": [], "rooms": []})
            size = 0
        batches[-1][kind].append(entry)
        size += entry_size
    base = {"type": EVENT_TYPE, "instance": instance_id, "snapshot": number}
    return [{**base, "part": i, "parts": len(batches), **batch} for i, batch in enumerate(batches)]


def _json_length(name: str) -> int:
    """``len(json.dumps(name))``, counted rather than encoded for a plain ASCII name (no
    escapes): encoding every entry only to measure it was most of a large snapshot's cost,
    paid on the Trio thread at every heartbeat."""
    if name.isascii() and name.isprintable() and '"' not in name and "\\" not in name:
        return len(name) + 2
    return len(json.dumps(name))
