"""The frames presence and typing send to ``/ws`` connections (docs/PROTOCOL.md), and
the order presence lists are in. Each is built as a JSON string once and offered to
every connection that takes it (`chat.app.presence.tracker`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from chat.core import shapes
from chat.core.frames import dumps

if TYPE_CHECKING:
    from chat.core.records import Identity


#: A user's status as frames show it (`chat.core.statuses.status_json`), None: none.
StatusJSON = dict[str, Any] | None


def _person(user_id: int, name: str, status: StatusJSON) -> dict[str, Any]:
    """A person as presence shows them: with ``"Status"`` only when they have one."""
    person = shapes.person(user_id, name)
    if status is not None:
        person["Status"] = status
    return person


def presence_frame(
    room_id: int, user_id: int, name: str, online: bool, status: StatusJSON = None
) -> str:
    """One user's arrival in a room (`online`) or departure from it."""
    person = _person(user_id, name, status)
    return dumps({"Type": "presence", "RoomID": room_id, **person, "Online": online})


def person_json(user_id: int, name: str, status: StatusJSON = None) -> str:
    """A person as a presence list shows them, encoded."""
    return dumps(_person(user_id, name, status))


def presence_list_frame(
    room_id: int,
    users: list[tuple[int, str]],
    encoded: Callable[[int, str], str] = person_json,
) -> str:
    """The people present in a room, in one frame (a connection that entered with
    ``"Presence": "list"``), from each person's JSON (`encoded`, which `Presence` keeps
    for the users connected here: encoding a room of a thousand anew for each `enter`
    cost ten times joining the pieces)."""
    return presence_list_json_frame(room_id, ",".join(encoded(uid, name) for uid, name in users))


def presence_list_json_frame(room_id: int, people: str) -> str:
    """A ``presence-list`` frame from its people's JSON, comma-joined."""
    return f'{{"Type":"presence-list","RoomID":{int(room_id)},"Users":[{people}]}}'


def presence_changes_frame(
    room_id: int,
    changes: list[tuple[int, str, bool]],
    status_of: Callable[[int], StatusJSON] = lambda _user_id: None,
) -> str:
    """What changed in a room since its connections were last told, in one frame (with
    the status of each user who arrived, `status_of`)."""
    people = [
        {**_person(user_id, name, status_of(user_id) if online else None), "Online": online}
        for user_id, name, online in changes
    ]
    return dumps({"Type": "presence-changes", "RoomID": room_id, "Changes": people})


def typing_frame(room_id: int, user_id: int, name: str) -> str:
    """Someone is typing in a room."""
    return dumps({"Type": "typing", "RoomID": room_id, **shapes.person(user_id, name)})


def by_name(person: tuple[int, str]) -> tuple[str, int]:
    """How presence lists are ordered: by name (case-folded), then id."""
    user_id, name = person
    return name.casefold(), user_id


class RoomConnection(Protocol):
    """What presence needs of a ``/ws`` session (`chat.ws.session.client_session.ClientSession`)."""

    id: int
    identity: Identity | None

    def offer(self, data: bytes) -> bool: ...
