"""Retention: messages older than their room keeps them are deleted by
a background task, in small batches, on one instance at a time; their files follow. On
both backends. Old messages are made old by moving their created_at back in the database
(the server's clock is the real one); the task's own tests move its clock instead."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio
from cluster import open_cluster
from files_support import post_files, upload
from support import (
    STEP,
    Account,
    Clients,
    Server,
    account,
    add_message,
    create_room,
    entered,
    execute_sql,
    http_client,
    room_history,
    select_rows,
    start_server,
)
from test_metrics import scrape, until, value
from test_support import operator

from chat.app.messages.retention import (
    MAX_BATCH,
    MIN_BATCH,
    RetentionTask,
    effective_days,
    next_batch_size,
)
from chat.core.config import Config, ConfigError, load
from chat.store import open_store

#: The test servers' pass of retention comes this often.
PERIOD = 0.1


@pytest.fixture
def retention_config(config: Config) -> Config:
    return config.replace(retention_days=30, retention_period=PERIOD)


@pytest.fixture
async def server(nursery: trio.Nursery, retention_config: Config) -> Server:
    return await start_server(nursery, retention_config)


async def call(
    server: Server, who: Account, method: str, path: str, body: Any = None
) -> httpx.Response:
    async with http_client(server) as client:
        return await client.request(method, path, headers=who.auth, json=body)


async def post(server: Server, who: Account, room_id: int, text: str) -> int:
    response = await call(server, who, "POST", f"/messages/{room_id}", {"Text": text})
    assert response.status_code == 201, response.text
    message_id: int = response.json()["MessageID"]
    return message_id


async def age(config: Config, message_ids: list[int], days: int) -> None:
    """Move messages' creation `days` back, as if they had been sent then."""
    ids = ",".join(str(i) for i in message_ids)
    if config.is_postgres:
        change = f"created_at - interval '{days} days'"
    else:
        change = f"created_at - {days * 86_400_000}"
    await execute_sql(config, f"UPDATE messages SET created_at = {change} WHERE id IN ({ids})")


async def stored_ids(config: Config) -> set[int]:
    return {row[0] for row in await select_rows(config, "SELECT id FROM messages")}


async def until_gone(config: Config, message_ids: list[int]) -> None:
    with trio.fail_after(10):
        while set(message_ids) & await stored_ids(config):  # noqa: ASYNC110 (polls the database)
            await trio.sleep(PERIOD / 2)


def texts(history: list[dict[str, Any]]) -> list[str]:
    return [m["Text"] for m in history]


# --- what is deleted ---


async def test_server_wide_retention_deletes_old_messages_and_keeps_new(server: Server) -> None:
    alice = await account(server, "alice")
    room_id = await create_room(server, alice, "room")
    old = [await post(server, alice, room_id, f"old {n}") for n in range(3)]
    new = await post(server, alice, room_id, "new")
    await age(server.config, old, days=31)
    await until_gone(server.config, old)
    assert texts(await room_history(server, alice, room_id)) == ["new"]
    assert new in await stored_ids(server.config)


async def test_a_rooms_history_kept_in_memory_loses_the_expired_messages_too(
    server: Server,
) -> None:
    alice = await account(server, "alice")
    room_id = await create_room(server, alice, "room")
    old = [await post(server, alice, room_id, f"old {n}") for n in range(2)]
    await post(server, alice, room_id, "new")
    # Read once: the room's newest messages are in memory now (chat.app.history.from_memory).
    assert texts(await room_history(server, alice, room_id)) == ["new", "old 1", "old 0"]
    await age(server.config, old, days=31)
    await until_gone(server.config, old)
    # Dropped once retention has deleted them (the window is told a moment after).
    with trio.fail_after(STEP):
        while texts(await room_history(server, alice, room_id)) != ["new"]:  # noqa: ASYNC110
            await trio.sleep(PERIOD / 2)
    assert value(await scrape(server), "chat_history_cache_dropped_total", why="expired") >= 1


async def test_messages_younger_than_the_retention_stay(server: Server) -> None:
    alice = await account(server, "alice")
    room_id = await create_room(server, alice, "room")
    kept = await post(server, alice, room_id, "29 days old")
    await age(server.config, [kept], days=29)
    await trio.sleep(PERIOD * 5)  # several passes
    assert texts(await room_history(server, alice, room_id)) == ["29 days old"]


async def test_a_rooms_retention_shortens_the_servers(server: Server) -> None:
    alice = await account(server, "alice")
    short = await create_room(server, alice, "short")
    other = await create_room(server, alice, "other")
    response = await call(server, alice, "PUT", f"/room/{short}/settings", {"RetentionDays": 7})
    assert response.status_code == 200, response.text
    in_short = await post(server, alice, short, "ten days old")
    in_other = await post(server, alice, other, "ten days old too")
    await age(server.config, [in_short, in_other], days=10)
    await until_gone(server.config, [in_short])
    assert await room_history(server, alice, short) == []
    assert texts(await room_history(server, alice, other)) == ["ten days old too"]


async def test_a_rooms_longer_retention_does_not_lengthen_the_servers(server: Server) -> None:
    alice = await account(server, "alice")
    room_id = await create_room(server, alice, "room")
    response = await call(server, alice, "PUT", f"/room/{room_id}/settings", {"RetentionDays": 365})
    assert response.status_code == 200, response.text
    old = await post(server, alice, room_id, "40 days old")
    await age(server.config, [old], days=40)
    await until_gone(server.config, [old])


async def test_without_a_server_retention_only_rooms_with_their_own_lose_messages(
    nursery: trio.Nursery, config: Config
) -> None:
    server = await start_server(nursery, config.replace(retention_period=PERIOD))
    alice = await account(server, "alice")
    kept_room = await create_room(server, alice, "forever")
    short = await create_room(server, alice, "short")
    await call(server, alice, "PUT", f"/room/{short}/settings", {"RetentionDays": 1})
    forever = await post(server, alice, kept_room, "kept forever")
    gone = await post(server, alice, short, "gone after a day")
    await age(server.config, [forever, gone], days=1000)
    await until_gone(server.config, [gone])
    assert forever in await stored_ids(server.config)


async def test_files_of_expired_messages_are_removed_records_and_bytes(server: Server) -> None:
    alice = await account(server, "alice")
    room_id = await create_room(server, alice, "room")
    file = await upload(server, alice, b"old notes", "notes.txt")
    sent = await post_files(server, alice, room_id, [file["FileID"]], "the notes")
    assert sent.status_code == 201, sent.text
    files_dir = server.config.data_dir / "files"
    assert any(files_dir.rglob(f"*{file['FileID']}*"))
    await age(server.config, [sent.json()["MessageID"]], days=31)
    with trio.fail_after(10):
        while await select_rows(server.config, "SELECT id FROM files") or any(  # noqa: ASYNC110
            files_dir.rglob(f"*{file['FileID']}*")
        ):
            await trio.sleep(PERIOD / 2)
    response = await call(server, alice, "GET", f"/files/{file['FileID']}")
    assert response.status_code == 404


async def test_retention_passes_and_the_messages_they_deleted_are_in_the_metrics(
    server: Server,
) -> None:
    alice = await account(server, "alice")
    room_id = await create_room(server, alice, "room")
    old = [await post(server, alice, room_id, f"old {n}") for n in range(3)]
    started = datetime.now(UTC).timestamp()
    await age(server.config, old, days=31)
    await until_gone(server.config, old)
    # The pass counts what it deleted when it ends, a moment after the rows went.
    await until(server, "chat_retention_messages_deleted_total", 3)
    samples = await scrape(server)
    assert value(samples, "chat_retention_runs_total") >= 1
    assert value(samples, "chat_retention_last_run_timestamp_seconds") >= started


async def test_the_files_collected_after_retention_are_in_the_metrics(server: Server) -> None:
    alice = await account(server, "alice")
    room_id = await create_room(server, alice, "room")
    notes = b"old notes, eighteen"
    file = await upload(server, alice, notes, "notes.txt")
    sent = await post_files(server, alice, room_id, [file["FileID"]], "the notes")
    assert sent.status_code == 201, sent.text
    await age(server.config, [sent.json()["MessageID"]], days=31)
    with trio.fail_after(10):
        # Polls the server: the collector's sweep follows the pass that detached the file.
        while value(await scrape(server), "chat_files_collector_removed_total") < 1:  # noqa: ASYNC110
            await trio.sleep(PERIOD / 2)
    samples = await scrape(server)
    assert value(samples, "chat_files_collector_removed_total") == 1
    assert value(samples, "chat_files_collector_removed_bytes_total") == len(notes)
    assert value(samples, "chat_files_collector_runs_total") >= 1
    assert value(samples, "chat_files_collector_last_run_timestamp_seconds") > 0


async def test_search_no_longer_finds_expired_messages(server: Server) -> None:
    alice = await account(server, "alice")
    room_id = await create_room(server, alice, "room")
    old = await post(server, alice, room_id, "pineapple from long ago")
    await post(server, alice, room_id, "pineapple today")
    await trio.sleep(1)  # the SQLite index takes them in (twice a second)
    await age(server.config, [old], days=31)
    await until_gone(server.config, [old])
    response = await call(server, alice, "GET", "/search?q=pineapple")
    assert response.status_code == 200, response.text
    assert texts(response.json()) == ["pineapple today"]


async def test_reactions_edits_and_replies_of_expired_messages_are_handled(
    server: Server,
) -> None:
    alice = await account(server, "alice")
    room_id = await create_room(server, alice, "room")
    old = await post(server, alice, room_id, "old")
    path = f"/messages/{room_id}/{old}"
    assert (await call(server, alice, "PATCH", path, {"Text": "old, edited"})).status_code == 200
    reacted = await call(server, alice, "PUT", f"{path}/reactions/%F0%9F%91%8D")
    assert reacted.status_code in (200, 201), reacted.text
    reply = await call(
        server, alice, "POST", f"/messages/{room_id}", {"Text": "re", "ReplyTo": old}
    )
    assert reply.status_code == 201, reply.text
    await age(server.config, [old], days=31)
    await until_gone(server.config, [old])
    # The reply stays, still naming the message it answered; the changes went with it.
    (kept,) = await room_history(server, alice, room_id)
    assert (kept["Text"], kept["ReplyTo"]) == ("re", old)
    for table in ("message_changes", "message_reactions"):
        rows = await select_rows(server.config, f"SELECT 1 FROM {table} WHERE message_id = {old}")
        assert rows == [], table


# --- what clients see ---


async def test_a_resume_across_expired_messages_returns_only_the_kept_ones(
    server: Server, clients: Clients
) -> None:
    alice = await account(server, "alice")
    room_id = await create_room(server, alice, "room")
    old = [await post(server, alice, room_id, f"old {n}") for n in range(2)]
    new = await post(server, alice, room_id, "new")
    await age(server.config, old, days=31)
    await until_gone(server.config, old)
    for since in (0, old[0]):
        ws = await clients.json("/ws", token=alice.token)
        answer = await ws.request(
            {"Type": "enter", "RoomID": room_id, "SinceID": since, "Presence": False}
        )
        assert answer["Type"] == "entered", answer
        frame = await ws.receive()
        assert (frame["MessageID"], frame["Text"]) == (new, "new"), frame


async def test_a_client_in_the_room_hears_which_messages_expired(
    server: Server, clients: Clients
) -> None:
    alice = await account(server, "alice")
    room_id = await create_room(server, alice, "room")
    old = [await post(server, alice, room_id, f"old {n}") for n in range(3)]
    ws = await entered(clients, alice, room_id)
    await age(server.config, old, days=31)
    with trio.fail_after(10):
        while (frame := await ws.receive()).get("Type") != "expired":
            pass
    assert frame == {"Type": "expired", "RoomID": room_id, "UpToID": old[-1]}


# --- the room's setting ---


async def test_an_owner_sets_the_rooms_retention_and_the_room_shows_it(server: Server) -> None:
    alice = await account(server, "alice")
    room_id = await create_room(server, alice, "room")
    response = await call(server, alice, "PUT", f"/room/{room_id}/settings", {"RetentionDays": 7})
    assert response.status_code == 200, response.text
    assert response.json()["RetentionDays"] == 7
    details = await call(server, alice, "GET", "/rooms/details")
    assert details.status_code == 200, details.text
    (room,) = [r for r in details.json() if r["RoomID"] == room_id]
    assert room["RetentionDays"] == 7
    cleared = await call(server, alice, "PUT", f"/room/{room_id}/settings", {"RetentionDays": None})
    assert cleared.json()["RetentionDays"] is None


async def test_a_member_or_moderator_may_not_set_the_retention(server: Server) -> None:
    alice, mo, mel = [await account(server, n) for n in ("alice", "mo", "mel")]
    room_id = await create_room(server, alice, "room", mo, mel)
    made = await call(
        server, alice, "PUT", f"/room/{room_id}/members/{mo.uid}", {"Role": "moderator"}
    )
    assert made.status_code == 200, made.text
    for who in (mo, mel):
        response = await call(server, who, "PUT", f"/room/{room_id}/settings", {"RetentionDays": 1})
        assert response.status_code == 403, response.text


async def test_an_operator_sets_the_lobbys_retention_and_a_member_cannot(server: Server) -> None:
    op = await operator(server)
    alice = await account(server, "alice")
    lobby = (await call(server, alice, "GET", "/rooms/details")).json()[0]["RoomID"]
    refused = await call(server, alice, "PUT", f"/room/{lobby}/settings", {"RetentionDays": 1})
    assert refused.status_code == 403, refused.text
    response = await call(server, op, "PUT", f"/room/{lobby}/settings", {"RetentionDays": 3})
    assert response.status_code == 200, response.text
    assert response.json()["RetentionDays"] == 3


async def test_a_retention_change_is_audited(server: Server) -> None:
    alice = await account(server, "alice")
    room_id = await create_room(server, alice, "room")
    await call(server, alice, "PUT", f"/room/{room_id}/settings", {"RetentionDays": 90})
    audit = await call(server, alice, "GET", f"/room/{room_id}/audit")
    assert audit.status_code == 200, audit.text
    entry = audit.json()[0]
    assert (entry["Action"], entry["Details"]) == ("settings", {"RetentionDays": 90})


@pytest.mark.parametrize("value", [0, -1, 36501, "7", True, 1.5, 10**9])
async def test_an_invalid_retention_is_refused(server: Server, value: Any) -> None:
    alice = await account(server, "alice")
    room_id = await create_room(server, alice, "room")
    response = await call(
        server, alice, "PUT", f"/room/{room_id}/settings", {"RetentionDays": value}
    )
    assert response.status_code == 400, response.text
    assert "RetentionDays" in response.json()["error"]


# --- the server's setting ---


def test_the_server_keeps_messages_forever_unless_told() -> None:
    assert load(environ={}).retention_days is None
    assert load(environ={"CHAT_RETENTION_DAYS": ""}).retention_days is None
    assert load(environ={"CHAT_RETENTION_DAYS": "90"}).retention_days == 90


@pytest.mark.parametrize("text", ["0", "-3", "36501", "1.5", "a month"])
def test_an_invalid_server_retention_is_refused_naming_the_setting(text: str) -> None:
    with pytest.raises(ConfigError, match="CHAT_RETENTION_DAYS"):
        load(environ={"CHAT_RETENTION_DAYS": text})


# --- the task: batches, the lease ---


def test_a_rooms_retention_only_ever_shortens_the_servers() -> None:
    assert effective_days(None, None) is None
    assert effective_days(30, None) == 30
    assert effective_days(None, 7) == 7
    assert effective_days(30, 7) == 7
    assert effective_days(30, 365) == 30


def test_the_batch_size_follows_the_measured_time_within_bounds() -> None:
    assert next_batch_size(100, 0.05) == 50  # twice the target: half
    assert next_batch_size(100, 0.001) == 200  # far under it: at most double
    assert next_batch_size(MIN_BATCH, 10.0) == MIN_BATCH
    assert next_batch_size(MAX_BATCH, 0.0) == MAX_BATCH


class SlowTimer:
    """A timer under which every batch takes `step` seconds."""

    def __init__(self, step: float) -> None:
        self.now = 0.0
        self.step = step

    def __call__(self) -> float:
        self.now += self.step  # called as a batch starts and as it ends
        return self.now


class Clock:
    """A clock the test moves."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


async def aged_messages(config: Config, count: int, days: int) -> tuple[int, list[int]]:
    """`count` messages of alice's in her room "room" (both made if new), `days` old;
    (room id, their ids)."""
    async with open_store(config) as store:
        user = await store.user_by_name("alice") or await store.create_user("alice", "hash")
        rows = await select_rows(config, "SELECT id FROM rooms WHERE name = 'room'")
        if rows:
            room_id: int = rows[0][0]
        else:
            room_id = (await store.create_room("room", is_private=False, creator_id=user.id)).id
        ids = [(await add_message(store, room_id, user.id, f"m{n}")).id for n in range(count)]
    await age(config, ids, days)
    return room_id, ids


async def test_batches_shrink_when_slow_and_never_exceed_the_bound(config: Config) -> None:
    _, ids = await aged_messages(config, 200, days=40)
    async with open_store(config) as store:
        task = RetentionTask(
            store, days=30, period=60, holder="me", timer=SlowTimer(step=0.2), clock=Clock()
        )
        assert await task.sweep() == 200
    # Each batch took 0.2 s, eight times the target: the next one is half as big, down to
    # the smallest.
    assert [record.limit for record in task.batches] == [100, 50, 25, 12, MIN_BATCH, MIN_BATCH]
    assert [record.deleted for record in task.batches] == [100, 50, 25, 12, 10, 3]
    assert all(record.seconds == pytest.approx(0.2) for record in task.batches)
    assert all(record.deleted <= record.limit <= MAX_BATCH for record in task.batches)
    assert not set(ids) & await stored_ids(config)


async def test_one_instance_deletes_at_a_time_and_another_takes_over_when_it_stops(
    config: Config,
) -> None:
    room_id, _ = await aged_messages(config, 5, days=40)
    clock = Clock()
    # One store for both tasks (a test's run holds one trio-asyncio loop at a time): the
    # lease is the database's, and each task is its holder's name.
    async with open_store(config) as one, contextlib.nullcontext(one) as two:
        first = RetentionTask(one, days=30, period=3600, holder="first", clock=clock)
        second = RetentionTask(two, days=30, period=3600, holder="second", clock=clock)
        async with trio.open_nursery() as nursery:
            await nursery.start(first.run)
            assert await first.sweep() == 5
            # More expire; the first holds the lease, so the second leaves them.
            sender = await one.user_by_name("alice")
            assert sender is not None
            late = [(await add_message(one, room_id, sender.id, f"late {n}")).id for n in range(2)]
            await age(config, late, days=40)
            assert await second.sweep() == 0
            assert not second.holding
            nursery.cancel_scope.cancel()  # the first stops, and gives the lease back
        assert not first.holding
        assert await second.sweep() == 2
        assert second.holding


async def test_a_dead_holders_lease_is_taken_over_once_it_expires(config: Config) -> None:
    await aged_messages(config, 3, days=40)
    clock = Clock()
    # One store for both tasks (a test's run holds one trio-asyncio loop at a time): the
    # lease is the database's, and each task is its holder's name.
    async with open_store(config) as one, contextlib.nullcontext(one) as two:
        dead = RetentionTask(one, days=30, period=60, holder="dead", clock=clock)
        other = RetentionTask(two, days=30, period=60, holder="other", clock=clock)
        # The dead one claims and never gives the lease back (its pass deletes all).
        assert await dead.sweep() == 3
        assert await other.sweep() == 0
        clock.now += dead.lease_term + timedelta(seconds=1)
        assert await other.sweep() == 0  # nothing left to delete, but the lease is its
        assert other.holding


async def test_in_a_cluster_one_instance_deletes_and_another_takes_over_when_it_stops(
    tmp_path: Path, postgres_config: Config
) -> None:
    config = postgres_config
    assert config.database_url is not None
    settings = {"retention_days": 30, "retention_period": PERIOD}
    async with open_cluster(tmp_path, config.database_url, 2, **settings) as instances:
        alice = await account(instances[0].server, "alice")
        room_id = await create_room(instances[0].server, alice, "room")
        first = [await post(instances[0].server, alice, room_id, f"m{n}") for n in range(3)]
        await age(config, first, days=31)
        await until_gone(config, first)
        holder = await lease_holder(config)
        (holding,) = [i for i in instances if f"instance {holder}" in i.log]
        (other,) = [i for i in instances if i is not holding]
        # Only the holder deleted.
        assert "expired messages deleted" in holding.log
        assert "expired messages deleted" not in other.log
        await holding.stop()
        later = [await post(other.server, alice, room_id, "later")]
        await age(config, later, days=31)
        await until_gone(config, later)
        taker = await lease_holder(config)
        assert taker != holder
        assert f"instance {taker}" in other.log


async def lease_holder(config: Config) -> str:
    rows = await select_rows(config, "SELECT holder FROM task_leases WHERE name = 'retention'")
    (holder,) = rows[0]
    return str(holder)
