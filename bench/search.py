"""The search benchmark: 1,000,000 messages in 100 rooms, searched over
HTTP by a member of 10 of them, on SQLite and PostgreSQL; the search index's size; and
what keeping the index costs fanout-100, beside the reference peer.

    python bench/search.py                        # both backends, 7-10 minutes
    python bench/search.py --backends sqlite      # skip PostgreSQL
    python bench/search.py --quick                # 100,000 messages, fewer queries: a smoke test
    python bench/run.py --only search ...         # the same, through run.py

For each backend: a fresh database is migrated with `chat migrate` and filled in bulk
from bench/search_text.py's corpus (bench/search_load.py; the load is timed), then
`chat serve` starts on it (pinned to CPU 0, as bench/run.py starts servers) and the
searcher logs in. Every query of search_text.QUERIES is checked once against the answer
the corpus knows (the ids of the newest matches, page after page), then each kind (one
word, two words, a phrase) is timed over `--queries` requests in a closed loop on one
keep-alive connection from CPU 1, after a warm-up. Then fanout-100 (bench/run.py's
scenario) runs on the same database with the search index as the migrations make it,
and again with it taken away (bench only: search_load.IndexSwitch), with the peer's
fanout-100 in the same round, and the searches run once more on the index the fan-out
wrote to. Raw results go to bench/results/.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import random
import statistics
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import message_runs
import result_tables
import scenarios
import search_load
import targets
from search_text import KINDS, QUERIES, Corpus, Query

#: The targets: every kind's p50 and p99 (ms), and what the index may cost fanout-100.
P50_TARGET_MS, P99_TARGET_MS = 20.0, 100.0
FANOUT_COST_TARGET = 0.10
FANOUT_PEER_TARGET = 4.0
#: How many pages of a query's answer the check reads (20 results a page).
CHECK_PAGES = 5
#: The longest one kind's timed loop may take, whatever --queries says.
KIND_TIMEOUT_S = 300.0


# --- talking to the server ---


class SearchClient:
    """One keep-alive HTTP connection, as the searcher."""

    def __init__(self, port: int, token: str) -> None:
        self.port, self.token = port, token
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def search(self, q: str, **params: str | int) -> list[dict]:
        query = urllib.parse.urlencode({"q": q, **params}, quote_via=urllib.parse.quote)
        for attempt in range(2):
            try:
                self.conn.request(
                    "GET", f"/search?{query}", headers={"Authorization": f"Bearer {self.token}"}
                )
                response = self.conn.getresponse()
                body = response.read()
                break
            except (http.client.HTTPException, ConnectionError):
                # The server closes a keep-alive connection left idle: open another.
                self.conn.close()
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
                if attempt:
                    raise
        if response.status != 200:
            raise RuntimeError(f"GET /search?{query}: {response.status} {body[:300]!r}")
        return json.loads(body)

    def close(self) -> None:
        self.conn.close()


def log_in(port: int, name: str) -> str:
    status, body = targets.http_post(port, "/auth", {"name": name, "password": targets.PASSWORD})
    if "token" not in body:
        raise RuntimeError(f"could not log in as {name}: {status} {body}")
    return body["token"]


# --- checking answers ---


def check(client: SearchClient, query: Query, expected: list[int]) -> dict:
    """Read up to CHECK_PAGES pages of `query`'s answer and compare them with `expected`
    (message ids, newest first); the snippets must mark the query's terms."""
    got: list[int] = []
    bad_snippets = 0
    before: dict[str, int] = {}
    for _page in range(CHECK_PAGES):
        items = client.search(query.q, **before)
        if not items:
            break
        got += [item["MessageID"] for item in items]
        bad_snippets += sum(not _snippet_marks(item.get("Snippet"), query) for item in items)
        before = {"before": items[-1]["MessageID"]}
    wanted = expected[: len(got)] if len(got) >= 20 * CHECK_PAGES else expected
    result = {"expected": len(expected), "read": len(got), "right": got == wanted}
    if not result["right"]:
        result["first_difference"] = next(
            (i for i, (a, b) in enumerate(zip(got, wanted, strict=False)) if a != b),
            min(len(got), len(wanted)),
        )
        result["missing"] = sorted(set(wanted) - set(got))[:10]
        result["unexpected"] = sorted(set(got) - set(wanted))[:10]
    if bad_snippets:
        result["bad_snippets"] = bad_snippets
    return result


def _snippet_marks(snippet: object, query: Query) -> bool:
    """Plain text and matches alternately, at least one match, each one of the terms
    (case aside) or a piece of one."""
    if not isinstance(snippet, list) or len(snippet) < 2:
        return False
    marks = [part.lower() for part in snippet[1::2]]
    return all(any(mark and mark in term for term in query.terms) for mark in marks)


# --- timing ---


def _percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


def time_kind(
    client: SearchClient, server: targets.Target, queries: list[Query], count: int, seed: int
) -> dict:
    """`count` requests cycling through `queries` in a shuffled order: latency
    percentiles (ms), overall and per query, and the server's CPU per request."""
    order = [queries[i % len(queries)] for i in range(count)]
    random.Random(seed).shuffle(order)
    per_query: dict[str, list[float]] = {query.q: [] for query in queries}
    cpu_before = server.cpu_seconds()
    started = time.perf_counter()
    for query in order:
        if time.perf_counter() - started > KIND_TIMEOUT_S:
            break
        sent = time.perf_counter()
        client.search(query.q)
        per_query[query.q].append((time.perf_counter() - sent) * 1000)
    cpu = server.cpu_seconds() - cpu_before
    samples = [ms for values in per_query.values() for ms in values]
    return {
        "requests": len(samples),
        "p50_ms": round(_percentile(samples, 0.50), 2),
        "p99_ms": round(_percentile(samples, 0.99), 2),
        "max_ms": round(max(samples), 2),
        "server_cpu_ms_per_request": round(cpu * 1000 / len(samples), 2),
        "queries": {
            q: {
                "p50_ms": round(statistics.median(values), 2),
                "max_ms": round(max(values), 2),
                "requests": len(values),
            }
            for q, values in per_query.items()
            if values
        },
    }


@contextlib.contextmanager
def on_cpu(cpu: str) -> Iterator[None]:
    """This process pinned to `cpu` (the load generator's) while timing."""
    saved = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {int(cpu)})
    try:
        yield
    finally:
        os.sched_setaffinity(0, saved)


def measure_search(
    server: targets.Target, corpus: Corpus, first_id: int, a: argparse.Namespace
) -> dict:
    """Check every query's answer, then time each kind."""
    truth = corpus.truth()
    client = SearchClient(server.port, log_in(server.port, corpus.user_names()[0]))
    try:
        checks = {}
        for query in QUERIES:  # also the warm-up: every query once
            expected = [first_id + i for i in reversed(truth[query.q])]
            checks[query.q] = check(client, query, expected)
            checks[query.q]["kind"], checks[query.q]["frequency"] = query.kind, query.frequency
        with on_cpu(targets.LOADGEN_CPU):
            for query in QUERIES * a.warmup:
                client.search(query.q)
            kinds = {
                kind: time_kind(
                    client, server, [q for q in QUERIES if q.kind == kind], a.queries, a.seed + n
                )
                for n, kind in enumerate(KINDS)
            }
    finally:
        client.close()
    return {"kinds": kinds, "checks": checks}


# --- the index's cost on fanout-100 ---


#: The unrecorded fanout-100 before the rounds: the first run after a load pays for what
#: the load left behind (PostgreSQL's checkpoint of a million rows, cold caches).
WARMUP_FANOUT_S = 3.0


def fanout_rounds(
    chat: targets.Target,
    peer: targets.Target,
    switch: search_load.IndexSwitch,
    loadgen: Path,
    tmp: Path,
    a: argparse.Namespace,
) -> list[dict]:
    """fanout-100 on the loaded database with the search index and without it (bench
    only), the peer's first in each round: `a.rounds` rounds, in the order with,
    without, then without, with (and so on), so that a drift of the machine's speed
    over the run weighs on both alike and the index is dropped or restored only once
    per round. An unrecorded warm-up run with the index comes first."""
    scenario = scenarios.standard_scenarios(a.seconds)[0]
    assert scenario.name == "fanout-100"
    warmup = {**scenario.args, "seconds": min(a.seconds, WARMUP_FANOUT_S)}
    indexed = True

    def one(target: targets.Target, label: str, args: dict) -> dict:
        with target.running():
            tokens = targets.tokens_for(target, scenarios.SENDERS, tmp)
            print(f"  {target.label}: fanout-100, {label} ...", flush=True, file=sys.stderr)
            return message_runs.fanout(target, loadgen, tokens, args)

    one(chat, "warm-up", warmup)
    rounds = []
    for number in range(a.rounds):
        result = {"peer": one(peer, "peer", scenario.args)}
        for label in ("with index", "without index")[:: -1 if number % 2 else 1]:
            if indexed != (label == "with index"):
                if indexed:
                    result["dropped"] = switch.drop()
                else:
                    switch.restore()
                indexed = not indexed
            result[label] = one(chat, label, scenario.args)
        rounds.append(result)
    return rounds


def _fanout_summary(rounds: list[dict]) -> dict:
    def mean(label: str, key: str) -> float:
        return statistics.mean(r[label][key] for r in rounds)

    with_index = mean("with index", "deliveries_per_s")
    without = mean("without index", "deliveries_per_s")
    peer = mean("peer", "deliveries_per_s")
    summary = {
        "deliveries_per_s": {"peer": peer, "with index": with_index, "without index": without},
        "cost_deliveries": round(1 - with_index / without, 3),
        "with_index_vs_peer": round(with_index / peer, 2),
    }
    # CPU per delivery: the server's, and the database's where it is measured (PostgreSQL
    # on this machine), which is where a trigram index is kept.
    for key in ("server_cpu_us_per_delivery", "database_cpu_us_per_delivery"):
        if all(key in r["with index"] and key in r["without index"] for r in rounds):
            cpu_with, cpu_without = mean("with index", key), mean("without index", key)
            summary[key] = {"with index": cpu_with, "without index": cpu_without}
            summary["cost_" + key] = round(cpu_with / cpu_without - 1, 3)
    return summary


# --- one backend ---


def run_backend(backend: str, corpus: Corpus, loadgen: Path, tmp: Path, a) -> dict:
    env = search_load.environment()
    peer = targets.peer_target(tmp)
    if backend == "sqlite":
        data_dir = tmp / "search-sqlite"
        print(f"sqlite: loading {corpus.count:,} messages ...", file=sys.stderr, flush=True)
        load = search_load.load_sqlite(corpus, data_dir, targets.PASSWORD, env)
        sizes = search_load.sqlite_sizes(data_dir / "chat.sqlite3")
        chat = targets.chat_target(tmp, "sqlite", None)
        chat.env["CHAT_DATA_DIR"] = str(data_dir)
        switch = search_load.IndexSwitch(backend, str(data_dir / "chat.sqlite3"))
        return _measure(backend, chat, peer, corpus, load, sizes, switch, loadgen, tmp, a)
    with targets.postgres_schema(a.database_url) as (url, database):
        print(f"postgres: loading {corpus.count:,} messages ...", file=sys.stderr, flush=True)
        load = search_load.load_postgres(corpus, url, targets.PASSWORD, env)
        sizes = search_load.postgres_sizes(url)
        chat = targets.chat_target(tmp, "postgres", url)
        chat.database = database
        switch = search_load.IndexSwitch(backend, url)
        return _measure(backend, chat, peer, corpus, load, sizes, switch, loadgen, tmp, a)


def _measure(backend, chat, peer, corpus, load, sizes, switch, loadgen, tmp, a) -> dict:
    result: dict = {"load": vars(load), "sizes": sizes}
    print(f"{backend}: loaded in {load.seconds}; searching ...", file=sys.stderr, flush=True)
    with chat.running():
        result["search"] = measure_search(chat, corpus, load.first_message_id, a)
    if a.rounds:
        rounds = fanout_rounds(chat, peer, switch, loadgen, tmp, a)
        result["fanout_100"] = {"rounds": rounds, **_fanout_summary(rounds)}
        if a.rounds % 2 == 0:  # the rounds ended with the index in place
            # The same searches once the index has taken the fan-out's messages as
            # they came (small pieces, merged as the index merges them).
            print(f"{backend}: searching again ...", file=sys.stderr, flush=True)
            with chat.running():
                after = measure_search(chat, corpus, load.first_message_id, a)
            result["search_after_fanout"] = after
    return result


# --- the tables ---


def tables(results: dict) -> str:
    backends = [b for b in results if b != "meta"]
    lines = [
        "search (ms, over HTTP; targets p50 <= 20, p99 <= 100):",
        "",
        "| kind | "
        + " | ".join(f"{b} p50 | {b} p99 | {b} max | {b} right" for b in backends)
        + " |",
        "|" + " --- |" * (1 + 4 * len(backends)),
    ]
    for kind in KINDS:
        cells = [kind]
        for b in backends:
            k = results[b]["search"]["kinds"][kind]
            checks = [c for c in results[b]["search"]["checks"].values() if c["kind"] == kind]
            right = sum(c["right"] and not c.get("bad_snippets") for c in checks)
            cells += [
                result_tables.fmt(k["p50_ms"]),
                result_tables.fmt(k["p99_ms"]),
                result_tables.fmt(k["max_ms"]),
            ]
            cells.append(f"{right}/{len(checks)}")
        lines.append("| " + " | ".join(cells) + " |")
    after = [b for b in backends if "search_after_fanout" in results[b]]
    if after:
        lines += ["", "the same after the fanout-100 rounds wrote to the index (p50 / p99 ms):", ""]
        for b in after:
            kinds = results[b]["search_after_fanout"]["kinds"]
            cells = [
                f"{kind} {kinds[kind]['p50_ms']:g} / {kinds[kind]['p99_ms']:g}" for kind in KINDS
            ]
            checks = results[b]["search_after_fanout"]["checks"].values()
            right = sum(c["right"] and not c.get("bad_snippets") for c in checks)
            lines.append(f"- {b}: " + "; ".join(cells) + f"; right {right}/{len(checks)}")
    lines += ["", "slowest queries (p50 / max ms):", ""]
    for b in backends:
        per_query = [
            (v["p50_ms"], v["max_ms"], q)
            for kind in KINDS
            for q, v in results[b]["search"]["kinds"][kind]["queries"].items()
        ]
        slowest = sorted(per_query, reverse=True)[:5]
        lines.append(f"- {b}: " + "; ".join(f"{q} {p50:g} / {mx:g}" for p50, mx, q in slowest))
    lines += ["", "size (MiB) and load (s):", "", "| | " + " | ".join(backends) + " |"]
    lines.append("|" + " --- |" * (1 + len(backends)))
    size_rows = [
        ("messages table", "messages_table_bytes"),
        ("its other indexes", "messages_indexes_bytes"),
        ("search index", "search_index_bytes"),
    ]
    for label, key in size_rows:
        cells = [f"{results[b]['sizes'][key] / 2**20:.1f}" for b in backends]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    steps = list(dict.fromkeys(s for b in backends for s in results[b]["load"]["seconds"]))
    for step in steps:
        cells = [str(results[b]["load"]["seconds"].get(step, "n/a")) for b in backends]
        lines.append(f"| load: {step} (s) | " + " | ".join(cells) + " |")
    if all("fanout_100" in results[b] for b in backends):
        lines += [
            "",
            "fanout-100 deliveries/s, with the search index and without (bench only):",
            "",
        ]
        lines += ["| | " + " | ".join(backends) + " |", "|" + " --- |" * (1 + len(backends))]
        rows = [
            ("peer", lambda f: result_tables.fmt(f["deliveries_per_s"]["peer"])),
            ("with index", lambda f: result_tables.fmt(f["deliveries_per_s"]["with index"])),
            ("without index", lambda f: result_tables.fmt(f["deliveries_per_s"]["without index"])),
            ("cost in deliveries/s (target <= 10%)", lambda f: f"{f['cost_deliveries']:.1%}"),
            ("server CPU us/delivery, with / without", lambda f: _pair(f, "server")),
            ("database CPU us/delivery, with / without", lambda f: _pair(f, "database")),
            ("with index vs peer (target >= 4x)", lambda f: f"{f['with_index_vs_peer']:.2f}x"),
        ]
        for label, get in rows:
            lines.append(
                f"| {label} | " + " | ".join(get(results[b]["fanout_100"]) for b in backends) + " |"
            )
    return "\n".join(lines)


def _pair(summary: dict, whose: str) -> str:
    cpu = summary.get(f"{whose}_cpu_us_per_delivery")
    if cpu is None:
        return "n/a"
    cost = summary[f"cost_{whose}_cpu_us_per_delivery"]
    return f"{cpu['with index']:.3g} / {cpu['without index']:.3g} ({cost:+.1%})"


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
    parser.add_argument("--queries", type=int, default=200, help="timed requests per kind")
    parser.add_argument("--warmup", type=int, default=2, help="rounds of every query untimed")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each fanout-100")
    parser.add_argument("--rounds", type=int, default=2, help="fanout-100 rounds (0: none)")
    parser.add_argument("--seed", type=int, default=24)
    parser.add_argument("--quick", action="store_true", help="100,000 messages, a smoke test")
    a = parser.parse_args(argv)
    if a.quick:
        a.messages, a.queries, a.warmup, a.seconds, a.rounds = 100_000, 30, 1, 2.0, 2
    if os.cpu_count() is None or os.cpu_count() < 2:
        sys.exit("bench: needs two CPUs (server on one, client and load generator on the other)")
    targets.raise_fd_limit()
    loadgen = targets.build_loadgen()
    corpus = Corpus(seed=a.seed, count=a.messages)
    results: dict = {
        "meta": {
            "messages": a.messages,
            "queries_per_kind": a.queries,
            "started": time.strftime("%Y-%m-%d %H:%M:%S"),
            "load_average": os.getloadavg(),
        }
    }
    with tempfile.TemporaryDirectory(prefix="chat-search-bench-") as tmp_name:
        for backend in a.backends.split(","):
            if backend not in ("sqlite", "postgres"):
                sys.exit(f"bench: unknown backend {backend!r}")
            results[backend] = run_backend(backend, corpus, loadgen, Path(tmp_name), a)
    results["meta"]["load_average_at_end"] = os.getloadavg()
    out_dir = targets.BENCH / "results"
    out_dir.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    (out_dir / f"search-{stamp}.json").write_text(json.dumps(results, indent=2))
    print(tables(results))
    print(f"\n(raw results: bench/results/search-{stamp}.json)")


if __name__ == "__main__":
    main()
