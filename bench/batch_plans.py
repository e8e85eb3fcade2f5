"""What committing a small batch of messages costs PostgreSQL once its tables are full: the
batch's arrays padded to `PLANNED_ROWS` (PostgreSQL settles on the statement's generic
plan) against not padded (a custom plan made for every batch). docs/PERFORMANCE.md,
"Committing a batch on PostgreSQL".

    python bench/batch_plans.py                      # 200,000 messages, 3 rounds
    python bench/batch_plans.py --stored 1000000 --batches 1000
    python bench/batch_plans.py --size 4             # batches of four messages

A throwaway schema is filled with `--stored` messages and a tenth as many users, and
analyzed; then the two ways alternate, each round on a store opened afresh (connections
of its own, so each way's prepared statement chooses its plans on its own). Per batch:
the database backend's CPU (read from /proc: PostgreSQL must run on this machine) and
the wall time, as `Messages.add_messages` runs it, one batch after another.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import trio

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from targets import backend_options, postgres_schema, process_cpu_seconds

from chat.core.config import Config
from chat.core.outgoing import OutgoingMessage
from chat.core.records import NewMessage
from chat.store import message_batches, open_store

WAYS = {"padded": message_batches.PLANNED_ROWS, "not padded": 0}


async def _fill(config: Config, stored: int) -> None:
    async with open_store(config) as store:
        sender = await store.create_user("sender", "hash")
        await store.db.execute(
            "INSERT INTO users (name, name_key, look_key, password_hash)"
            " SELECT 'u' || g, 'u' || g, 'u' || g, 'x' FROM generate_series(1, $1) AS g",
            stored // 10,
        )
        await store.db.execute(
            "INSERT INTO messages (room_id, sender_id, body)"
            " SELECT $1, $2, 'stored ' || g FROM generate_series(1, $3) AS g",
            store.lobby_id,
            sender.id,
            stored,
        )
        await store.db.execute("ANALYZE messages, users")  # this schema's alone


async def _round(config: Config, planned_rows: int, batches: int, size: int) -> tuple[float, float]:
    """Database CPU and wall time per batch, in microseconds."""
    message_batches.PLANNED_ROWS = planned_rows
    async with open_store(config) as store:
        sender = await store.user_by_name("sender")
        assert sender is not None

        async def one_connection(conn: Any) -> tuple[float, float]:
            pid = await conn.fetchval("SELECT pg_backend_pid()")
            cpu, started = process_cpu_seconds(pid), time.perf_counter()
            for n in range(batches):
                rows = [
                    NewMessage(store.lobby_id, sender.id, OutgoingMessage(f"batch {n}.{m}"))
                    for m in range(size)
                ]
                await message_batches.insert_arrays(conn, rows)
            wall = time.perf_counter() - started
            return (process_cpu_seconds(pid) - cpu) / batches * 1e6, wall / batches * 1e6

        return await store.db.run(one_connection)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    backend_options(parser)
    parser.add_argument("--stored", type=int, default=200_000, help="messages already stored")
    parser.add_argument("--batches", type=int, default=500, help="batches a round")
    parser.add_argument("--size", type=int, default=1, help="messages a batch")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    results: dict[str, list[tuple[float, float]]] = {way: [] for way in WAYS}
    with postgres_schema(args.database_url) as (url, _cpu):
        config = Config(database_url=url)
        trio.run(_fill, config, args.stored)
        for _ in range(args.rounds):
            for way, planned_rows in WAYS.items():
                results[way].append(trio.run(_round, config, planned_rows, args.batches, args.size))
    print(f"{args.stored:,} messages stored, {args.batches} batches of {args.size} a round")
    print("| way | database CPU us a batch (median) | wall us a batch (median) |")
    print("| --- | --- | --- |")
    for way, rounds in results.items():
        cpu = statistics.median(r[0] for r in rounds)
        wall = statistics.median(r[1] for r in rounds)
        print(f"| {way} | {cpu:,.0f} | {wall:,.0f} |")


if __name__ == "__main__":
    main()
