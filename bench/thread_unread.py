"""GET /threads/unread for a user following 200 threads in a database of a million
messages, on each backend: p50 at most 20 ms.

The database is bench/search_text.py's corpus, loaded as bench/search.py loads it
(bench/search_load.py: the server's own schema, `chat migrate`, then bulk writes). Then
threads are made of it in SQL, as the server would have stored them: in every room,
each block of 20 consecutive messages starts with a root and its next `REPLIES` are
replies in the root's thread (`thread_id`), the rest stay room messages. Each reply's
sender follows its thread, read up to their newest reply there, as the write path
records (chat/store/threads.py). The reader (the corpus's searcher, a member of 10 of
the 100 rooms) follows `FOLLOWED` threads of their rooms, spread over them, with their
marker at the root for half of them (every reply unread) and in the middle for the rest.

`chat serve` starts on the loaded database (CPU 0, as run.py), the reader logs in, and
the answer is checked against the database (every followed thread listed, the unread
counts as a plain count says), then timed: `--warmup` untimed requests, then
`--requests` one at a time on one keep-alive connection from CPU 1. Raw results go to
bench/results/thread-unread-*.json.

    pip install '.[bench]' && python bench/thread_unread.py    # --quick: 100,000 messages
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import os
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

import search_load
import targets
from search import _percentile, log_in, on_cpu
from search_text import Corpus

#: The target: p50 of GET /threads/unread, in ms.
P50_TARGET_MS = 20.0
#: Threads the reader follows, and replies after each root.
FOLLOWED = 200
REPLIES = 5
BLOCK = 20

#: Every room in blocks of BLOCK consecutive messages: the first a root, the next
#: REPLIES its thread's replies. Window functions and UPDATE ... FROM: both engines.
_MAKE_THREADS = f"""
UPDATE messages SET thread_id = b.root
FROM (SELECT id, first_value(id) OVER (PARTITION BY room_id, (n - 1) / {BLOCK} ORDER BY id)
             AS root, n
      FROM (SELECT id, room_id, row_number() OVER (PARTITION BY room_id ORDER BY id) AS n
            FROM messages) AS numbered) AS b
WHERE messages.id = b.id AND (b.n - 1) % {BLOCK} BETWEEN 1 AND {REPLIES}
"""
#: Each replier follows, read up to their newest reply.
_REPLIERS_FOLLOW = """
INSERT INTO thread_follows (user_id, thread_id, room_id, following, read_id)
SELECT sender_id, thread_id, room_id, {true}, max(id) FROM messages
WHERE thread_id IS NOT NULL GROUP BY sender_id, thread_id, room_id
"""
#: The reader follows exactly the threads chosen for them (not those they replied in).
_FOLLOWS_NONE = "DELETE FROM thread_follows WHERE user_id = $1"
#: The reader's rooms' roots, oldest first.
_READERS_ROOTS = """
SELECT DISTINCT m.thread_id, m.room_id FROM messages AS m
JOIN room_members AS r ON r.room_id = m.room_id AND r.user_id = $1
WHERE m.thread_id IS NOT NULL ORDER BY m.thread_id
"""
#: Where the reader has read to in half the threads: their middle reply.
_MIDDLE = f"SELECT id FROM messages WHERE thread_id = $1 ORDER BY id LIMIT 1 OFFSET {REPLIES // 2}"
_FOLLOW = """
INSERT INTO thread_follows (user_id, thread_id, room_id, following, read_id)
VALUES ($1, $2, $3, {true}, $4)
ON CONFLICT (user_id, thread_id) DO UPDATE SET following = {true}, read_id = excluded.read_id
"""
#: What the answer must say: the unread replies of each thread the reader follows.
_TRUTH = """
SELECT f.thread_id, count(m.id) FROM thread_follows AS f
LEFT JOIN messages AS m ON m.thread_id = f.thread_id AND m.id > f.read_id
  AND m.sender_id <> f.user_id AND m.deleted_at IS NULL
WHERE f.user_id = $1 AND f.following GROUP BY f.thread_id
"""


def _sqlite(sql: str) -> str:
    return sql.replace("$1", "?").replace("$2", "?").replace("$3", "?").replace("$4", "?")


def _spread(roots: list[tuple[int, int]]) -> list[tuple[int, int]]:
    step = max(1, len(roots) // FOLLOWED)
    return roots[::step][:FOLLOWED]


def make_threads_sqlite(path: Path, reader: str) -> dict[str, int]:
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("BEGIN")
        conn.execute(_MAKE_THREADS)
        conn.execute(_REPLIERS_FOLLOW.format(true=1))
        (uid,) = conn.execute("SELECT id FROM users WHERE name = ?", (reader,)).fetchone()
        conn.execute(_sqlite(_FOLLOWS_NONE), (uid,))
        chosen = _spread(conn.execute(_sqlite(_READERS_ROOTS), (uid,)).fetchall())
        for n, (root, room) in enumerate(chosen):
            read = root if n % 2 == 0 else conn.execute(_sqlite(_MIDDLE), (root,)).fetchone()[0]
            conn.execute(_sqlite(_FOLLOW.format(true=1)), (uid, root, room, read))
        conn.execute("COMMIT")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        rows = conn.execute(_sqlite(_TRUTH), (uid,)).fetchall()
        return {str(thread): int(count) for thread, count in rows}
    finally:
        conn.close()


async def _make_threads_postgres(url: str, reader: str) -> dict[str, int]:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        async with conn.transaction():
            await conn.execute(_MAKE_THREADS)
            await conn.execute(_REPLIERS_FOLLOW.format(true="true"))
            uid = await conn.fetchval("SELECT id FROM users WHERE name = $1", reader)
            await conn.execute(_FOLLOWS_NONE, uid)
            chosen = _spread([tuple(row) for row in await conn.fetch(_READERS_ROOTS, uid)])
            for n, (root, room) in enumerate(chosen):
                read = root if n % 2 == 0 else await conn.fetchval(_MIDDLE, root)
                await conn.execute(_FOLLOW.format(true="true"), uid, root, room, read)
        await conn.execute("VACUUM ANALYZE messages, thread_follows")
        await conn.execute("CHECKPOINT")
        return {str(row[0]): int(row[1]) for row in await conn.fetch(_TRUTH, uid)}
    finally:
        await conn.close()


class UnreadClient:
    """One keep-alive connection, as the reader."""

    def __init__(self, port: int, token: str) -> None:
        self.port, self.token = port, token
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def unread(self) -> list[dict]:
        for attempt in range(2):
            try:
                self.conn.request(
                    "GET", "/threads/unread", headers={"Authorization": f"Bearer {self.token}"}
                )
                response = self.conn.getresponse()
                body = response.read()
                break
            except (http.client.HTTPException, ConnectionError):
                self.conn.close()
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
                if attempt:
                    raise
        if response.status != 200:
            raise RuntimeError(f"GET /threads/unread: {response.status} {body[:300]!r}")
        return json.loads(body)


def measure(server: targets.Target, reader: str, truth: dict[str, int], a) -> dict:
    client = UnreadClient(server.port, log_in(server.port, reader))
    answer = client.unread()
    got = {str(row["ThreadID"]): row["Unread"] for row in answer}
    if len(answer) != FOLLOWED or got != truth:
        wrong = sorted(k for k in truth if got.get(k) != truth[k])[:5]
        raise RuntimeError(f"{len(answer)} threads listed; unread differs for {wrong}")
    with on_cpu(targets.LOADGEN_CPU):
        for _ in range(a.warmup):
            client.unread()
        cpu_before = server.cpu_seconds()
        samples = []
        for _ in range(a.requests):
            sent = time.perf_counter()
            client.unread()
            samples.append((time.perf_counter() - sent) * 1000)
        cpu = server.cpu_seconds() - cpu_before
    client.conn.close()
    return {
        "threads": len(answer),
        "unread_replies": sum(truth.values()),
        "requests": len(samples),
        "p50_ms": round(_percentile(samples, 0.50), 2),
        "p99_ms": round(_percentile(samples, 0.99), 2),
        "max_ms": round(max(samples), 2),
        "server_cpu_ms_per_request": round(cpu * 1000 / len(samples), 2),
    }


def run_backend(backend: str, corpus: Corpus, tmp: Path, a) -> dict:
    env = search_load.environment()
    reader = corpus.user_names()[0]
    print(f"{backend}: loading {corpus.count:,} messages ...", file=sys.stderr, flush=True)
    if backend == "sqlite":
        data_dir = tmp / "threads-sqlite"
        load = search_load.load_sqlite(corpus, data_dir, targets.PASSWORD, env)
        started = time.monotonic()
        truth = make_threads_sqlite(data_dir / "chat.sqlite3", reader)
        made = round(time.monotonic() - started, 1)
        chat = targets.chat_target(tmp, "sqlite", None)
        chat.env["CHAT_DATA_DIR"] = str(data_dir)
        with chat.running():
            result = measure(chat, reader, truth, a)
        return {"load": vars(load), "threads_made_s": made, **result}
    with targets.postgres_schema(a.database_url) as (url, database):
        load = search_load.load_postgres(corpus, url, targets.PASSWORD, env)
        started = time.monotonic()
        truth = asyncio.run(_make_threads_postgres(url, reader))
        made = round(time.monotonic() - started, 1)
        chat = targets.chat_target(tmp, "postgres", url)
        chat.database = database
        with chat.running():
            result = measure(chat, reader, truth, a)
        return {"load": vars(load), "threads_made_s": made, **result}


def table(results: dict) -> str:
    lines = [
        f"GET /threads/unread, {FOLLOWED} followed threads, {results['meta']['messages']:,}"
        f" messages (target: p50 <= {P50_TARGET_MS:g} ms)",
        "",
        "| backend | p50 ms | p99 ms | max ms | server CPU ms/request | unread replies |",
        "|---|---|---|---|---|---|",
    ]
    for backend in ("sqlite", "postgres"):
        if backend in results:
            r = results[backend]
            lines.append(
                f"| {backend} | {r['p50_ms']} | {r['p99_ms']} | {r['max_ms']} |"
                f" {r['server_cpu_ms_per_request']} | {r['unread_replies']:,} |"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument(
        "--database-url",
        default=os.environ.get("CHAT_BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1/test"),
    )
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=300, help="timed requests")
    parser.add_argument("--warmup", type=int, default=20, help="untimed requests first")
    parser.add_argument("--seed", type=int, default=24)
    parser.add_argument("--quick", action="store_true", help="100,000 messages, a smoke test")
    a = parser.parse_args(argv)
    if a.quick:
        a.messages, a.requests, a.warmup = 100_000, 50, 5
    if os.cpu_count() is None or os.cpu_count() < 2:
        sys.exit("bench: needs two CPUs (server on one, client on the other)")
    corpus = Corpus(seed=a.seed, count=a.messages)
    results: dict = {
        "meta": {
            "messages": a.messages,
            "followed": FOLLOWED,
            "started": time.strftime("%Y-%m-%d %H:%M:%S"),
            "load_average": os.getloadavg(),
        }
    }
    with tempfile.TemporaryDirectory(prefix="chat-threads-bench-") as tmp_name:
        for backend in a.backends.split(","):
            if backend not in ("sqlite", "postgres"):
                sys.exit(f"bench: unknown backend {backend!r}")
            results[backend] = run_backend(backend, corpus, Path(tmp_name), a)
    results["meta"]["load_average_at_end"] = os.getloadavg()
    out_dir = targets.BENCH / "results"
    out_dir.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    (out_dir / f"thread-unread-{stamp}.json").write_text(json.dumps(results, indent=2))
    print(table(results))
    print(f"\n(raw results: bench/results/thread-unread-{stamp}.json)")


if __name__ == "__main__":
    main()
