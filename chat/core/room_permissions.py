"""Who may do what in a room: the one table `chat.app.rooms.moderation` checks,
and docs/SECURITY.md prints.

Ranks: member < moderator < owner < operator (a server admin, who acts as an owner in
every room without being a member, and outranks owners). An action needs at least its
rank (`MINIMUM_RANK`); one on a person also a rank above theirs (`outranks`), except
that owners change each other's roles. Only group rooms have roles and members to
remove; in the lobby, operators mute, delete and change the topic and slow mode;
direct conversations and support threads have no moderation at all.
"""

from __future__ import annotations

from enum import Enum

from chat.core.errors import Conflict, Forbidden
from chat.core.records import Room

ROLES = ("owner", "moderator", "member")
#: A role's rank; 0 is not a member, `OPERATOR` a server admin.
RANK = {"member": 1, "moderator": 2, "owner": 3}
OPERATOR = 4


class Action(Enum):
    """What someone may do in a room, with the words of its refusal."""

    SET_ROLE = "change roles"
    REMOVE = "remove members"
    BAN = "ban users"
    MUTE = "mute members"
    LIST_RESTRICTIONS = "see its bans and mutes"
    TOPIC_AND_SLOW_MODE = "change its topic and slow mode"
    NAME_AND_PRIVACY = "change its name and privacy"
    RETENTION = "change how long it keeps messages"
    DELETE_ANY = "delete other people's messages"
    REPORTS = "see and decide its reports"
    AUDIT = "read its audit log"
    INVITE = "invite users"
    PIN = "pin messages"
    WEBHOOKS = "manage its incoming webhooks"
    COMMANDS = "manage its slash commands and outgoing webhooks"
    ARCHIVE = "archive or delete it"


#: The lowest rank each action needs.
MINIMUM_RANK = {
    Action.SET_ROLE: RANK["owner"],
    Action.REMOVE: RANK["moderator"],
    Action.BAN: RANK["moderator"],
    Action.MUTE: RANK["moderator"],
    Action.LIST_RESTRICTIONS: RANK["moderator"],
    Action.TOPIC_AND_SLOW_MODE: RANK["moderator"],
    Action.NAME_AND_PRIVACY: RANK["owner"],
    Action.RETENTION: RANK["owner"],
    Action.DELETE_ANY: RANK["moderator"],
    Action.REPORTS: RANK["moderator"],
    Action.AUDIT: RANK["moderator"],
    Action.INVITE: RANK["moderator"],
    Action.PIN: RANK["moderator"],
    Action.WEBHOOKS: RANK["moderator"],
    Action.COMMANDS: RANK["moderator"],
    Action.ARCHIVE: RANK["owner"],
}

#: What the lobby allows (operators only: nobody else ranks above member there).
LOBBY_ACTIONS = frozenset(
    {
        Action.MUTE,
        Action.LIST_RESTRICTIONS,
        Action.TOPIC_AND_SLOW_MODE,
        Action.RETENTION,
        Action.DELETE_ANY,
        Action.REPORTS,
        Action.AUDIT,
        Action.PIN,
    }
)

#: The words for a room that is not a group room.
KIND_WORDS = {
    "lobby": "the lobby",
    "direct": "a direct conversation",
    "support": "a support thread",
}

#: Who each rank is, in refusals.
_NEEDS = {
    RANK["moderator"]: "a moderator or owner",
    RANK["owner"]: "an owner",
}


def rank_of(role: str | None, *, is_admin: bool) -> int:
    """A person's rank in a room: their role's, or `OPERATOR` for a server admin."""
    if is_admin:
        return OPERATOR
    return 0 if role is None else RANK[role]


def allowed_in(room: Room, action: Action) -> bool:
    """Whether `action` exists at all in a room of this kind."""
    if room.kind == "group":
        return True
    return room.kind == "lobby" and action in LOBBY_ACTIONS


def _needed(room: Room, action: Action) -> int:
    """The lowest rank that may do `action` in `room` (in the lobby: operators only)."""
    return OPERATOR if room.kind == "lobby" else MINIMUM_RANK[action]


def permits(room: Room, action: Action, rank: int) -> bool:
    """Whether someone of `rank` may do `action` in `room` (`require`, without the words)."""
    return allowed_in(room, action) and rank >= _needed(room, action)


def require(room: Room, action: Action, rank: int) -> None:
    """Raise the exact refusal unless someone of `rank` may do `action` in `room`:
    `Conflict` (409) where the room's kind has no such thing, else `Forbidden`."""
    if not allowed_in(room, action):
        words = KIND_WORDS[room.kind]
        raise Conflict(f"room {room.id} is {words}: nobody may {action.value} there")
    needed = _needed(room, action)
    if rank < needed:
        if needed == OPERATOR:
            raise Forbidden(f"only a server operator may {action.value} in room {room.id}")
        raise Forbidden(f"only {_NEEDS[needed]} of room {room.id} may {action.value}")


def outranks(actor_rank: int, target_rank: int, *, action: Action) -> bool:
    """Whether someone of `actor_rank` may do `action` to a person of `target_rank`: a
    rank above theirs; but owners change each other's roles (and their own)."""
    if action is Action.SET_ROLE:
        return actor_rank >= RANK["owner"]
    return actor_rank > target_rank
