"""Several instances on one PostgreSQL database are one chat, on either bus.

Every test runs `chat serve` processes on loopback addresses (127.0.0.2, 127.0.0.3, ...)
against one throwaway PostgreSQL schema, once with PostgreSQL's LISTEN/NOTIFY as the bus
and once with a Redis the test starts itself; the bus carries committed messages between
the instances. The guarantees' tests (order, nothing lost, resume, resends) run a third
time on PostgreSQL's bus with ``CHAT_BUS_CARRY=off``, where every instance reads the
others' messages from the table: both paths keep the same guarantees.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
import trio
from cluster import (
    Instance,
    RedisServer,
    instance_config,
    open_cluster,
    running_redis,
    start_instance,
    start_redis,
    wait_for_log,
)
from support import (
    STEP,
    Account,
    JsonClient,
    Server,
    account,
    answer_past_early_frames,
    create_room,
    http_client,
    open_clients,
    pg_query,
    pg_session,
    throwaway_postgres_schema,
    wait_for_a_waiter_on_the_id_lock,
)
from test_metrics import scrape, until, value
from test_support import operator, support_client

from chat.core.config import Config
from chat.store import open_store

BUSES = ["postgres-bus", "redis-bus"]


@pytest.fixture
async def database_url() -> AsyncIterator[str]:
    """A throwaway PostgreSQL schema the cluster shares."""
    async with throwaway_postgres_schema() as url:
        yield url


@pytest.fixture(params=BUSES)
async def redis(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[RedisServer | None]:
    """None for PostgreSQL's own bus, else a Redis of this test's own."""
    if request.param == "postgres-bus":
        yield None
    else:
        async with running_redis(tmp_path) as server:
            yield server


@pytest.fixture
async def pair(
    tmp_path: Path, database_url: str, redis: RedisServer | None
) -> AsyncIterator[list[Instance]]:
    """Two instances of one chat."""
    bus_url = redis.url if redis is not None else None
    async with open_cluster(tmp_path, database_url, 2, bus_url=bus_url) as instances:
        yield instances


@pytest.fixture(params=[*BUSES, "table-reads"])
async def bus(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[dict[str, object]]:
    """The settings of a cluster's bus: each of `BUSES` carrying committed messages, and
    PostgreSQL's with the carrying off (every instance reads the table)."""
    if request.param == "redis-bus":
        async with running_redis(tmp_path) as server:
            yield {"bus_url": server.url}
    elif request.param == "table-reads":
        yield {"bus_carry": False}
    else:
        yield {}


@pytest.fixture
async def instances(
    tmp_path: Path, database_url: str, bus: dict[str, object]
) -> AsyncIterator[list[Instance]]:
    """Two instances of one chat, on each bus and path (`bus`)."""
    async with open_cluster(tmp_path, database_url, 2, **bus) as started:
        yield started


async def _enter(ws: JsonClient, room_id: int, **extra: object) -> None:
    frame = {"Type": "enter", "RoomID": room_id, "Presence": False, **extra}
    entered = await answer_past_early_frames(ws, frame)
    assert entered["Type"] == "entered", entered


async def _table_ids(database_url: str, room_id: int) -> list[int]:
    """The ids of a room's messages in the table, ascending."""
    async with open_store(Config(database_url=database_url)) as store:
        newest_first = await store.messages_before(room_id, None, 10_000)
    return sorted(message.id for message in newest_first)


# --- every dialect, across instances ---


async def test_tokentalker_messages_reach_talkers_on_every_instance(
    pair: list[Instance],
) -> None:
    a, b = pair
    alice, bob = await account(a.server, "alice"), await account(b.server, "bob")
    async with open_clients(a.server) as on_a, open_clients(b.server) as on_b:
        talker_a = await on_a.talker(token=alice.token, name="alice")
        talker_b = await on_b.talker(token=bob.token, name="bob")
        await talker_a.say("hello from a")
        heard = await talker_b.receive()
        assert (heard["name"], heard["message"]) == ("alice", "hello from a")
        await talker_b.say("hello from b")
        heard = await talker_a.receive()
        assert (heard["name"], heard["message"]) == ("bob", "hello from b")


@contextlib.asynccontextmanager
async def _one_room_two_instances(
    pair: list[Instance],
) -> AsyncIterator[tuple[JsonClient, JsonClient, Account]]:
    """The owner of a room on the first instance and a guest on the second, both in it:
    their connections and the guest."""
    a, b = pair
    owner, guest = await account(a.server, "owner"), await account(b.server, "guest")
    room_id = await create_room(a.server, owner, "general", guest)
    async with open_clients(a.server) as on_a, open_clients(b.server) as on_b:
        ws_a = await on_a.json("/ws", token=owner.token)
        ws_b = await on_b.json("/ws", token=guest.token)
        await _enter(ws_a, room_id)
        await _enter(ws_b, room_id)
        yield ws_a, ws_b, guest


async def test_room_messages_reach_members_on_every_instance(pair: list[Instance]) -> None:
    async with _one_room_two_instances(pair) as (ws_a, ws_b, guest):
        await ws_b.send({"Type": "message", "Text": "from b"})
        for ws in (ws_a, ws_b):
            frame = await ws.receive()
            assert (frame["Type"], frame["UID"], frame["Text"]) == ("message", guest.uid, "from b")


async def test_a_reply_reaches_every_instance_naming_what_it_answers(
    pair: list[Instance],
) -> None:
    async with _one_room_two_instances(pair) as (ws_a, ws_b, _):
        question = await ws_a.request({"Type": "message", "Text": "who's in?"})
        assert (await ws_b.receive())["MessageID"] == question["MessageID"]
        # Checked and stored on b, read from the table by a.
        await ws_b.send({"Type": "message", "Text": "me", "ReplyTo": question["MessageID"]})
        for ws in (ws_a, ws_b):
            frame = await ws.receive()
            assert (frame["Text"], frame["ReplyTo"]) == ("me", question["MessageID"])


async def test_direct_messages_reach_both_users_on_every_instance(
    pair: list[Instance],
) -> None:
    a, b = pair
    alice, bob = await account(a.server, "alice"), await account(b.server, "bob")
    async with open_clients(a.server) as on_a, open_clients(b.server) as on_b:
        alice_a = await on_a.json("/ws", token=alice.token)
        alice_b = await on_b.json("/ws", token=alice.token)
        bob_b = await on_b.json("/ws", token=bob.token)
        await alice_a.send({"from": alice.uid, "to": bob.uid, "content": "psst"})
        for ws in (alice_a, alice_b, bob_b):
            frame = await ws.receive()
            assert (frame["from"], frame["to"], frame["content"]) == (alice.uid, bob.uid, "psst")


async def test_support_messages_cross_instances_both_ways(pair: list[Instance]) -> None:
    a, b = pair
    user, op = await account(a.server, "user"), await operator(b.server)
    async with open_clients(a.server) as on_a, open_clients(b.server) as on_b:
        user_ws, _ = await support_client(on_a, user)
        op_ws, _ = await support_client(on_b, op)
        answer = await user_ws.request({"method": "message.send", "params": ["help!"], "id": 1})
        pushed = await op_ws.receive()
        assert pushed["result"]["user_id"] == user.uid
        assert pushed["result"]["message"] == answer["result"]["message"]

        reply = await op_ws.request(
            {"method": "message.operatorSend", "params": [user.uid, "on it"], "id": 2}
        )
        pushed = await user_ws.receive()
        assert pushed["result"]["message"] == reply["result"]["message"]
        assert pushed["result"]["message"]["is_from_support"] is True


async def test_history_and_http_answers_agree_on_every_instance(pair: list[Instance]) -> None:
    a, b = pair
    owner = await account(a.server, "owner")
    room_id = await create_room(a.server, owner, "general")
    async with open_clients(b.server) as on_b:
        ws = await on_b.json("/ws", token=owner.token)
        await _enter(ws, room_id)
        for text in ("one", "two", "three"):
            await ws.send({"Type": "message", "Text": text})
        for _ in range(3):
            await ws.receive()
    answers = []
    for instance in pair:
        async with http_client(instance.server) as client:
            page = await client.get(f"/messages/{room_id}", headers=owner.auth)
            room = await client.get(f"/room/{room_id}", headers=owner.auth)
            profile = await client.get("/profile", headers=owner.auth)
        answers.append((page.json(), room.json(), profile.json()))
    assert answers[0] == answers[1]
    assert [m["Text"] for m in answers[0][0]] == ["three", "two", "one"]


# --- the guarantees: order, no duplicates, nothing lost ---


async def _flood(
    instances: list[Instance],
    room_id: int,
    users: list[Account],
    *,
    per_sender: int,
    halfway: Callable[[], Awaitable[None]] | None = None,
) -> list[list[int]]:
    """Two senders and one more receiver per instance, everyone in the room; every sender
    sends `per_sender` messages as fast as it can. Returns each connection's sequence of
    message ids once each has received every message (bounded in time)."""
    senders_per_instance = 2
    total = len(instances) * senders_per_instance * per_sender
    sequences: list[list[int]] = []
    sent = [0]
    half = trio.Event()

    async def receive_all(ws: JsonClient, ids: list[int]) -> None:
        while len(ids) < total:
            frame = await ws.receive()
            assert frame["Type"] == "message", frame
            ids.append(frame["MessageID"])

    async def send_all(ws: JsonClient, name: str) -> None:
        for i in range(per_sender):
            await ws.send({"Type": "message", "Text": f"{name} {i}"})
            sent[0] += 1
            if sent[0] >= total // 2:
                half.set()
            if i % 10 == 0:
                await trio.sleep(0.01)  # spread the flood over the halfway mark

    with trio.fail_after(6 * STEP):
        async with contextlib.AsyncExitStack() as stack:
            connections: list[tuple[JsonClient, str | None]] = []
            for n, instance in enumerate(instances):
                group = await stack.enter_async_context(open_clients(instance.server))
                for k in range(senders_per_instance + 1):
                    user = users[(n * 3 + k) % len(users)]
                    ws = await group.json("/ws", token=user.token)
                    await _enter(ws, room_id)
                    is_sender = k < senders_per_instance
                    connections.append((ws, f"{instance.host}/{k}" if is_sender else None))
            async with trio.open_nursery() as nursery:
                for ws, name in connections:
                    ids: list[int] = []
                    sequences.append(ids)
                    nursery.start_soon(receive_all, ws, ids)
                    if name is not None:
                        nursery.start_soon(send_all, ws, name)
                if halfway is not None:
                    await half.wait()
                    await halfway()
    return sequences


async def _flood_users(server: Server, count: int) -> list[Account]:
    return [await account(server, f"user{i}") for i in range(count)]


def _assert_everyone_saw_the_table(sequences: list[list[int]], table: list[int]) -> None:
    for ids in sequences:
        assert ids == sorted(ids), "a connection saw messages out of id order"
        assert len(set(ids)) == len(ids), "a connection saw a message twice"
        assert ids == table, "a connection's messages differ from the table's"


async def test_a_concurrent_flood_reaches_every_connection_in_id_order(
    tmp_path: Path, database_url: str, bus: dict[str, object]
) -> None:
    async with open_cluster(tmp_path, database_url, 3, **bus) as instances:
        users = await _flood_users(instances[0].server, 9)
        room_id = await create_room(instances[0].server, users[0], "flood", *users[1:])
        sequences = await _flood(instances, room_id, users, per_sender=60)
    table = await _table_ids(database_url, room_id)
    assert len(table) == 3 * 2 * 60
    _assert_everyone_saw_the_table(sequences, table)


async def test_nothing_is_lost_when_the_listening_connection_is_cut_mid_flood(
    tmp_path: Path, database_url: str
) -> None:
    async with open_cluster(tmp_path, database_url, 3) as instances:
        users = await _flood_users(instances[0].server, 9)
        room_id = await create_room(instances[0].server, users[0], "flood", *users[1:])
        async with open_store(instances[0].config) as store:
            cluster_id = store.cluster_id  # type: ignore[attr-defined]

        async def cut_the_listeners() -> None:
            async with pg_session(database_url) as execute:
                await execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    f" WHERE application_name = 'chat-bus {cluster_id}'"
                )

        sequences = await _flood(
            instances, room_id, users, per_sender=60, halfway=cut_the_listeners
        )
        for instance in instances:
            assert "lost the listening connection" in instance.log
            await wait_for_log(instance, re.compile(rb"listening again"), "the listener")
    table = await _table_ids(database_url, room_id)
    assert len(table) == 3 * 2 * 60
    _assert_everyone_saw_the_table(sequences, table)


async def test_nothing_is_lost_when_redis_restarts_mid_flood(
    tmp_path: Path, database_url: str
) -> None:
    redis = await start_redis(tmp_path)
    try:
        async with open_cluster(tmp_path, database_url, 3, bus_url=redis.url) as instances:
            users = await _flood_users(instances[0].server, 9)
            room_id = await create_room(instances[0].server, users[0], "flood", *users[1:])

            async def restart_redis() -> None:
                nonlocal redis
                await redis.stop()
                await trio.sleep(0.3)  # publishes fail meanwhile
                redis = await start_redis(tmp_path, redis.port)

            sequences = await _flood(
                instances, room_id, users, per_sender=60, halfway=restart_redis
            )
            for instance in instances:
                assert "lost the subscription" in instance.log
        table = await _table_ids(database_url, room_id)
        assert len(table) == 3 * 2 * 60
        _assert_everyone_saw_the_table(sequences, table)
    finally:
        with trio.CancelScope(shield=True):
            await redis.stop()


async def test_a_lower_id_committed_late_is_delivered_before_the_higher_ones(
    instances: list[Instance], database_url: str
) -> None:
    a, b = instances
    owner, guest = await account(a.server, "owner"), await account(b.server, "guest")
    room_id = await create_room(a.server, owner, "late", guest)
    async with open_clients(a.server) as on_a, open_clients(b.server) as on_b:
        watcher_a = await on_a.json("/ws", token=owner.token)
        sender_b = await on_b.json("/ws", token=guest.token)
        await _enter(watcher_a, room_id)
        await _enter(sender_b, room_id)
        async with pg_session(database_url) as execute, pg_query(database_url) as query:
            # Another writer takes the next id and holds its transaction open ...
            await execute("BEGIN")
            await execute(
                "INSERT INTO messages (room_id, sender_id, body)"
                f" VALUES ({room_id}, {owner.uid}, 'held back')"
            )
            # ... while an instance stores a message, which must wait for it ...
            await sender_b.send({"Type": "message", "Text": "sent meanwhile"})
            await wait_for_a_waiter_on_the_id_lock(query)
            # ... until the first one commits, last.
            await execute("COMMIT")
        for ws in (watcher_a, sender_b):
            first, second = await ws.receive(), await ws.receive()
            assert [first["Text"], second["Text"]] == ["held back", "sent meanwhile"]
            assert first["MessageID"] < second["MessageID"]


# --- resume and idempotent sends, across instances ---


async def test_resuming_on_another_instance_sends_what_was_missed_then_goes_live(
    instances: list[Instance], database_url: str
) -> None:
    a, b = instances
    reader, writer = await account(a.server, "reader"), await account(b.server, "writer")
    room_id = await create_room(a.server, writer, "news", reader)
    async with open_clients(a.server) as on_a, open_clients(b.server) as on_b:
        writer_ws = await on_b.json("/ws", token=writer.token)
        await _enter(writer_ws, room_id)
        reading = await on_a.json("/ws", token=reader.token)
        await _enter(reading, room_id)
        for i in range(3):
            await writer_ws.send({"Type": "message", "Text": f"seen {i}"})
        seen = [(await reading.receive())["MessageID"] for _ in range(3)]
        await reading.ws.aclose()  # the reader's instance, say, went away
        for i in range(4):
            await writer_ws.send({"Type": "message", "Text": f"missed {i}"})

        # Resume on the other instance while the writer keeps writing: the backlog and
        # the live messages must meet with no gap and no duplicate.
        resumed = await on_b.json("/ws", token=reader.token)
        async with trio.open_nursery() as nursery:

            async def keep_writing() -> None:
                for i in range(20):
                    await writer_ws.send({"Type": "message", "Text": f"live {i}"})
                    await trio.sleep(0.005)

            nursery.start_soon(keep_writing)
            await _enter(resumed, room_id, SinceID=seen[-1])
            received = []
            while len(received) < 4 + 20:
                frame = await resumed.receive()
                assert frame["Type"] == "message", frame
                received.append(frame["MessageID"])
    table = await _table_ids(database_url, room_id)
    assert received == [id_ for id_ in table if id_ > seen[-1]]


async def test_a_resend_to_another_instance_stores_nothing_new(
    instances: list[Instance], database_url: str
) -> None:
    a, b = instances
    sender, other = await account(a.server, "sender"), await account(b.server, "other")
    room_id = await create_room(a.server, sender, "room", other)
    async with open_clients(a.server) as on_a, open_clients(b.server) as on_b:
        watcher = await on_b.json("/ws", token=other.token)
        await _enter(watcher, room_id)
        first = await on_a.json("/ws", token=sender.token)
        await _enter(first, room_id)
        await first.send({"Type": "message", "Text": "once", "ClientMsgID": "msg-1"})
        original = await first.receive()
        assert (await watcher.receive())["MessageID"] == original["MessageID"]

        again = await on_b.json("/ws", token=sender.token)
        await _enter(again, room_id)
        await again.send({"Type": "message", "Text": "once", "ClientMsgID": "msg-1"})
        confirmation = await again.receive()
        assert confirmation == original
        # Nobody else receives it twice: the next thing the watcher gets is the next message.
        await again.send({"Type": "message", "Text": "next", "ClientMsgID": "msg-2"})
        assert (await watcher.receive())["Text"] == "next"
    assert len(await _table_ids(database_url, room_id)) == 2


async def test_a_direct_message_resent_to_another_instance_stores_nothing_new(
    instances: list[Instance],
) -> None:
    a, b = instances
    alice, bob = await account(a.server, "alice"), await account(b.server, "bob")
    frame = {"from": alice.uid, "to": bob.uid, "content": "hi", "client_msg_id": "dm-1"}
    async with open_clients(a.server) as on_a, open_clients(b.server) as on_b:
        bob_ws = await on_b.json("/ws", token=bob.token)
        alice_a = await on_a.json("/ws", token=alice.token)
        await alice_a.send(frame)
        original = await alice_a.receive()
        assert (await bob_ws.receive())["id"] == original["id"]
        alice_b = await on_b.json("/ws", token=alice.token)
        await alice_b.send(frame)
        assert await alice_b.receive() == original
        await alice_b.send({**frame, "content": "next", "client_msg_id": "dm-2"})
        assert (await bob_ws.receive())["content"] == "next"
        async with http_client(b.server) as client:
            room_id = (await client.get(f"/dm/{bob.uid}", headers=alice.auth)).json()["RoomID"]
            history = (await client.get(f"/messages/{room_id}", headers=alice.auth)).json()
    assert [m["Text"] for m in history] == ["next", "hi"]


# --- what the bus carries ---


async def _five_messages_from_b_heard_on_a(instances: list[Instance]) -> None:
    async with _one_room_two_instances(instances) as (ws_a, ws_b, _):
        for n in range(5):
            await ws_b.send({"Type": "message", "Text": f"carried {n}"})
        heard = [(await ws_a.receive())["Text"] for _ in range(5)]
    assert heard == [f"carried {n}" for n in range(5)]


async def test_messages_cross_instances_on_the_bus_not_through_the_table(
    pair: list[Instance],
) -> None:
    a, b = pair
    # Carried once each has heard the other (presence: within moments of starting).
    await until(a.server, "chat_cluster_instances", 2)
    await until(b.server, "chat_cluster_instances", 2)
    await _five_messages_from_b_heard_on_a(pair)
    assert value(await scrape(b.server), "chat_bus_carried_items_total", direction="out") >= 5
    assert value(await scrape(a.server), "chat_bus_carried_items_total", direction="in") >= 5


CARRIED = "chat_bus_carried_items_total"


async def test_a_lone_instance_carries_nothing_until_another_is_heard(
    tmp_path: Path, database_url: str, redis: RedisServer | None
) -> None:
    bus_url = redis.url if redis is not None else None
    async with open_cluster(tmp_path, database_url, 1, bus_url=bus_url) as (a,):
        alice = await account(a.server, "alice")
        async with open_clients(a.server) as on_a:
            talker = await on_a.talker(token=alice.token, name="alice")
            await talker.say("to nobody else")
            await until(a.server, "chat_messages_stored_total", 1)
            assert value(await scrape(a.server), CARRIED, direction="out") == 0
        config = instance_config(tmp_path, database_url, 2, bus_url=bus_url)
        b = await start_instance(config, tmp_path / "instance-2.log")
        try:
            await until(a.server, "chat_cluster_instances", 2)
            bob = await account(b.server, "bob")
            async with open_clients(a.server) as on_a, open_clients(b.server) as on_b:
                listener = await on_b.talker(token=bob.token, name="bob")
                talker = await on_a.talker(token=alice.token, name="alice")
                await talker.say("now carried")
                assert (await listener.receive())["message"] == "now carried"
            assert value(await scrape(a.server), CARRIED, direction="out") == 1
            assert value(await scrape(b.server), CARRIED, direction="in") == 1
        finally:
            await b.stop()


async def test_with_carrying_off_every_instance_reads_the_others_messages_from_the_table(
    tmp_path: Path, database_url: str
) -> None:
    async with open_cluster(tmp_path, database_url, 2, bus_carry=False) as instances:
        await _five_messages_from_b_heard_on_a(instances)
        samples = await scrape(instances[0].server)
    assert value(samples, "chat_bus_carried_items_total", direction="in") == 0
    assert value(samples, "chat_bus_table_reads_total", reason="carry-off") >= 1
