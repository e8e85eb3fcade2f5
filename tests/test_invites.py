"""Invite links (``POST/GET/DELETE /invites``): the code shown once and stored hashed,
who may make them (operators; members when ``CHAT_MEMBER_INVITES`` is on) and into which
rooms, every field bounded, the rooms a registration with one joins, and the audit log's
entries for making and deleting them."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import trio
from support import (
    Account,
    Server,
    account,
    create_room,
    http_client,
    select_rows,
    start_server,
)
from test_support import operator

from chat.core.config import Config


async def _make(server: Server, user: Account, **body: Any) -> tuple[int, dict[str, Any]]:
    async with http_client(server) as client:
        made = await client.post("/invites", json={"Uses": 3, **body}, headers=user.auth)
    return made.status_code, made.json()


async def _listed(server: Server, user: Account) -> list[dict[str, Any]]:
    async with http_client(server) as client:
        answer = await client.get("/invites", headers=user.auth)
    assert answer.status_code == 200, answer.text
    return answer.json()


async def test_an_invite_is_shown_once_and_listed_without_its_code(server: Server) -> None:
    op = await operator(server)
    status, made = await _make(server, op)
    assert status == 201, made
    assert made["Code"].startswith("chat_inv_") and made["Uses"] == 3 and made["Used"] == 0
    assert made["URL"] == f"{server.http}/?invite={made['Code']}"
    listed = await _listed(server, op)
    assert listed == [{k: v for k, v in made.items() if k not in ("Code", "URL")}]


async def test_the_database_keeps_only_the_codes_hash(server: Server) -> None:
    op = await operator(server)
    code = (await _make(server, op))[1]["Code"]
    rows = await select_rows(server.config, "SELECT id, secret_hash FROM invites")
    ((invite_id, stored),) = rows
    secret = code.removeprefix(f"chat_inv_{invite_id}_")
    assert stored == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in repr(rows)


async def test_the_link_names_the_public_url(nursery: trio.Nursery, config: Config) -> None:
    server = await start_server(nursery, config.replace(public_url="https://chat.example.com"))
    made = (await _make(server, await operator(server)))[1]
    assert made["URL"] == f"https://chat.example.com/?invite={made['Code']}"


async def test_a_member_may_not_make_invites_by_default(server: Server) -> None:
    alice = await account(server, "alice")
    status, answer = await _make(server, alice)
    assert status == 403
    assert "only operators" in answer["error"]


async def test_members_make_invites_when_the_setting_allows(
    nursery: trio.Nursery, config: Config
) -> None:
    server = await start_server(nursery, config.replace(member_invites=True))
    alice = await account(server, "alice")
    room_id = await create_room(server, alice, "alices")
    status, made = await _make(server, alice, RoomIDs=[room_id])
    assert status == 201, made
    assert made["RoomIDs"] == [room_id] and made["UID"] == alice.uid


async def test_a_member_may_not_name_a_room_they_cannot_invite_to(
    nursery: trio.Nursery, config: Config
) -> None:
    server = await start_server(nursery, config.replace(member_invites=True))
    alice = await account(server, "alice")
    bob = await account(server, "bob")
    room_id = await create_room(server, alice, "alices", bob)
    status, answer = await _make(server, bob, RoomIDs=[room_id])
    assert status == 403
    assert "owner or moderator" in answer["error"]


async def test_invites_are_refused_while_registration_is_closed(
    nursery: trio.Nursery, config: Config
) -> None:
    server = await start_server(nursery, config.replace(registration="closed"))
    status, answer = await _make(server, await operator(server))
    assert status == 409
    assert "closed" in answer["error"]


@pytest.mark.parametrize(
    "body",
    [
        {"Uses": 0},
        {"Uses": 1001},
        {"Uses": "5"},
        {"Uses": True},
        {"ExpiresAt": "2001-01-01T00:00:00Z"},
        {"ExpiresAt": (datetime.now(UTC) + timedelta(days=91)).isoformat()},
        {"ExpiresAt": "tomorrow"},
        {"RoomIDs": list(range(1, 22))},
        {"RoomIDs": ["1"]},
        {"RoomIDs": 1},
    ],
)
async def test_every_field_is_bounded(server: Server, body: dict[str, Any]) -> None:
    status, answer = await _make(server, await operator(server), **body)
    assert status == 400, answer


async def test_an_unknown_room_is_refused(server: Server) -> None:
    status, _answer = await _make(server, await operator(server), RoomIDs=[9999])
    assert status == 404


async def test_registering_with_an_invite_joins_its_rooms(server: Server) -> None:
    op = await operator(server)
    alice = await account(server, "alice")
    public = await create_room(server, alice, "public")
    private = await create_room(server, alice, "private", private=True)
    code = (await _make(server, op, RoomIDs=[public, private]))[1]["Code"]
    async with http_client(server) as client:
        token = (
            await client.post(
                "/api/reg", json={"username": "newcomer", "password": "pw-long-1", "invite": code}
            )
        ).json()["token"]
        rooms = (await client.get("/rooms", headers={"Authorization": f"Bearer {token}"})).json()
    assert {public, private} <= set(rooms)


async def test_the_link_opens_the_invites_first_room(server: Server) -> None:
    op = await operator(server)
    room_id = await create_room(server, op, "welcome")
    made = (await _make(server, op, RoomIDs=[room_id]))[1]
    assert made["URL"].endswith(f"?invite={made['Code']}#/room/{room_id}")


async def test_a_use_is_counted_in_the_listing(server: Server) -> None:
    op = await operator(server)
    code = (await _make(server, op))[1]["Code"]
    async with http_client(server) as client:
        body = {"Username": "newcomer", "Email": "n@example.com", "Password": "pw-long-1"}
        await client.post("/register", json={**body, "Invite": code})
    assert (await _listed(server, op))[0]["Used"] == 1


async def test_a_member_sees_and_deletes_only_their_own(
    nursery: trio.Nursery, config: Config
) -> None:
    server = await start_server(nursery, config.replace(member_invites=True))
    op = await operator(server)
    alice = await account(server, "alice")
    ops = (await _make(server, op))[1]
    alices = (await _make(server, alice))[1]
    assert [each["InviteID"] for each in await _listed(server, alice)] == [alices["InviteID"]]
    assert len(await _listed(server, op)) == 2
    async with http_client(server) as client:
        refused = await client.delete(f"/invites/{ops['InviteID']}", headers=alice.auth)
        removed = await client.delete(f"/invites/{alices['InviteID']}", headers=alice.auth)
    assert (refused.status_code, removed.status_code) == (404, 204)


async def test_making_and_deleting_an_invite_is_in_the_audit_log(server: Server) -> None:
    op = await operator(server)
    made = (await _make(server, op, Uses=2))[1]
    async with http_client(server) as client:
        await client.delete(f"/invites/{made['InviteID']}", headers=op.auth)
        entries = (await client.get("/audit", headers=op.auth)).json()
    actions = {entry["Action"]: entry for entry in entries}
    assert actions["invite-create"]["Details"]["InviteID"] == made["InviteID"]
    assert actions["invite-create"]["Details"]["Uses"] == 2
    assert actions["invite-delete"]["By"]["UID"] == op.uid
    assert made["Code"] not in repr(entries)
