"""The default bus on PostgreSQL: LISTEN/NOTIFY, on a connection of its own.

Announcing costs nothing here: the database announces every commit itself. A trigger on
the messages table (sql/postgres/0004_cluster.sql) sends ``NOTIFY chat_messages,
'<cluster id> <newest id>'`` in the inserting transaction, and PostgreSQL delivers it when,
and only if, that transaction commits, to every session listening at that moment. So
`announce` does nothing, and no commit can go unannounced, whoever made it.

Listening needs a session that stays open, so the bus opens its own connection, outside
the pool (a pooled connection is handed to other callers and reset between them). It is
named ``chat-bus <cluster id>`` in pg_stat_activity.

Resource handling: `run` owns that connection. When it is lost (the server restarts, an
operator runs ``pg_terminate_backend``, a keep-alive query fails), `run` closes it,
connects again after a back-off, LISTENs, and only then wakes the writer to catch up:
everything committed while nobody listened is in the table, and everything committed
after LISTEN will be notified. Cancelling `run` closes the connection.

asyncpg calls notification and termination callbacks on the asyncio loop that
trio-asyncio runs inside Trio, on the Trio thread, so they may call the (non-blocking)
`wake` and set a `trio.Event` directly.
"""

from __future__ import annotations

import functools
import logging
from typing import TYPE_CHECKING, Any, NoReturn

import trio

from chat.bus.carried import Payload
from chat.bus.interface import (
    MAX_PAYLOAD_BYTES,
    RECONNECT_FIRST_S,
    RECONNECT_MAX_S,
    SILENCE_S,
    BusState,
    Envelope,
    EventSink,
    Wake,
    send_last_words,
)
from chat.core.errors import Unavailable

if TYPE_CHECKING:
    import asyncpg

    from chat.store.postgres import PostgresStore

log = logging.getLogger(__name__)

#: Where the trigger announces commits (sql/postgres/0004_cluster.sql).
MESSAGES_CHANNEL = "chat_messages"
#: Where events that are not stored travel.
EVENTS_CHANNEL = "chat_events"

#: How often the listener checks that its connection still answers, and for how long:
#: a silent connection is found within `SILENCE_S`.
KEEPALIVE_S = 2.0
KEEPALIVE_TIMEOUT_S = SILENCE_S - KEEPALIVE_S
#: A closing connection gets this long to say goodbye before it is dropped.
CLOSE_TIMEOUT_S = 2.0


def _set(event: trio.Event, _connection: object) -> None:
    event.set()


class PostgresBus:
    """LISTEN/NOTIFY through asyncpg, driven from Trio by trio-asyncio."""

    description = "PostgreSQL LISTEN/NOTIFY"
    carries = True
    max_payload_bytes = MAX_PAYLOAD_BYTES  # NOTIFY takes less than 8000 bytes
    # A batch's payloads go with its commit (`chat.store.messages`): the same
    # trip to the database, none of the bridge's cost of a trip of their own.
    carries_with_commit = True

    def __init__(self, store: PostgresStore, instance_id: str) -> None:
        self._store = store
        self._cluster_id = store.cluster_id
        self._envelope = Envelope(store.cluster_id, instance_id)
        self.dropped = self._envelope.dropped
        self.application_name = f"chat-bus {store.cluster_id}"
        self.state = BusState("postgres")
        self._last_words: list[dict[str, Any]] = []

    def announce(self, position: int) -> None:
        """Nothing to do: the commit itself notified every listener (see the module)."""

    async def send_event(self, event: dict[str, Any]) -> None:
        import asyncpg

        payload = self._envelope.seal(event)
        if payload is None:
            await trio.lowlevel.checkpoint()
            return
        try:
            await self._store.notify(EVENTS_CHANNEL, payload)
        except asyncpg.PostgresError as error:
            # Not the database being away (the store says that with Unavailable): a
            # notification it refused. Whatever it was, the event is lost, not the bus.
            raise Unavailable(f"the bus cannot send an event: {error}") from None

    async def send_carried(self, payload: Payload) -> None:
        import asyncpg

        try:
            await self._store.notify(EVENTS_CHANNEL, self._envelope.seal_carried(payload))
        except asyncpg.PostgresError as error:
            raise Unavailable(f"the bus cannot carry messages: {error}") from None

    def notification(self, payload: Payload) -> tuple[str, str]:
        return EVENTS_CHANNEL, self._envelope.seal_carried(payload)

    def send_when_stopping(self, event: dict[str, Any]) -> None:
        self._last_words.append(event)

    async def run(
        self,
        wake: Wake,
        on_event: EventSink | None = None,
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> NoReturn:
        """Listen, reconnecting whenever the connection is lost; send the last words
        when cancelled. Runs until cancelled."""
        try:
            await self._listen_forever(wake, on_event, task_status)
        finally:
            # Notifications go through the store's pool, which outlives this task.
            await send_last_words(self._last_words, self.send_event)

    async def _listen_forever(
        self, wake: Wake, on_event: EventSink | None, task_status: trio.TaskStatus[None]
    ) -> NoReturn:
        import asyncpg

        started = False
        delay = RECONNECT_FIRST_S
        while True:
            try:
                connection = await self._store.connect(application_name=self.application_name)
                try:
                    lost = trio.Event()
                    connection.add_termination_listener(functools.partial(_set, lost))
                    # Bounded like the keep-alive: a database that hangs must not
                    # hold the bus before it even listens.
                    with trio.fail_after(KEEPALIVE_TIMEOUT_S):
                        await self._listen(connection, wake, on_event)
                    # Listening now: whatever committed before is in the table.
                    self.state.listening()
                    wake(None)
                    if started:
                        log.info("bus: listening again; catching up from the table")
                    else:
                        task_status.started()
                        started = True
                    delay = RECONNECT_FIRST_S
                    await self._until_lost(connection, lost)
                    log.warning("bus: lost the listening connection (closed); reconnecting")
                finally:
                    await self._close(connection)
            except (
                Unavailable,
                OSError,
                trio.TooSlowError,
                asyncpg.PostgresError,
                asyncpg.InterfaceError,
                # A connection the server just ended (see chat.store.postgres).
                asyncpg.InternalClientError,
            ) as error:
                if not started:
                    raise Unavailable(f"the bus cannot listen on PostgreSQL: {error}") from None
                log.warning("bus: lost the listening connection (%s); reconnecting", error)
            self.state.lost()
            await trio.sleep(delay)
            delay = min(delay * 2, RECONNECT_MAX_S)

    async def _listen(
        self, connection: asyncpg.Connection, wake: Wake, on_event: EventSink | None
    ) -> None:
        cluster_id, envelope = self._cluster_id, self._envelope

        def on_commit(_connection: object, _pid: int, _channel: str, payload: str) -> None:
            cluster, _, position = payload.partition(" ")
            if cluster == cluster_id and position.isdigit():
                wake(int(position))

        aio_as_trio = self._store.aio_as_trio
        await aio_as_trio(connection.add_listener)(MESSAGES_CHANNEL, on_commit)
        if on_event is not None:

            def on_notified_event(_conn: object, _pid: int, _channel: str, payload: str) -> None:
                event = envelope.open(payload)
                if event is not None:
                    on_event(event)

            await aio_as_trio(connection.add_listener)(EVENTS_CHANNEL, on_notified_event)

    async def _until_lost(self, connection: asyncpg.Connection, lost: trio.Event) -> None:
        """Return when the connection is gone; a keep-alive query finds silent deaths (a
        peer that vanished without closing the socket) that no callback would report."""
        while True:
            with trio.move_on_after(KEEPALIVE_S):
                await lost.wait()
                return
            with trio.fail_after(KEEPALIVE_TIMEOUT_S):
                await self._store.aio_as_trio(connection.fetchval)("SELECT 1")

    async def _close(self, connection: asyncpg.Connection) -> None:
        # Shielded: also reached on cancellation (shutdown), and the connection must not
        # be left open; bounded, and dropped outright if it does not close in time.
        with trio.move_on_after(CLOSE_TIMEOUT_S, shield=True):
            if not connection.is_closed():
                await self._store.aio_as_trio(connection.close)()
        if not connection.is_closed():
            connection.terminate()
