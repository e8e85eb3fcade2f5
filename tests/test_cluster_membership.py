"""Membership in the stream, on both buses: a removal, a ban or a leave made through one
instance, racing a burst of messages committed through the other, never lets a message
committed after it reach the departed member's connection.

Which messages committed after the departure is the database's word, not the server's:
each test adds a trigger to the cluster's schema that notes, as the departure's
transaction commits, the newest message id committed by then (a deferred constraint
trigger on ``room_members``). A message above that mark committed after the departure
(positions commit in order, and a departure holds the positions lock to its commit).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import trio
from cluster import Instance
from support import (
    Account,
    Clients,
    JsonClient,
    account,
    create_room,
    http_client,
    open_clients,
    pg_query,
    pg_session,
)
from test_cluster import database_url, pair, redis

__all__ = ["database_url", "pair", "redis"]  # the fixtures, shared with test_cluster.py

#: Rounds per test, and members departing in each: every departure is one trial of the
#: race, and 36 of them catch an ordering that fails one trial in ten all but surely.
ROUNDS = 6
LEAVING = 6
#: How far apart the members of one round depart.
DEPARTURES_APART_S = 0.02
#: Messages in each round's burst, sent without waiting for answers, `GAP_S` apart: the
#: departure (asked for after `LEAD` of them) commits while they do.
BURST = 150
GAP_S = 0.001
LEAD = 30
#: Connections sending bursts at once, through the instance the member is connected to.
SENDERS = 3

#: Notes, for every member who leaves a room, the newest message committed when the
#: departure commits (deferred: run at the commit, after every statement of it).
_MARK_DEPARTURES = """
CREATE TABLE departure_marks (room_id bigint, user_id bigint, newest bigint);
CREATE FUNCTION mark_departure() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO departure_marks
    VALUES (OLD.room_id, OLD.user_id, (SELECT coalesce(max(id), 0) FROM messages));
    RETURN NULL;
END
$$;
CREATE CONSTRAINT TRIGGER mark_departure AFTER DELETE ON room_members
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION mark_departure();
"""

#: Makes `member` leave room `room_id` through instance `a`, as `owner` or themselves.
Departure = Callable[[Instance, Account, Account, int], Awaitable[None]]


async def _removed(a: Instance, owner: Account, member: Account, room_id: int) -> None:
    await _ok(a, owner, "DELETE", f"/room/{room_id}/members/{member.uid}")


async def _banned(a: Instance, owner: Account, member: Account, room_id: int) -> None:
    await _ok(a, owner, "PUT", f"/room/{room_id}/bans/{member.uid}", {"Reason": "race"})


async def _left(a: Instance, owner: Account, member: Account, room_id: int) -> None:
    await _ok(a, member, "DELETE", f"/room/{room_id}/members/me")


async def _ok(a: Instance, who: Account, method: str, path: str, body: Any = None) -> None:
    async with http_client(a.server) as client:
        response = await client.request(method, path, headers=who.auth, json=body)
    assert response.status_code == 200, response.text


async def _burst(ws: JsonClient, room_id: int, started: trio.Event) -> None:
    """Send `BURST` messages, pipelined, then wait for every one's confirmation."""
    for n in range(BURST):
        await ws.send({"Type": "message", "Text": f"m{n}"})
        if n == LEAD:
            started.set()
        await trio.sleep(GAP_S)
    confirmed = 0
    while confirmed < BURST:
        frame = await ws.receive()
        assert frame["Type"] != "error", frame
        confirmed += frame["Type"] == "message"


async def _enter(ws: JsonClient, room_id: int) -> None:
    """Enter the room, past what the earlier rounds' rooms still send (activity)."""
    await ws.send({"Type": "enter", "RoomID": room_id, "Presence": False})
    while (frame := await ws.receive())["Type"] != "entered":
        assert frame["Type"] != "error", frame


async def _until_departed(ws: JsonClient, room_id: int) -> list[int]:
    """The ids of the messages `ws` receives until its ``removed`` frame for the room."""
    received = []
    while True:
        frame = await ws.receive()
        if frame["Type"] == "removed" and frame["RoomID"] == room_id:
            return received
        if frame["Type"] == "message":
            received.append(frame["MessageID"])


async def _departures(
    a: Instance, owner: Account, leaving: list[Account], room_id: int, depart: Departure
) -> None:
    """`depart` each of `leaving`, `DEPARTURES_APART_S` after the one before (each on its
    own: they overlap), so that they fall at different moments of the bursts."""
    async with trio.open_nursery() as nursery:
        for member in leaving:
            nursery.start_soon(depart, a, owner, member, room_id)
            await trio.sleep(DEPARTURES_APART_S)


async def _round(
    pair: list[Instance],
    on_b: Clients,
    owner: Account,
    leaving: list[Account],
    senders: list[Account],
    depart: Departure,
    name: str,
) -> tuple[int, dict[int, list[int]]]:
    """One round: `leaving` watch a new room through instance b while `senders` burst into
    it there, and depart through instance a. The room, and what each of `leaving` received
    before their ``removed``, by UID."""
    a = pair[0]
    room_id = await create_room(a.server, owner, name, *leaving, *senders)
    watching = [await on_b.json("/ws", token=member.token) for member in leaving]
    sending = [await on_b.json("/ws", token=sender.token) for sender in senders]
    for ws in (*watching, *sending):
        await _enter(ws, room_id)
    received: dict[int, list[int]] = {}

    async def watch(member: Account, ws: JsonClient) -> None:
        received[member.uid] = await _until_departed(ws, room_id)

    started = trio.Event()
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            for member, ws in zip(leaving, watching, strict=True):
                nursery.start_soon(watch, member, ws)
            for ws in sending:
                nursery.start_soon(_burst, ws, room_id, started)
            await started.wait()
            nursery.start_soon(_departures, a, owner, leaving, room_id, depart)
    for ws in (*watching, *sending):
        await ws.ws.aclose()
    return room_id, received


async def _race(
    pair: list[Instance], database_url: str, depart: Departure
) -> tuple[list[str], int]:
    """`ROUNDS` rounds of `depart` racing bursts: what went wrong (nothing, if all is
    well), and how many departures had messages committed after them at all."""
    a, _b = pair
    async with pg_session(database_url) as execute:
        await execute(_MARK_DEPARTURES)
    owner = await account(a.server, "olga")
    leaving = [await account(a.server, f"mel{n}") for n in range(LEAVING)]
    senders = [await account(a.server, f"sam{n}") for n in range(SENDERS)]
    problems, raced = [], 0
    async with open_clients(pair[1].server) as on_b:
        for number in range(ROUNDS):
            name = f"round-{number}"
            room_id, received = await _round(pair, on_b, owner, leaving, senders, depart, name)
            async with pg_query(database_url) as fetchval:
                newest = await fetchval("SELECT max(id) FROM messages WHERE room_id = $1", room_id)
                for member in leaving:
                    mark = await fetchval(
                        "SELECT newest FROM departure_marks WHERE room_id = $1 AND user_id = $2",
                        room_id,
                        member.uid,
                    )
                    raced += newest > mark
                    late = [message_id for message_id in received[member.uid] if message_id > mark]
                    if late:
                        problems.append(f"{name}, UID {member.uid}: got {late} after {mark}")
    return problems, raced


@pytest.mark.parametrize("depart", [_removed, _banned, _left], ids=["removal", "ban", "leave"])
async def test_no_message_committed_after_a_departure_reaches_the_departed_member(
    pair: list[Instance], database_url: str, depart: Departure
) -> None:
    problems, raced = await _race(pair, database_url, depart)
    assert problems == [], f"{len(problems)} of {ROUNDS * LEAVING} departures"
    assert raced > 0, "no message was committed after any departure: nothing was raced"
