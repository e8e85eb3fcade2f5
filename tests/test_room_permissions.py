"""The permission table of running a room (docs/SECURITY.md, "Running a room: who may do
what"): every role x every action x every kind of room, allowed or the exact refusal, on
both backends.

Each case acts on a fresh plain member (the target), so the cases do not disturb each
other; the expected answer comes from `expected`, the table written out as rules.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import pytest
from support import Account, Server, account, create_room, http_client
from test_support import operator

ACTIONS = (
    "set-role",
    "remove",
    "ban",
    "mute",
    "list-bans",
    "topic",
    "name",
    "delete-other",
    "reports",
    "audit",
    "invite",
    "pin",
    "webhooks",
)
#: The refusal's words for each action (chat.core.room_permissions.Action).
WORDS = {
    "set-role": "change roles",
    "remove": "remove members",
    "ban": "ban users",
    "mute": "mute members",
    "list-bans": "see its bans and mutes",
    "topic": "change its topic and slow mode",
    "name": "change its name and privacy",
    "reports": "see and decide its reports",
    "audit": "read its audit log",
    "pin": "pin messages",
    "webhooks": "manage its incoming webhooks",
}
#: The lowest rank each action needs in a group room (member 1, moderator 2, owner 3).
NEEDS = {action: 2 for action in ACTIONS} | {"set-role": 3, "name": 3}
RANKS = {"stranger": 0, "member": 1, "moderator": 2, "owner": 3, "operator": 4}
LOBBY_ACTIONS = {"mute", "list-bans", "topic", "delete-other", "reports", "audit", "pin"}
GROUP_KINDS = ("public", "private")
KIND_WORDS = {"lobby": "the lobby", "direct": "a direct conversation"}


@dataclass
class Case:
    room_id: int
    target: Account
    message_id: int
    newcomer: Account


def expected(kind: str, role: str, action: str, room_id: int) -> tuple[int, str | None]:
    """(status, exact error or None) the table says."""
    rank = RANKS[role]
    if kind in GROUP_KINDS:
        if action == "delete-other":
            if rank >= 2:
                return 204, None
            if rank == 0:
                return 403, f"you are not a member of room {room_id}"
            return (
                403,
                "only the author of message {message} or a moderator of the room may delete it",
            )
        if action == "pin" and rank == 0:
            return 403, f"you are not a member of room {room_id}"  # pins are the members'
        if action == "invite":
            if rank >= 2:
                return 200, None
            return 403, f"only an owner or moderator of room {room_id} may invite users to it"
        if rank >= NEEDS[action]:
            return 200, None
        who = "an owner" if NEEDS[action] == 3 else "a moderator or owner"
        return 403, f"only {who} of room {room_id} may {WORDS[action]}"
    if kind == "lobby":
        if action == "invite":
            return 403, f"only group rooms take invitations, and room {room_id} is not one"
        if action == "delete-other":
            if rank == 4:
                return 204, None
            return (
                403,
                "only the author of message {message} or a moderator of the room may delete it",
            )
        if action not in LOBBY_ACTIONS:
            return 409, f"room {room_id} is the lobby: nobody may {WORDS[action]} there"
        if rank == 4:
            return 200, None
        return 403, f"only a server operator may {WORDS[action]} in room {room_id}"
    # A direct conversation: its two users read it, operators do not.
    assert kind == "direct"
    if rank == 4 and action == "reports":
        return 200, None  # operators see every room's reports (GET /reports too)
    if rank in (0, 4):
        if action == "invite":
            return 403, f"only group rooms take invitations, and room {room_id} is not one"
        return 403, f"you are not a member of room {room_id}"
    if action == "invite":
        return 403, f"only group rooms take invitations, and room {room_id} is not one"
    if action == "delete-other":
        return 403, "only the author of message {message} or a moderator of the room may delete it"
    return 409, f"room {room_id} is a direct conversation: nobody may {WORDS[action]} there"


def request_of(action: str, case: Case) -> tuple[str, str, Any]:
    room, target = case.room_id, case.target.uid
    return {
        "set-role": ("PUT", f"/room/{room}/members/{target}", {"Role": "moderator"}),
        "remove": ("DELETE", f"/room/{room}/members/{target}", None),
        "ban": ("PUT", f"/room/{room}/bans/{target}", {"Reason": "r"}),
        "mute": ("PUT", f"/room/{room}/mutes/{target}", {"Seconds": 60}),
        "list-bans": ("GET", f"/room/{room}/bans", None),
        "topic": ("PUT", f"/room/{room}/settings", {"Topic": f"t{target}"}),
        "name": ("PUT", f"/room/{room}/settings", {"Name": f"renamed-{room}-{target}"}),
        "delete-other": ("DELETE", f"/messages/{room}/{case.message_id}", None),
        "reports": ("GET", f"/room/{room}/reports", None),
        "audit": ("GET", f"/room/{room}/audit", None),
        "invite": ("PUT", "/invite", {"RoomID": room, "UID": case.newcomer.uid}),
        "pin": ("PUT", f"/messages/{room}/{case.message_id}/pin", None),
        "webhooks": ("GET", f"/room/{room}/webhooks", None),
    }[action]


class People:
    """The actors, made once per kind of room, and a counter for fresh targets."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.made = itertools.count()
        self.actors: dict[str, Account] = {}

    async def fresh(self, prefix: str) -> Account:
        return await account(self.server, f"{prefix}{next(self.made)}")


async def post(server: Server, who: Account, room_id: int, text: str) -> int:
    async with http_client(server) as client:
        response = await client.post(f"/messages/{room_id}", headers=who.auth, json={"Text": text})
    assert response.status_code == 201, response.text
    return int(response.json()["MessageID"])


async def setup_case(server: Server, people: People, kind: str, actors: dict[str, Account]) -> Case:
    """A room of `kind` with the actors in their roles, a fresh target member who wrote
    a message, and a newcomer to invite."""
    target = await people.fresh("t")
    newcomer = await people.fresh("n")
    async with http_client(server) as client:
        if kind in GROUP_KINDS:
            room_id = await create_room(
                server, actors["owner"], f"room{next(people.made)}", private=kind == "private"
            )
            for role in ("moderator", "member"):
                await invite(client, actors["owner"], room_id, actors[role])
            await invite(client, actors["owner"], room_id, target)
            await client.put(
                f"/room/{room_id}/members/{actors['moderator'].uid}",
                headers=actors["owner"].auth,
                json={"Role": "moderator"},
            )
        elif kind == "lobby":
            room_id = 1
        else:
            found = await client.get(f"/dm/{target.uid}", headers=actors["member"].auth)
            room_id = found.json()["RoomID"]
    return Case(room_id, target, await post(server, target, room_id, "hello"), newcomer)


async def invite(client: Any, owner: Account, room_id: int, who: Account) -> None:
    response = await client.put(
        "/invite", headers=owner.auth, json={"RoomID": room_id, "UID": who.uid}
    )
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("kind", ["public", "private", "lobby", "direct"])
async def test_every_role_may_do_what_the_table_says_and_nothing_else(
    server: Server, kind: str
) -> None:
    people = People(server)
    actors = {role: await people.fresh(role[:3]) for role in ("owner", "moderator", "member")}
    actors["stranger"] = await people.fresh("str")
    actors["operator"] = await operator(server)
    roles = list(RANKS) if kind in GROUP_KINDS or kind == "direct" else ["member", "operator"]
    if kind == "direct":
        roles = ["member", "stranger", "operator"]
    wrong = []
    for role, action in itertools.product(roles, ACTIONS):
        case = await setup_case(server, people, kind, actors)
        method, path, body = request_of(action, case)
        async with http_client(server) as client:
            response = await client.request(method, path, headers=actors[role].auth, json=body)
        status, error = expected(kind, role, action, case.room_id)
        if error is not None:
            error = error.replace("{message}", str(case.message_id))
        got_error = response.json().get("error") if response.status_code >= 400 else None
        if (response.status_code, got_error) != (status, error):
            wrong.append((role, action, response.status_code, got_error, status, error))
    assert wrong == []
