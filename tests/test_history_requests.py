"""History requests as tasks of their own (`ClientSession.launch_request`): the
client's later frames are handled while a history query runs, the answers still come
back in request order and never interleave, and a disconnect stops the query (on
PostgreSQL, on the server too).

A slow history on PostgreSQL is a real one: the server connects as a role of the test's
own, and a row-level security policy on `messages` sleeps (`pg_sleep`) when a read
reaches a row whose text is `SLOW`. Writes are not slowed (the new row is not that one),
so what the client sends meanwhile is stored as usual. A superuser ignores policies,
hence the role.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
import trio
from support import (
    STEP,
    Clients,
    Server,
    TalkerClient,
    account,
    open_clients,
    pg_query,
    pg_session,
    postgres_url_or_skip,
    server_config,
    start_server,
    throwaway_postgres_schema,
)

#: The text of the row that makes a read sleep, and for how long (far longer than a test).
SLOW = "SLOW"
SLEEP_S = 60

#: The server's history queries sleeping in `pg_sleep`, by the policy.
SLEEPING_READS = (
    "SELECT count(*) FROM pg_stat_activity WHERE usename = $1"
    " AND state = 'active' AND wait_event = 'PgSleep'"
)


async def _talker(server: Server, clients: Clients, name: str) -> TalkerClient:
    return await clients.talker(token=(await account(server, name)).token, name=name)


async def _say_all(talker: TalkerClient, *texts: str) -> None:
    for text in texts:
        await talker.say(text)
    await talker.stored()


async def _texts(talker: TalkerClient, count: int) -> list[str]:
    return [(await talker.receive())["message"] for _ in range(count)]


# --- both backends ---


async def test_history_answers_come_back_in_request_order_never_interleaved(
    server: Server, clients: Clients
) -> None:
    alice = await _talker(server, clients, "alice")
    await _say_all(alice, "m1", "m2", "m3", "m4")
    for count in (3, 2, 1):  # all three sent before any is answered
        await alice.say(f"history {count}")
    assert await _texts(alice, 6) == ["m2", "m3", "m4", "m3", "m4", "m4"]


async def test_a_history_longer_than_one_write_arrives_whole_and_in_order(
    server: Server, clients: Clients
) -> None:
    # 17 messages of 4,000 characters: more than one write of an answer
    # (`chat.ws.session.request_order.ANSWER_WRITE_BYTES`), each still a frame of its own.
    alice = await _talker(server, clients, "alice")
    texts = [f"{n:02d}" + "x" * 3998 for n in range(17)]
    for text in texts:
        await alice.say(text)
        await trio.sleep(0.12)  # within the message rate limit (10 a second)
    await alice.stored()
    await alice.say("history 17")
    assert await _texts(alice, 17) == texts


async def test_an_answer_to_a_later_frame_comes_after_the_history_before_it(
    server: Server, clients: Clients
) -> None:
    alice = await _talker(server, clients, "alice")
    await _say_all(alice, "m1", "m2")
    await alice.say("history 2")
    await alice.say("history zero")  # refused at once, answered after the history
    assert await _texts(alice, 2) == ["m1", "m2"]
    assert "history needs a number" in (await alice.receive())["error"]


async def test_a_history_from_memory_includes_what_the_client_sent_just_before_it(
    server: Server, clients: Clients
) -> None:
    # Memory answers at once only once the client's pipelined writes are settled.
    alice = await _talker(server, clients, "alice")
    await _say_all(alice, "m1")
    await alice.say("history 1")
    assert await _texts(alice, 1) == ["m1"]  # the room's window is open from here
    for n in range(5):
        await alice.say(f"just sent {n}")  # pipelined: not necessarily stored yet
        await alice.say("history 1")
        assert await _texts(alice, 1) == [f"just sent {n}"]


async def test_a_history_includes_what_the_client_sent_just_before_it(
    server: Server, clients: Clients
) -> None:
    alice = await _talker(server, clients, "alice")
    await alice.say("just sent")  # pipelined: not necessarily stored yet
    await alice.say("history 1")
    assert await _texts(alice, 1) == ["just sent"]


# --- PostgreSQL: slow history queries ---


@dataclass
class SlowReads:
    """A server on PostgreSQL as a role of the test's own, and how to make reads slow."""

    server: Server
    role: str
    superuser_url: str  # the same schema, as the test's superuser
    schema: str

    async def slow_down_reads_of(self, text: str) -> None:
        """From now on, a read that reaches a message with `text` sleeps `SLEEP_S`."""
        table = f"{self.schema}.messages"
        await _execute(
            self.superuser_url,
            f"CREATE FUNCTION {self.schema}.nap() RETURNS boolean LANGUAGE plpgsql AS"
            f" $$ BEGIN PERFORM pg_sleep({SLEEP_S}); RETURN true; END $$;"
            f" ALTER TABLE {table} ENABLE ROW LEVEL SECURITY;"
            f" ALTER TABLE {table} FORCE ROW LEVEL SECURITY;"
            f" CREATE POLICY everything ON {table} USING (true) WITH CHECK (true);"
            f" CREATE POLICY slow ON {table} AS RESTRICTIVE FOR SELECT"
            f" USING (body <> '{text}' OR {self.schema}.nap())",
        )

    async def sleeping_reads(self) -> int:
        async with pg_query(self.superuser_url) as fetchval:
            return await fetchval(SLEEPING_READS, self.role)

    async def wait_for_sleeping_reads(self, count: int) -> None:
        with trio.fail_after(STEP):
            while await self.sleeping_reads() != count:  # noqa: ASYNC110
                await trio.sleep(0.05)


async def _execute(url: str, sql: str) -> None:
    async with pg_session(url) as execute:
        await execute(sql)


def _as_role(url: str, role: str) -> str:
    parts = urlsplit(url)
    host = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit(parts._replace(netloc=f"{role}@{host}"))


@pytest.fixture
async def slow_reads(tmp_path: Path) -> AsyncIterator[SlowReads]:
    base = postgres_url_or_skip()
    role = "chat_test_" + secrets.token_hex(6)
    await _execute(base, f"CREATE ROLE {role} LOGIN")
    # The migrations create pg_trgm when the database lacks it, which this role may not
    # (a trusted extension needs CREATE on the database): it is made here, as a
    # superuser, so that the test does not depend on another one having made it first.
    await _execute(base, "CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA public")
    try:
        async with throwaway_postgres_schema() as url:
            schema = url.rsplit("search_path=", 1)[1]
            await _execute(base, f"GRANT ALL ON SCHEMA {schema} TO {role}")
            # Holds the server; cancelled (the server stopped) before the schema and the
            # role are dropped: its sessions hold them.
            async with trio.open_nursery() as nursery:
                # Every history read from the table: from memory (chat.app.history.from_memory),
                # a room's window is read once, before the tests make reads slow.
                config = server_config(tmp_path, _as_role(url, role), history_cache_mb=0)
                yield SlowReads(await start_server(nursery, config), role, url, schema)
                nursery.cancel_scope.cancel()
    finally:
        with trio.CancelScope(shield=True):
            await _execute(base, f"DROP ROLE IF EXISTS {role}")


async def test_a_message_sent_after_a_slow_history_is_stored_and_delivered_meanwhile(
    slow_reads: SlowReads,
) -> None:
    server = slow_reads.server
    async with open_clients(server) as clients:
        alice, bob = await _talker(server, clients, "alice"), await _talker(server, clients, "bob")
        await _say_all(alice, SLOW)
        assert (await bob.receive())["message"] == SLOW
        await slow_reads.slow_down_reads_of(SLOW)
        await alice.say("history 5")
        await slow_reads.wait_for_sleeping_reads(1)
        await alice.say("while the history sleeps")
        with trio.fail_after(STEP):
            assert (await bob.receive())["message"] == "while the history sleeps"
        assert await slow_reads.sleeping_reads() == 1  # still asleep: it did not wait


async def test_a_disconnect_stops_the_history_query_on_postgresql(
    slow_reads: SlowReads,
) -> None:
    server = slow_reads.server
    async with open_clients(server) as clients:
        alice = await _talker(server, clients, "alice")
        await _say_all(alice, SLOW)
        await slow_reads.slow_down_reads_of(SLOW)
        # Two different requests in flight (identical ones would share one query:
        # chat/app/reads/single_flight.py), both cancelled.
        for count in (5, 6):
            await alice.say(f"history {count}")
        await slow_reads.wait_for_sleeping_reads(2)
        await alice.ws.aclose()
        # Cancelled on the server, not left to sleep out its minute.
        await slow_reads.wait_for_sleeping_reads(0)


async def test_the_support_thread_on_auth_is_answered_before_the_next_request(
    server: Server, clients: Clients
) -> None:
    alice = await account(server, "alice")
    ws = await clients.json("/v1/ws")
    await ws.send({"method": "message.auth", "params": [alice.token], "id": 1})
    await ws.send({"method": "message.send", "params": ["hello support"], "id": 2})
    welcome, sent = await ws.receive(), await ws.receive()
    assert (welcome["id"], welcome["result"]["messages"]) == (1, None)  # a new thread
    assert sent["id"] == 2 and sent["result"]["message"]["message_text"] == "hello support"
