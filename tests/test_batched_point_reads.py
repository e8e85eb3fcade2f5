"""Point reads asked at once are answered by one query
(`chat.app.reads.batched_point_reads`), and each answer is as fresh as a read of its own."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import trio
from prometheus_client.parser import text_string_to_metric_families
from support import STEP, Server, http_client, raw_upgrade, register, start_server, status_of
from trio.testing import wait_all_tasks_blocked

from chat.app.reads.batched_point_reads import BatchedPointReads, PointReads
from chat.core.config import Config
from chat.core.errors import Unavailable
from chat.core.records import Room, User
from chat.store import Store, open_store


async def make_users(store: Store, count: int) -> list[User]:
    return [await store.create_user(f"user{i}", "hash") for i in range(count)]


async def ask_at_once(
    reads: BatchedPointReads[int, User], keys: Sequence[int]
) -> list[User | None]:
    """`reads.get` for every key, each from its own task started in the same step."""
    answers: list[User | None] = [None] * len(keys)

    async def ask(i: int) -> None:
        answers[i] = await reads.get(keys[i])

    async with trio.open_nursery() as nursery:
        for i in range(len(keys)):
            nursery.start_soon(ask, i)
    return answers


async def test_reads_asked_at_once_are_one_query_with_each_callers_answer(
    config: Config, nursery: trio.Nursery
) -> None:
    async with open_store(config) as store:
        users = await make_users(store, 20)
        reads = BatchedPointReads("users", store.users_by_ids)
        await nursery.start(reads.run)
        unknown = users[-1].id + 1000
        keys = [user.id for user in users] + [unknown, users[0].id]
        assert await ask_at_once(reads, keys) == [*users, None, users[0]]
        assert (reads.queries, reads.keys) == (1, 21)  # the repeated key once


async def test_a_read_asked_while_a_batch_is_read_waits_for_the_next_and_sees_what_changed(
    config: Config, nursery: trio.Nursery
) -> None:
    async with open_store(config) as store:
        (ada,) = await make_users(store, 1)
        first_read = trio.Event()
        let_go = trio.Event()

        async def read_then_hold(user_ids: Sequence[int]) -> Mapping[int, User]:
            found = await store.users_by_ids(user_ids)
            if not first_read.is_set():
                first_read.set()
                await let_go.wait()
            return found

        reads = BatchedPointReads("users", read_then_hold)
        await nursery.start(reads.run)
        answers: dict[str, User | None] = {}

        async def ask(label: str) -> None:
            answers[label] = await reads.get(ada.id)

        async with trio.open_nursery() as askers:
            askers.start_soon(ask, "before")
            await first_read.wait()  # the first batch has read the row
            renamed = await store.rename_user(ada.id, "ada2")
            askers.start_soon(ask, "after")
            await wait_all_tasks_blocked()
            let_go.set()
        assert answers == {"before": ada, "after": renamed}
        assert reads.queries == 2


async def test_an_error_reaches_every_caller_of_its_batch_and_the_next_batch_is_read(
    config: Config, nursery: trio.Nursery
) -> None:
    async with open_store(config) as store:
        users = await make_users(store, 3)
        failures = [Unavailable(detail="the database went away")]

        async def fail_once(user_ids: Sequence[int]) -> Mapping[int, User]:
            if failures:
                raise failures.pop()
            return await store.users_by_ids(user_ids)

        reads = BatchedPointReads("users", fail_once)
        await nursery.start(reads.run)
        errors: list[BaseException] = []

        async def ask(user_id: int) -> None:
            try:
                await reads.get(user_id)
            except Unavailable as error:
                errors.append(error)

        async with trio.open_nursery() as askers:
            for user in users:
                askers.start_soon(ask, user.id)
        assert len(errors) == 3 and len({id(error) for error in errors}) == 1
        assert await ask_at_once(reads, [user.id for user in users]) == users


async def test_a_caller_that_finds_the_open_batch_full_reads_alone(
    config: Config, nursery: trio.Nursery
) -> None:
    async with open_store(config) as store:
        users = await make_users(store, 5)
        reads = BatchedPointReads("users", store.users_by_ids, max_batch=2)
        await nursery.start(reads.run)
        assert await ask_at_once(reads, [user.id for user in users]) == users
        assert (reads.queries, reads.keys) == (4, 5)  # one batch of two, three alone


async def test_reads_are_made_alone_when_nothing_batches_them(config: Config) -> None:
    async with open_store(config) as store:
        users = await make_users(store, 3)
        reads = BatchedPointReads("users", store.users_by_ids)  # `run` never started
        assert await ask_at_once(reads, [user.id for user in users]) == users
        assert reads.queries == 3


async def test_callers_waiting_when_the_batches_stop_read_alone(config: Config) -> None:
    async with open_store(config) as store:
        users = await make_users(store, 2)
        held = trio.Event()

        async def never_answers(user_ids: Sequence[int]) -> Mapping[int, User]:
            if not held.is_set():
                held.set()
                await trio.sleep_forever()
            return await store.users_by_ids(user_ids)

        reads = BatchedPointReads("users", never_answers)
        answers: list[User | None] = []
        async with trio.open_nursery() as nursery:
            runner = trio.CancelScope()

            async def run_until_cancelled() -> None:
                with runner:
                    await reads.run()

            nursery.start_soon(run_until_cancelled)
            await wait_all_tasks_blocked()

            async def ask(user_id: int) -> None:
                answers.append(await reads.get(user_id))

            nursery.start_soon(ask, users[0].id)  # its batch is held forever
            await held.wait()
            nursery.start_soon(ask, users[1].id)  # waits in the open batch
            await wait_all_tasks_blocked()
            runner.cancel()  # the server shuts down
        assert sorted(user.id for user in answers if user is not None) == [u.id for u in users]


async def test_point_reads_batch_users_and_memberships(
    config: Config, nursery: trio.Nursery
) -> None:
    async with open_store(config) as store:
        users = await make_users(store, 3)
        room = await store.create_room("general", is_private=True, creator_id=users[0].id)
        reads = PointReads(store)
        await nursery.start(reads.run)
        assert await ask_at_once(reads.users, [user.id for user in users]) == users
        answers: dict[int, tuple[Room, bool] | None] = {}

        async def ask(user_id: int) -> None:
            answers[user_id] = await reads.memberships.get((room.id, user_id))

        async with trio.open_nursery() as askers:
            for user in users:
                askers.start_soon(ask, user.id)
        assert answers == {
            users[0].id: (room, True),
            users[1].id: (room, False),
            users[2].id: (room, False),
        }
        assert (reads.users.queries, reads.memberships.queries) == (1, 1)


async def metric(server: Server, name: str, kind: str) -> float:
    async with http_client(server) as client:
        text = (await client.get("/metrics")).text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and sample.labels.get("kind") == kind:
                return sample.value
    raise AssertionError(f"no {name}{{kind={kind!r}}} in /metrics")


async def test_a_crowd_of_handshakes_reads_its_users_in_fewer_queries_than_handshakes(
    config: Config, nursery: trio.Nursery
) -> None:
    count = 40
    server = await start_server(nursery, config)
    tokens = [await register(server, f"user{i}") for i in range(count)]
    before = await metric(server, "chat_batched_reads_queries_total", "users")
    keys_before = await metric(server, "chat_batched_reads_keys_total", "users")
    statuses: list[bytes] = []

    async def upgrade(token: str) -> None:
        statuses.append(status_of(await raw_upgrade(server, f"/ws?token={token}")))

    with trio.fail_after(STEP):
        async with trio.open_nursery() as crowd:
            for token in tokens:
                crowd.start_soon(upgrade, token)
    assert statuses == [b"101"] * count
    queries = await metric(server, "chat_batched_reads_queries_total", "users") - before
    keys = await metric(server, "chat_batched_reads_keys_total", "users") - keys_before
    # Each /metrics request identifies nobody; every handshake read its user once.
    assert keys == count
    assert queries < count
