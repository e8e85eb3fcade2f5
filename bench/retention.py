"""How long retention's batches hold the writer (chat/app/messages/retention.py): figures for
docs/PERFORMANCE.md.

    python bench/retention.py [--messages 50000] [--database-url URL]

Stores MESSAGES messages in one room (SQLite in a temporary directory, indexed for
search as the server would; or a PostgreSQL database at URL, which must be empty: use a
throwaway one), and runs one pass of retention (30 days) with its clock 40 days ahead.
Prints how long the pass took, and per batch how long its transaction held the writer
(the store's measure, from the lock taken to the commit): median, maximum, how many
were over the 50 ms budget, and the batch sizes the task settled on.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections import deque
from datetime import UTC, datetime, timedelta
from pathlib import Path

import trio

from chat.app.messages.retention import RetentionTask
from chat.core.config import Config
from chat.core.outgoing import OutgoingMessage
from chat.core.records import NewMessage
from chat.store import open_store

#: Messages stored per call.
CHUNK = 1000


async def measure(config: Config, messages: int) -> None:
    async with open_store(config) as store:
        user = await store.create_user("bench", "hash")
        room = await store.create_room("bench", is_private=False, creator_id=user.id)
        for start in range(0, messages, CHUNK):
            count = min(CHUNK, messages - start)
            await store.add_messages(
                [
                    NewMessage(
                        room.id, user.id, OutgoingMessage(f"message {start + n} of the bench")
                    )
                    for n in range(count)
                ]
            )
        while await store.index_new_messages(2000):  # SQLite: as the server's indexer does
            pass
        # Forty days later: every message has expired.
        later = datetime.now(UTC) + timedelta(days=40)
        task = RetentionTask(store, days=30, period=60, holder="bench", clock=lambda: later)
        task.batches = deque(maxlen=None)
        started = time.perf_counter()
        deleted = await task.sweep()
        took = time.perf_counter() - started
    held = [record.held_seconds * 1000 for record in task.batches]
    sizes = [record.limit for record in task.batches]
    print(f"{deleted} messages deleted in {took:.2f} s, {len(held)} batches")
    print(
        f"writer held per batch: median {statistics.median(held):.1f} ms,"
        f" max {max(held):.1f} ms, over 50 ms: {sum(h > 50 for h in held)}"
    )
    print(f"batch sizes: median {statistics.median(sizes):g}, max {max(sizes)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=50_000)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        config = Config(data_dir=Path(directory), database_url=args.database_url)
        trio.run(measure, config, args.messages)


if __name__ == "__main__":
    main()
