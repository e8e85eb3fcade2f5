"""The production store: PostgreSQL through asyncpg, driven from Trio with trio-asyncio.

asyncpg only runs on asyncio. `open_postgres_store` starts an asyncio loop inside Trio
(`trio_asyncio.open_loop`, stepped by `chat.store.postgres.aio_bridge` so that the callbacks of
one query run together) for the store's lifetime; each store method is a small asyncio
coroutine that Trio awaits through `aio_as_trio`, one bridge crossing per operation
(`engine.PostgresDatabase`).

Connections: a pool of the store's own (`pool.ConnectionPool`), behind a queue in Trio:
callers wait there, first come first served, for a connection's worth of capacity
(`chat.store.connection_slots`; under trio-asyncio, asyncpg's own pool handed connections
out unfairly: with 50 callers, some waited 0.8 s while others finished), so the pool never
has more callers than connections and lending one is a list's pop.

Cancellation: a Trio cancellation cancels the asyncio task, and asyncpg cancels the
running statement on the server; the connection is reset before the pool lends it
again (tests/test_store.py checks the pool still serves every connection afterwards).
That clean-up gets `engine.CANCEL_GRACE_S`: a server that does not answer it (a
partition) has the connection dropped instead (`engine.PostgresConnection`).

Error handling: every way the database can be away (refused or lost connections, a server
shutting down, starting up or out of connection slots, a statement or a connection that
takes too long) raises `Unavailable`, in one place (`engine.PostgresDatabase.call`; `connect` and
`open_postgres_store` for their own connections), with the cause in its `detail` and in a
WARNING, never a traceback. Every wait is bounded: for a free connection
(`ACQUIRE_TIMEOUT_S`), for a new one (`CONNECT_TIMEOUT_S`), for a statement
(`QUERY_TIMEOUT_S`, asyncpg's ``command_timeout``) and for its clean-up once given up on
(`CANCEL_GRACE_S`), so a database that stops answering holds no request for long.
Nothing needs restarting when it is back: the pool replaces connections it lost on their
next use.

`store.PostgresStore` is every concern (`chat.store.database_store.DatabaseStore`) with
what the bus needs; `opening` starts the asyncio loop, migrates the database and makes
the pool.
"""

from __future__ import annotations

from chat.store.postgres.opening import open_postgres_store
from chat.store.postgres.store import PostgresStore

__all__ = ["PostgresStore", "open_postgres_store"]
