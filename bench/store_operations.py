"""What running an operation written once costs, on each engine, against the ways it could
have been run instead (docs/DESIGN.md, "Storage"; docs/PERFORMANCE.md has the figures).

    python bench/store_operations.py                    # both engines
    python bench/store_operations.py --backends sqlite  # SQLite only

Each way runs the same work a fixed number of times on an opened store, and the median
of five rounds is printed in microseconds per operation:

- ``one statement``: a point read, as `Database.fetchrow` runs it (the shortcut), and as
  an operation through `Database.run` (a coroutine around the same statement);
- ``batch of 64 in one transaction``: 64 inserts and their commit, the writer's shape:
  as an operation (`Database.transaction`: one thread hop on SQLite, one bridge crossing
  on PostgreSQL), as each engine used to write it (a plain function in the thread; an
  asyncio function of asyncpg calls), and one crossing per statement (what an async
  SQLite driver, or awaiting asyncpg from Trio call by call, would cost).

The store is opened on a fresh database (a temporary SQLite file; a throwaway
PostgreSQL schema), with a scratch table of its own.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import trio

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from targets import backend_options, postgres_schema

from chat.core.config import Config
from chat.store import open_store
from chat.store.database import Connection

BATCH = 64
ROUNDS = 5
#: Operations per round: bounded, a few seconds a way.
POINT_READS = 2_000
BATCHES = 200

_READ = "SELECT id, name FROM rooms WHERE id = $1"
_SCRATCH = "CREATE TABLE bench_rows (id integer PRIMARY KEY, body text NOT NULL)"
_INSERT = "INSERT INTO bench_rows (id, body) VALUES ($1, $2)"


async def _read(conn: Connection, room_id: int) -> Any:
    return await conn.fetchrow(_READ, room_id)


async def _insert_batch(conn: Connection, first: int) -> None:
    for n in range(first, first + BATCH):
        await conn.execute(_INSERT, n, "a message of a usual length, some forty bytes")


async def _median_us(count: int, once: Callable[[int], Awaitable[Any]]) -> float:
    for n in range(count // 10):  # warm up: caches, the pool's connections, the threads
        await once(ROUNDS * count + n)
    rounds = []
    for round_ in range(ROUNDS):
        started = time.perf_counter()
        for n in range(count):
            await once(round_ * count + n)
        rounds.append((time.perf_counter() - started) / count * 1e6)
    return statistics.median(rounds)


async def _sqlite_ways(store: Any, lobby: int) -> dict[str, Callable[[int], Awaitable[Any]]]:
    db = store.db
    body = "a message of a usual length, some forty bytes"

    def plain(conn: Any, first: int) -> None:
        raw = conn.raw
        raw.execute("BEGIN IMMEDIATE")
        for n in range(first, first + BATCH):
            raw.execute("INSERT INTO bench_rows (id, body) VALUES (?1, ?2)", (n, body))
        raw.execute("COMMIT")

    async def per_statement(first: int) -> None:
        conn = db._idle.pop()
        try:
            raw = conn.raw
            await trio.to_thread.run_sync(raw.execute, "BEGIN IMMEDIATE")
            for n in range(first, first + BATCH):
                sql = "INSERT INTO bench_rows (id, body) VALUES (?1, ?2)"
                await trio.to_thread.run_sync(raw.execute, sql, (n, body))
            await trio.to_thread.run_sync(raw.execute, "COMMIT")
        finally:
            db._idle.append(conn)

    return {
        "one statement: Database.fetchrow": lambda n: db.fetchrow(_READ, lobby),
        "one statement: an operation": lambda n: db.run(_read, lobby),
        "batch: an operation (one thread hop)": lambda n: db.transaction(_insert_batch, n * BATCH),
        "batch: a plain function in the thread": lambda n: db._in_thread(plain, n * BATCH),
        "batch: a thread hop per statement": lambda n: per_statement(n * BATCH),
    }


async def _postgres_ways(store: Any, lobby: int) -> dict[str, Callable[[int], Awaitable[Any]]]:
    db = store.db
    body = "a message of a usual length, some forty bytes"

    async def aio_plain(pool: Any, first: int) -> None:
        raw = await pool.acquire()
        try:
            async with raw.transaction():
                for n in range(first, first + BATCH):
                    await raw.execute(_INSERT, n, body)
        finally:
            await pool.release(raw, clean=True, before_reuse=lambda: None)

    async def per_statement(first: int) -> None:
        raw = await db.aio_as_trio(db.pool.acquire)()
        try:
            transaction = raw.transaction()
            await db.aio_as_trio(transaction.start)()
            for n in range(first, first + BATCH):
                await db.aio_as_trio(raw.execute)(_INSERT, n, body)
            await db.aio_as_trio(transaction.commit)()
        finally:
            await db.aio_as_trio(db.pool.release)(raw, clean=True, before_reuse=lambda: None)

    return {
        "one statement: Database.fetchrow": lambda n: db.fetchrow(_READ, lobby),
        "one statement: an operation": lambda n: db.run(_read, lobby),
        "batch: an operation (one bridge crossing)": lambda n: db.transaction(
            _insert_batch, n * BATCH
        ),
        "batch: an asyncio function of asyncpg calls": lambda n: db.call(
            aio_plain, db.pool, n * BATCH
        ),
        "batch: a bridge crossing per statement": lambda n: per_statement(n * BATCH),
    }


async def _measure(config: Config, backend: str) -> None:
    async with open_store(config) as store:
        await store.db.execute(_SCRATCH)
        ways = await (_sqlite_ways if backend == "sqlite" else _postgres_ways)(
            store, store.lobby_id
        )
        for name, once in ways.items():
            count = POINT_READS if name.startswith("one statement") else BATCHES
            if not name.startswith("one statement"):
                await store.db.execute("DELETE FROM bench_rows")
            us = await _median_us(count, once)
            print(f"| {backend} | {name} | {us:,.1f} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    backend_options(parser)
    args = parser.parse_args()
    print("| engine | way | us per operation (median of 5) |")
    print("| --- | --- | --- |")
    for backend in args.backends.split(","):
        if backend == "sqlite":
            with tempfile.TemporaryDirectory() as directory:
                config = Config(data_dir=Path(directory))
                trio.run(_measure, config, backend)
        else:
            with postgres_schema(args.database_url) as (url, _cpu):
                trio.run(_measure, Config(database_url=url), backend)


if __name__ == "__main__":
    main()
