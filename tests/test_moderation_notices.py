"""What a moderator's action tells the people it concerns, on both backends: a ban says
it is one, and until when (the ``removed`` frame's ``Banned`` and ``Until``, carried
between instances as the table has them), the directory leaves out the rooms the caller
is banned from, and a room's moderators and owners hear how many of its reports are open
(``{"Type": "reports", "RoomID", "Open"}``) when one is filed or decided."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import trio
from support import Account, Clients, JsonClient, Server, account, entered, open_clients
from test_bus_carried import _roundtrip
from test_room_moderation import ok, ready, receive_type, team

from chat.core.config import Config
from chat.core.moderation_records import AuditEntry
from chat.core.records import Departure
from chat.store import open_store


async def test_a_ban_tells_the_member_it_is_a_ban_until_lifted(
    server: Server, clients: Clients
) -> None:
    _owner, mod, member, room_id = await team(server)
    ws = await entered(clients, member, room_id)
    await ok(server, mod, "PUT", f"/room/{room_id}/bans/{member.uid}", {"Reason": "spam"})
    assert await receive_type(ws, "removed") == {
        "Type": "removed",
        "RoomID": room_id,
        "By": {"UID": mod.uid, "Username": "mo"},
        "Reason": "spam",
        "Banned": True,
        "Until": None,
    }


async def test_a_ban_for_a_time_tells_the_member_until_when(
    server: Server, clients: Clients
) -> None:
    _owner, mod, member, room_id = await team(server)
    ws = await entered(clients, member, room_id)
    answer = await ok(server, mod, "PUT", f"/room/{room_id}/bans/{member.uid}", {"Seconds": 3600})
    frame = await receive_type(ws, "removed")
    assert frame["Banned"] is True and frame["Until"] == answer["Until"]
    until = datetime.fromisoformat(answer["Until"])
    assert timedelta(minutes=59) < until - datetime.now(UTC) < timedelta(minutes=61)


async def test_a_removal_is_no_ban(server: Server, clients: Clients) -> None:
    _owner, mod, member, room_id = await team(server)
    ws = await entered(clients, member, room_id)
    await ok(server, mod, "DELETE", f"/room/{room_id}/members/{member.uid}")
    frame = await receive_type(ws, "removed")
    assert "Banned" not in frame and "Until" not in frame


async def test_a_ban_departure_carried_equals_the_one_the_table_gives(config: Config) -> None:
    until = datetime(2030, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
    async with open_store(config) as store:
        alice = await store.create_user("alice", "hash")
        bob = await store.create_user("bob", "hash")
        room = await store.create_room("ops", is_private=False, creator_id=alice.id)
        await store.add_member(room.id, bob.id)
        entry = AuditEntry(room.id, "ban", alice.id, "alice", bob.id, "bob", None, "spam", {})
        await store.restrict(
            "ban", room.id, bob.id, reason="spam", until=until, by_id=alice.id, audit=entry
        )
        read = await store.committed_after(0, limit=10)
    (departure,) = [item for item, _room in read if isinstance(item, Departure)]
    assert departure.banned and departure.until == until
    assert _roundtrip(read) == read


async def _directory(server: Server, who: Account) -> list[str]:
    return [room["Name"] for room in await ok(server, who, "GET", "/rooms/public")]


async def test_the_directory_leaves_out_a_room_the_caller_is_banned_from(server: Server) -> None:
    _owner, mod, member, room_id = await team(server)
    other = await account(server, "olaf")
    await ok(server, mod, "PUT", f"/room/{room_id}/bans/{member.uid}", {})
    assert await _directory(server, member) == []
    assert await _directory(server, other) == ["ops"]
    await ok(server, mod, "DELETE", f"/room/{room_id}/bans/{member.uid}")
    assert await _directory(server, member) == ["ops"]


async def test_the_directory_lists_the_room_again_once_the_ban_expires(server: Server) -> None:
    _owner, mod, member, room_id = await team(server)
    answer = await ok(server, mod, "PUT", f"/room/{room_id}/bans/{member.uid}", {"Seconds": 1})
    assert await _directory(server, member) == []
    until = datetime.fromisoformat(answer["Until"])
    await trio.sleep(max(0.0, (until - datetime.now(UTC)).total_seconds()) + 0.2)
    assert await _directory(server, member) == ["ops"]


async def _next_reports(ws: JsonClient) -> dict[str, object]:
    return await receive_type(ws, "reports")


async def test_moderators_and_owners_hear_the_open_reports_count_when_filed_and_decided(
    server: Server,
) -> None:
    owner, mod, member, room_id = await team(server)
    posted = await ok(server, owner, "POST", f"/messages/{room_id}", {"Text": "rude"})
    async with open_clients(server) as clients:
        owner_ws = await ready(await clients.json("/ws", token=owner.token))
        mod_ws = await ready(await clients.json("/ws", token=mod.token))
        member_ws = await ready(await clients.json("/ws", token=member.token))
        report = await ok(server, member, "POST", "/reports", {"MessageID": posted["MessageID"]})
        filed = {"Type": "reports", "RoomID": room_id, "Open": 1}
        assert await _next_reports(owner_ws) == filed
        assert await _next_reports(mod_ws) == filed
        # Reporting it again is no new report: nothing new to count.
        await ok(server, member, "POST", "/reports", {"MessageID": posted["MessageID"]})
        await ok(server, mod, "PUT", f"/reports/{report['ReportID']}", {"Status": "dismissed"})
        decided = {"Type": "reports", "RoomID": room_id, "Open": 0}
        assert await _next_reports(owner_ws) == decided
        assert await _next_reports(mod_ws) == decided
        # The member who reported is told nothing of the count.
        with pytest.raises(trio.TooSlowError):
            await receive_type(member_ws, "reports")
