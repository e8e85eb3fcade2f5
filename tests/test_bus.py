"""The buses on their own: who wakes whom, reconnection, events that are not stored.

Each test runs bus objects in this process against a real PostgreSQL (a throwaway
schema) or a Redis of its own; the server-level behaviour is in tests/test_cluster.py.
"""

from __future__ import annotations

import importlib.util
import logging
import signal
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import trio
from cluster import RedisServer, free_port, running_redis, start_redis
from own_postgres import OwnPostgres
from support import STEP, add_message, pg_session, server_config

from chat.bus.interface import (
    PUBLISH_TIMEOUT_S,
    RECONNECT_MAX_S,
    SILENCE_S,
    Envelope,
    route_events,
)
from chat.bus.opening import open_bus
from chat.bus.postgres import EVENTS_CHANNEL, PostgresBus
from chat.bus.redis import RedisBus
from chat.core.config import Config
from chat.core.errors import ChatError, Unavailable
from chat.core.outgoing import OutgoingMessage
from chat.core.records import Added, NewMessage
from chat.store import open_store
from chat.store.postgres import PostgresStore


class Heard:
    """What a bus handed to its callbacks, and a way to wait for the next of it."""

    def __init__(self) -> None:
        self.wakes: list[int | None] = []
        self.events: list[dict[str, Any]] = []
        self._changed = trio.Event()

    def wake(self, position: int | None) -> None:
        self.wakes.append(position)
        self._changed.set()

    def event(self, event: dict[str, Any]) -> None:
        self.events.append(event)
        self._changed.set()

    async def until(self, condition: Callable[[], bool], what: str) -> None:
        with trio.move_on_after(STEP):
            while not condition():
                self._changed = trio.Event()
                await self._changed.wait()
            return
        pytest.fail(f"timed out waiting for {what}: heard {self.wakes} and {self.events}")


REDIS_LOG = "chat.bus.redis"


async def logged(
    caplog: pytest.LogCaptureFixture, logger: str, text: str, times: int, within: float
) -> None:
    """Wait until `logger` has logged `text` `times` times (polled: logging has no event
    to wait on)."""
    with trio.fail_after(within):
        while sum(text in r.getMessage() for r in caplog.records if r.name == logger) < times:  # noqa: ASYNC110
            await trio.sleep(0.05)


@pytest.fixture
async def store(postgres_config: Config) -> AsyncIterator[PostgresStore]:
    async with open_store(postgres_config) as opened:
        assert isinstance(opened, PostgresStore)
        yield opened


# --- PostgreSQL ---


async def test_a_commit_wakes_the_postgres_bus_with_the_newest_id(
    nursery: trio.Nursery, store: PostgresStore
) -> None:
    heard = Heard()
    await nursery.start(PostgresBus(store, "a").run, heard.wake)
    assert heard.wakes == [None]  # listening: catch up with whatever came before
    alice = await store.create_user("alice", "hash")
    added = await store.add_messages(
        [
            NewMessage(store.lobby_id, alice.id, OutgoingMessage("one")),
            NewMessage(store.lobby_id, alice.id, OutgoingMessage("two")),
        ]
    )
    newest = added[-1].message.id
    await heard.until(lambda: newest in heard.wakes, "the wake-up")
    assert heard.wakes == [None, newest]  # one wake-up per committing statement


async def test_a_rolled_back_insert_wakes_nobody(
    nursery: trio.Nursery, store: PostgresStore, postgres_config: Config
) -> None:
    heard = Heard()
    await nursery.start(PostgresBus(store, "a").run, heard.wake)
    alice = await store.create_user("alice", "hash")
    assert postgres_config.database_url is not None
    async with pg_session(postgres_config.database_url) as execute:
        await execute("BEGIN")
        await execute(
            "INSERT INTO messages (room_id, sender_id, body)"
            f" VALUES ({store.lobby_id}, {alice.id}, 'rolled back')"
        )
        await execute("ROLLBACK")
    committed = await add_message(store, store.lobby_id, alice.id, "yes")
    await heard.until(lambda: committed.id in heard.wakes, "the wake-up")
    assert heard.wakes == [None, committed.id]


async def cut_the_listening_connection(config: Config, bus: PostgresBus) -> None:
    """End the bus's LISTEN connection from the database's side (pg_terminate_backend)."""
    assert config.database_url is not None
    async with pg_session(config.database_url) as execute:
        await execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            f" WHERE application_name = '{bus.application_name}'"
        )


async def test_the_postgres_bus_listens_again_and_catches_up_after_its_connection_is_cut(
    nursery: trio.Nursery, store: PostgresStore, postgres_config: Config
) -> None:
    heard = Heard()
    bus = PostgresBus(store, "a")
    await nursery.start(bus.run, heard.wake)
    await cut_the_listening_connection(postgres_config, bus)
    # Listening again, it asks for a catch-up (whatever committed meanwhile is in the table).
    await heard.until(lambda: heard.wakes == [None, None], "a second catch-up")
    alice = await store.create_user("alice", "hash")
    message = await add_message(store, store.lobby_id, alice.id, "after")
    await heard.until(lambda: message.id in heard.wakes, "a wake-up on the new connection")


async def until_state(condition: Callable[[], bool], what: str) -> None:
    """Poll a bus's state (`BusState`: plain fields, nothing to wait on)."""
    with trio.move_on_after(RECONNECT_MAX_S + SILENCE_S + STEP):
        while not condition():  # noqa: ASYNC110
            await trio.sleep(0.02)
        return
    pytest.fail(f"timed out waiting for {what}")


async def test_the_postgres_bus_state_counts_a_lost_connection_and_shows_the_new_one(
    nursery: trio.Nursery, store: PostgresStore, postgres_config: Config
) -> None:
    heard = Heard()
    bus = PostgresBus(store, "a")
    await nursery.start(bus.run, heard.wake)
    assert (bus.state.kind, bus.state.connected, bus.state.losses) == ("postgres", True, 0)
    await cut_the_listening_connection(postgres_config, bus)
    await until_state(lambda: bus.state.losses == 1, "the loss counted")
    await heard.until(lambda: heard.wakes == [None, None], "listening again")
    assert bus.state.connected


async def test_a_postgres_bus_connection_that_falls_silent_is_made_again(
    pg: OwnPostgres, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="chat.bus.postgres")
    # The bus runs inside the store's scope (its asyncio loop), cancelled before it closes.
    async with open_store(server_config(tmp_path, pg.url())) as store:
        assert isinstance(store, PostgresStore)
        async with trio.open_nursery() as running:
            heard = Heard()
            await running.start(PostgresBus(store, "a").run, heard.wake)
            with pg.paused():
                # Found by the keep-alive within SILENCE_S, not by TCP's minutes.
                await logged(caplog, "chat.bus.postgres", "reconnecting", 1, SILENCE_S + STEP)
            await heard.until(lambda: heard.wakes == [None, None], "the catch-up of a new one")
            alice = await store.create_user("alice", "hash")
            message = await add_message(store, store.lobby_id, alice.id, "after")
            await heard.until(lambda: message.id in heard.wakes, "a wake-up on the new connection")
            running.cancel_scope.cancel()


async def test_postgres_events_reach_other_instances_but_not_their_sender(
    nursery: trio.Nursery, store: PostgresStore
) -> None:
    sender, receiver = PostgresBus(store, "sender"), PostgresBus(store, "receiver")
    heard_by_sender, heard_by_receiver = Heard(), Heard()
    await nursery.start(sender.run, heard_by_sender.wake, heard_by_sender.event)
    await nursery.start(receiver.run, heard_by_receiver.wake, heard_by_receiver.event)
    await sender.send_event({"kind": "typing", "room": 7})
    await heard_by_receiver.until(lambda: heard_by_receiver.events != [], "the event")
    assert heard_by_receiver.events == [{"kind": "typing", "room": 7}]
    # The sender's own copy came back to it first, on its own connection, and was dropped.
    await receiver.send_event({"kind": "marker"})
    await heard_by_sender.until(lambda: heard_by_sender.events != [], "the marker")
    assert heard_by_sender.events == [{"kind": "marker"}]


async def test_the_notifications_sent_with_a_commit_reach_other_instances_in_their_order(
    nursery: trio.Nursery, store: PostgresStore
) -> None:
    receiver, heard = PostgresBus(store, "receiver"), Heard()
    await nursery.start(receiver.run, heard.wake, heard.event)
    sender = Envelope(store.cluster_id, "sender")
    alice = await store.create_user("alice", "hash")

    def notifications(added: Sequence[Added]) -> list[tuple[str, str]]:
        # Several payloads for one batch, as a batch too large for one NOTIFY has.
        sealed = (sender.seal({"type": "part", "n": n, "of": len(added)}) for n in range(5))
        return [(EVENTS_CHANNEL, payload) for payload in sealed if payload is not None]

    await store.add_messages(
        [
            NewMessage(store.lobby_id, alice.id, OutgoingMessage("one")),
            NewMessage(store.lobby_id, alice.id, OutgoingMessage("two")),
        ],
        notify=notifications,
    )
    await heard.until(lambda: len(heard.events) == 5, "the five notifications")
    assert heard.events == [{"type": "part", "n": n, "of": 2} for n in range(5)]


# --- Redis ---


@pytest.fixture
async def redis(tmp_path: Path) -> AsyncIterator[RedisServer]:
    async with running_redis(tmp_path) as server:
        yield server


async def test_an_announced_position_wakes_the_other_redis_buses(
    nursery: trio.Nursery, redis: RedisServer
) -> None:
    a, b = RedisBus(redis.url, "cluster", "a"), RedisBus(redis.url, "cluster", "b")
    heard_by_b = Heard()
    await nursery.start(a.run, Heard().wake)
    await nursery.start(b.run, heard_by_b.wake)
    a.announce(41)
    a.announce(42)
    await heard_by_b.until(lambda: 42 in heard_by_b.wakes, "the announcement")
    assert all(w is None or w in (41, 42) for w in heard_by_b.wakes)


async def test_redis_events_reach_only_the_same_chats_other_instances(
    nursery: trio.Nursery, redis: RedisServer
) -> None:
    buses = {
        "sender": RedisBus(redis.url, "cluster", "sender"),
        "same": RedisBus(redis.url, "cluster", "same"),
        "other": RedisBus(redis.url, "other", "x"),
        "other's sender": RedisBus(redis.url, "other", "y"),
    }
    heard = {name: Heard() for name in buses}
    for name, bus in buses.items():
        await nursery.start(bus.run, heard[name].wake, heard[name].event)
    await buses["sender"].send_event({"kind": "presence"})
    await heard["same"].until(lambda: heard["same"].events != [], "the event")
    # Redis delivers to a subscriber in publishing order: once the other chat hears an
    # event published later, it would have heard the first one already.
    await buses["other's sender"].send_event({"kind": "theirs"})
    await heard["other"].until(lambda: heard["other"].events != [], "the other chat's event")
    assert heard["same"].events == [{"kind": "presence"}]
    assert heard["other"].events == [{"kind": "theirs"}]
    assert heard["sender"].events == []


async def test_the_redis_bus_resubscribes_and_catches_up_after_redis_restarts(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    server = await start_redis(tmp_path)
    try:
        a, b = RedisBus(server.url, "cluster", "a"), RedisBus(server.url, "cluster", "b")
        heard_by_a, heard_by_b = Heard(), Heard()
        await nursery.start(a.run, heard_by_a.wake)
        await nursery.start(b.run, heard_by_b.wake)
        assert heard_by_b.wakes == [None]
        await server.stop()
        # An announcement nobody can hear now: whatever it announced, b reads from the
        # table when it has subscribed again (the catch-up), so it may be lost.
        a.announce(7)
        server = await start_redis(tmp_path, server.port)
        subscribed_again = lambda heard: heard.wakes.count(None) >= 2  # noqa: E731
        await heard_by_b.until(lambda: subscribed_again(heard_by_b), "b's catch-up")
        await heard_by_a.until(lambda: subscribed_again(heard_by_a), "a's catch-up")
        a.announce(8)
        await heard_by_b.until(lambda: 8 in heard_by_b.wakes, "the next announcement")
    finally:
        with trio.CancelScope(shield=True):
            await server.stop()


async def test_the_redis_bus_state_shows_it_disconnected_while_redis_is_down(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    server = await start_redis(tmp_path)
    try:
        bus = RedisBus(server.url, "cluster", "a")
        await nursery.start(bus.run, Heard().wake)
        assert (bus.state.kind, bus.state.connected) == ("redis", True)
        await server.stop()
        await until_state(lambda: not bus.state.connected, "disconnected")
        assert bus.state.losses == 1
        server = await start_redis(tmp_path, server.port)
        await until_state(lambda: bus.state.connected, "connected again")
        assert bus.state.losses == 1
    finally:
        with trio.CancelScope(shield=True):
            await server.stop()


@contextmanager
def frozen(process: RedisServer) -> Iterator[None]:
    """The test's Redis stopped in its tracks (SIGSTOP): its connections stay open and
    nothing comes through them, as in a partition; thawed (SIGCONT) at the end."""
    process.process.send_signal(signal.SIGSTOP)
    try:
        yield
    finally:
        process.process.send_signal(signal.SIGCONT)


# A connection attempt to the frozen Redis, cancelled by the silence check, may leave its
# socket to the garbage collector inside coredis/anyio (a ResourceWarning, not a leak of
# ours: the descriptor is closed when collected).
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
async def test_a_redis_subscription_that_falls_silent_is_made_again(
    nursery: trio.Nursery, redis: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=REDIS_LOG)
    a, b = RedisBus(redis.url, "cluster", "a"), RedisBus(redis.url, "cluster", "b")
    heard_by_b = Heard()
    await nursery.start(a.run, Heard().wake)
    await nursery.start(b.run, heard_by_b.wake, heard_by_b.event)
    with frozen(redis):
        # Both subscriptions, silent, are given up within SILENCE_S (not TCP's minutes).
        silent = f"heard nothing for {SILENCE_S:g} s"
        await logged(caplog, REDIS_LOG, silent, 2, SILENCE_S + STEP)
    await logged(caplog, REDIS_LOG, "subscribed again", 2, RECONNECT_MAX_S + SILENCE_S + STEP)
    await a.send_event({"kind": "presence"})
    await heard_by_b.until(lambda: heard_by_b.events == [{"kind": "presence"}], "a's event")


async def test_a_publish_to_a_silent_redis_is_refused_within_its_timeout(
    nursery: trio.Nursery, redis: RedisServer
) -> None:
    bus = RedisBus(redis.url, "cluster", "a")
    await nursery.start(bus.run, Heard().wake)
    refused = pytest.raises(Unavailable, match="no answer in")
    with frozen(redis), trio.fail_after(PUBLISH_TIMEOUT_S + STEP), refused:
        await bus.send_event({"kind": "presence"})


async def test_the_redis_bus_refuses_to_start_without_redis() -> None:
    bus = RedisBus(f"redis://127.0.0.1:{free_port()}/0", "cluster", "a")
    refused = pytest.RaisesGroup(
        pytest.RaisesExc(Unavailable, match=r"^the bus cannot reach Redis at 127\.0\.0\.1:"),
        flatten_subgroups=True,
    )
    with refused:
        async with trio.open_nursery() as nursery:
            await nursery.start(bus.run, Heard().wake)


async def test_a_redis_url_without_the_redis_extra_is_refused_with_what_to_install(
    store: PostgresStore, postgres_config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *args: None if name == "coredis" else real_find_spec(name, *args),
    )
    config = postgres_config.replace(bus_url="redis://127.0.0.1:6379/0")
    with pytest.raises(ChatError, match=r"pip install 'chat\[redis\]'"):
        open_bus(config, store, "a")


def test_events_are_routed_by_type_and_others_are_dropped() -> None:
    revoked: list[dict[str, Any]] = []
    route = route_events({"tokens-revoked": revoked.append})
    route({"type": "tokens-revoked", "user_id": 7})
    route({"type": "from-a-newer-instance"})
    route({"type": ["not", "a", "string"]})
    route({"user_id": 8})
    assert revoked == [{"type": "tokens-revoked", "user_id": 7}]
