"""Single-flight reads (`chat.app.reads.single_flight`): identical reads in flight
at once are made once and shared; a waiter that leaves does not fail the others; an
error reaches every waiter; different keys do not share; nothing is kept afterwards.

The first half drives `SingleFlight` itself with reads of the test's own (a read here is
any async function: what the layer promises does not depend on what it reads). The
second half drives a real server: concurrent resumes on `/ws` and first pages of
``GET /messages``, counting the store's history queries (``chat_history_seconds``)."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import trio
import trio.testing
from support import (
    STEP,
    Account,
    Clients,
    JsonClient,
    Server,
    account,
    create_room,
    entered,
    http_client,
    open_clients,
    pg_session,
    start_server,
)

from chat.app.reads.single_flight import SingleFlight
from chat.core.config import Config


@asynccontextmanager
async def running() -> AsyncIterator[SingleFlight]:
    """A `SingleFlight` whose `run` holds its reads, as `serve` runs it."""
    shared = SingleFlight(max_keys=2)
    # The test's nursery: `run` until the block ends.
    async with trio.open_nursery() as nursery:
        await nursery.start(shared.run)
        yield shared
        nursery.cancel_scope.cancel()


class Gate:
    """A read that counts its calls and returns (or raises) once opened."""

    def __init__(self, answer: Any = "rows") -> None:
        self.calls = 0
        self.opened = trio.Event()
        self.answer = answer

    async def __call__(self) -> Any:
        self.calls += 1
        await self.opened.wait()
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


async def _gather(
    nursery: trio.Nursery, shared: SingleFlight, key: Any, read: Callable[[], Any], count: int
) -> list[Any]:
    """Start `count` callers of `read` under `key`; their answers land in the list."""
    answers: list[Any] = []

    async def one() -> None:
        try:
            answers.append(await shared.read("test", key, read))
        except Exception as error:
            answers.append(error)

    for _ in range(count):
        nursery.start_soon(one)
    await trio.testing.wait_all_tasks_blocked()
    return answers


async def test_identical_concurrent_reads_are_made_once() -> None:
    gate = Gate()
    async with running() as shared, trio.open_nursery() as callers:
        answers = await _gather(callers, shared, (1, 2), gate, 10)
        gate.opened.set()
    assert answers == ["rows"] * 10
    assert gate.calls == 1
    assert shared.stats.reads == {"test": 1} and shared.stats.shared == {"test": 9}


async def test_nothing_is_kept_once_the_read_ends() -> None:
    gate = Gate()
    gate.opened.set()
    async with running() as shared:
        assert await shared.read("test", 1, gate) == "rows"
        assert await shared.read("test", 1, gate) == "rows"
        assert shared.in_flight == 0
    assert gate.calls == 2


async def test_different_keys_do_not_share() -> None:
    first, second = Gate("first"), Gate("second")
    async with running() as shared, trio.open_nursery() as callers:
        one = await _gather(callers, shared, 1, first, 3)
        other = await _gather(callers, shared, 2, second, 3)
        first.opened.set()
        second.opened.set()
    assert (one, other) == (["first"] * 3, ["second"] * 3)
    assert (first.calls, second.calls) == (1, 1)


async def test_the_same_key_of_another_kind_does_not_share() -> None:
    gate = Gate()
    async with running() as shared, trio.open_nursery() as callers:
        callers.start_soon(shared.read, "resume", 1, gate)
        callers.start_soon(shared.read, "history", 1, gate)
        await trio.testing.wait_all_tasks_blocked()
        gate.opened.set()
    assert gate.calls == 2


async def test_an_error_reaches_every_waiter() -> None:
    error = RuntimeError("the database is away")
    gate = Gate(error)
    async with running() as shared, trio.open_nursery() as callers:
        answers = await _gather(callers, shared, 1, gate, 5)
        gate.opened.set()
    assert answers == [error] * 5
    assert gate.calls == 1 and shared.in_flight == 0


async def test_a_cancelled_first_waiter_does_not_fail_the_others() -> None:
    gate = Gate()
    async with running() as shared, trio.open_nursery() as callers:
        first = trio.CancelScope()

        async def first_caller() -> None:
            with first:
                await shared.read("test", 1, gate)

        callers.start_soon(first_caller)
        await trio.testing.wait_all_tasks_blocked()
        answers = await _gather(callers, shared, 1, gate, 2)
        first.cancel()  # the one that started the read leaves (its client went away)
        await trio.testing.wait_all_tasks_blocked()
        gate.opened.set()
    assert answers == ["rows", "rows"]
    assert gate.calls == 1


async def test_a_read_everyone_left_is_cancelled_and_forgotten() -> None:
    gate = Gate()
    cancelled = trio.Event()

    async def read() -> str:
        try:
            return str(await gate())
        except trio.Cancelled:
            cancelled.set()
            raise

    async with running() as shared:
        with trio.move_on_after(0.05):
            await shared.read("test", 1, read)
        with trio.fail_after(STEP):
            await cancelled.wait()  # nobody waits: the read no longer holds a connection
        assert shared.in_flight == 0
        gate.opened.set()
        assert await shared.read("test", 1, read) == "rows"  # a read of its own
    assert gate.calls == 2


async def test_past_max_keys_a_caller_reads_alone() -> None:
    gates = [Gate(n) for n in range(3)]
    async with running() as shared, trio.open_nursery() as callers:  # max_keys=2
        answers = [await _gather(callers, shared, n, gates[n], 2) for n in range(3)]
        assert shared.in_flight == 2
        for gate in gates:
            gate.opened.set()
    assert answers == [[0, 0], [1, 1], [2, 2]]
    assert [gate.calls for gate in gates] == [1, 1, 2]
    assert shared.stats.unshared == {"test": 2}


async def test_without_run_every_caller_reads_alone() -> None:
    gate = Gate()
    shared = SingleFlight()
    async with trio.open_nursery() as callers:
        answers = await _gather(callers, shared, 1, gate, 3)
        gate.opened.set()
    assert answers == ["rows"] * 3 and gate.calls == 3


# --- on a real server ---


async def _samples(server: Server) -> str:
    async with http_client(server) as client:
        response = await client.get("/metrics")
    assert response.status_code == 200
    return response.text


def _value(text: str, sample: str) -> float:
    match = re.search(rf"^{re.escape(sample)} (\S+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


HISTORY_QUERIES = "chat_history_seconds_count"
CONNECTIONS = 'chat_websocket_connections{protocol="rooms"}'


def _shared(kind: str) -> str:
    return f'chat_shared_reads_total{{kind="{kind}",outcome="shared"}}'


async def _wait_for(server: Server, sample: str, value: float, *, below: bool = False) -> None:
    """Until the server's `sample` reaches `value` (`below`: falls to it), polled: the
    server tells of it nowhere else."""
    with trio.fail_after(STEP):
        while True:
            now = _value(await _samples(server), sample)
            if (now <= value) if below else (now >= value):
                return
            await trio.sleep(0.02)


@asynccontextmanager
async def messages_locked(config: Config) -> AsyncIterator[None]:
    """PostgreSQL: every read of the messages table waits until the block ends (an
    ACCESS EXCLUSIVE lock, held by a transaction of the test's), so that reads started
    meanwhile are all in flight at once."""
    assert config.database_url is not None
    async with pg_session(config.database_url) as execute:
        await execute("BEGIN")
        await execute("LOCK TABLE messages IN ACCESS EXCLUSIVE MODE")
        try:
            yield
        finally:
            await execute("COMMIT")


@asynccontextmanager
async def pg_server(config: Config) -> AsyncIterator[tuple[Server, Clients]]:
    """A real server on PostgreSQL, and its clients; every resume is read from the table
    (history from memory off: with it, the first resume opens the room's window and the
    others come from memory, and table reads are what these tests share)."""
    # The test's: the server and its clients, until the block ends.
    async with trio.open_nursery() as nursery:
        server = await start_server(nursery, config.replace(history_cache_mb=0))
        async with open_clients(server) as clients:
            yield server, clients
        nursery.cancel_scope.cancel()


async def _room_with_messages(
    server: Server, clients: Clients, count: int
) -> tuple[Account, int, list[int]]:
    alice = await account(server, "alice")
    room_id = await create_room(server, alice, "room")
    ws = await entered(clients, alice, room_id)
    ids = []
    for n in range(count):
        ids.append((await ws.request({"Type": "message", "Text": f"m{n}"}))["MessageID"])
    return alice, room_id, ids


async def _resuming(clients: Clients, alice: Account, room_id: int, since: int) -> JsonClient:
    ws = await clients.json("/ws", token=alice.token)
    frame = {"Type": "enter", "RoomID": room_id, "SinceID": since, "Presence": False}
    assert (await ws.request(frame))["Type"] == "entered"
    return ws


async def _resumed(ws: JsonClient) -> list[int]:
    """The MessageIDs a resume sent, up to the answer to a ping sent after it."""
    await ws.ws.send_message("ping")
    ids = []
    with trio.fail_after(STEP):
        while (frame := await ws.ws.get_message()) != "pong":
            ids.append(json.loads(frame)["MessageID"])
    return ids


async def test_concurrent_identical_resumes_cost_one_query(postgres_config: Config) -> None:
    async with pg_server(postgres_config) as (server, clients):
        alice, room_id, ids = await _room_with_messages(server, clients, 3)
        before = _value(await _samples(server), HISTORY_QUERIES)
        async with messages_locked(postgres_config), trio.open_nursery() as nursery:
            resumers: list[JsonClient] = []

            async def resume() -> None:
                resumers.append(await _resuming(clients, alice, room_id, ids[0]))

            for _ in range(20):
                nursery.start_soon(resume)
            await _wait_for(server, _shared("resume"), 19)
        assert [await _resumed(ws) for ws in resumers] == [ids[1:]] * 20
        assert _value(await _samples(server), HISTORY_QUERIES) - before == 1


async def test_a_resumer_that_leaves_does_not_fail_the_one_sharing_its_read(
    postgres_config: Config,
) -> None:
    async with pg_server(postgres_config) as (server, clients):
        alice, room_id, ids = await _room_with_messages(server, clients, 3)
        async with messages_locked(postgres_config):
            first = await _resuming(clients, alice, room_id, ids[0])
            await _wait_for(server, 'chat_shared_reads_total{kind="resume",outcome="read"}', 1)
            second = await _resuming(clients, alice, room_id, ids[0])
            await _wait_for(server, _shared("resume"), 1)
            # The one whose resume started the read goes away: its handler is cancelled.
            await first.ws.aclose()
            await _wait_for(server, CONNECTIONS, 2, below=True)  # alice's, and second
        assert await _resumed(second) == ids[1:]


async def test_concurrent_resumes_each_get_what_they_missed(
    server: Server, clients: Clients
) -> None:
    alice, room_id, ids = await _room_with_messages(server, clients, 4)
    starts = [ids[n % 4] for n in range(24)]  # six resumers at each of four points
    answers: dict[int, list[int]] = {}

    async def resume(n: int) -> None:
        answers[n] = await _resumed(await _resuming(clients, alice, room_id, starts[n]))

    async with trio.open_nursery() as nursery:
        for n in range(24):
            nursery.start_soon(resume, n)
    for n, since in enumerate(starts):
        assert answers[n] == [i for i in ids if i > since]
