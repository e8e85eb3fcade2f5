"""The tables bench/run.py prints from a run's results: the main one (chat beside the
peer), the cluster against one instance, rooms with and without activity, and a thread
reply against a room message; the rows each shows, and how a figure is formatted.
"""

from __future__ import annotations

from targets import LOADGEN_CPU, SERVER_CPU


def _fanout_rows(scenario: str, busy: bool = True) -> list:
    """The main table's rows of a fanout scenario at full rate."""
    rows = [
        (scenario, "deliveries/s", lambda r: r["deliveries_per_s"]),
        (scenario, "lost", lambda r: r["lost"]),
        (scenario, "p99 latency ms", lambda r: r["latency_us"]["p99"] / 1000),
        (scenario, "server CPU us/delivery", lambda r: r.get("server_cpu_us_per_delivery")),
    ]
    if busy:
        rows.append((scenario, "load generator busy", lambda r: r.get("busy")))
    return rows


ROWS = [
    *_fanout_rows("fanout-100"),
    *_fanout_rows("cluster-fanout-100"),
    # (two load generators share its CPU: their "busy" is not comparable)
    *_fanout_rows("fanout-100-beside-rooms", busy=False),
    ("fanout-1000", "deliveries/s", lambda r: r["deliveries_per_s"]),
    ("fanout-1000", "lost", lambda r: r["lost"]),
    ("fanout-1000", "p50 latency ms", lambda r: r["latency_us"]["p50"] / 1000),
    ("fanout-1000", "p99 latency ms", lambda r: r["latency_us"]["p99"] / 1000),
    ("fanout-1000", "server CPU us/delivery", lambda r: r.get("server_cpu_us_per_delivery")),
    ("fanout-10000", "deliveries/s", lambda r: r["deliveries_per_s"]),
    ("fanout-10000", "lost", lambda r: r["lost"]),
    ("fanout-10000", "p50 latency ms", lambda r: r["latency_us"]["p50"] / 1000),
    ("fanout-10000", "p99 latency ms", lambda r: r["latency_us"]["p99"] / 1000),
    ("fanout-10000", "max latency ms", lambda r: r["latency_us"]["max"] / 1000),
    ("fanout-10000", "server CPU us/delivery", lambda r: r.get("server_cpu_us_per_delivery")),
    ("fanout-10000", "load generator busy", lambda r: r.get("busy")),
    ("low-rate", "messages/s", lambda r: r["achieved_msgs_per_s"]),
    ("low-rate", "lost", lambda r: r["lost"]),
    ("low-rate", "p99 latency ms", lambda r: r["latency_us"]["p99"] / 1000),
    ("low-rate", "server CPU us/message", lambda r: _per_message(r, "server_cpu_seconds")),
    ("idle-2000", "KiB per connection", lambda r: r["kib_per_connection"]),
    ("idle-2000", "connects/s", lambda r: r["connects_per_s"]),
    ("idle-10000", "KiB per connection", lambda r: r["kib_per_connection"]),
    ("idle-10000", "connects/s", lambda r: r["connects_per_s"]),
    ("idle-100000", "connections", lambda r: r["connections"]),
    ("idle-100000", "server processes", lambda r: r.get("server_processes", 1)),
    ("idle-100000", "KiB per connection", lambda r: r["kib_per_connection"]),
    ("idle-100000", "server RSS MiB, before", lambda r: r["rss_before_kib"] / 1024),
    ("idle-100000", "server RSS MiB, all in", lambda r: r["rss_after_kib"] / 1024),
    ("idle-100000", "connects/s (in the room)", lambda r: r["connects_per_s"]),
    ("idle-100000", "broadcast: ms until all have it (max)", lambda r: r["max_all_ms"]),
    ("idle-100000", "broadcast: p99 latency ms", lambda r: r["latency_us"]["p99"] / 1000),
    ("idle-100000", "broadcast: lost", lambda r: r["lost"]),
    ("history", "p50 ms", lambda r: r["latency_us"]["p50"] / 1000),
    ("history", "p99 ms", lambda r: r["latency_us"]["p99"] / 1000),
    (
        "history-changed",
        "plain: server CPU us/request",
        lambda r: r["plain"]["server_cpu_us_per_request"],
    ),
    (
        "history-changed",
        "edited + reacted: server CPU us/request",
        lambda r: r["changed"]["server_cpu_us_per_request"],
    ),
    ("history-changed", "changed / plain, CPU", lambda r: r["cpu_ratio"]),
    ("history-changed", "changed / plain, p50", lambda r: r["p50_ratio"]),
    ("auth", "tokens/s", lambda r: r["tokens_per_s"]),
]

# The rooms scenarios (chat only): plain beside the same load with activity flowing.
ROOMS_ROWS = [
    ("messages/s (offered 200)", lambda r: r["achieved_msgs_per_s"]),
    ("message deliveries/s", lambda r: r["deliveries_per_s"]),
    ("lost", lambda r: r["lost"]),
    ("p50 latency ms, messages", lambda r: r["latency_us"]["p50"] / 1000),
    ("p99 latency ms, messages", lambda r: r["latency_us"]["p99"] / 1000),
    ("activity frames received", lambda r: r["activity_frames"]),
    ("activity frames/s", lambda r: r["activity_frames_per_s"]),
    ("activity frames per message", lambda r: r["activity_frames_per_message"]),
    ("server CPU us/message", lambda r: r.get("server_cpu_us_per_message")),
    ("server CPU us/message delivery", lambda r: r.get("server_cpu_us_per_delivery")),
    ("server CPU us/frame (deliveries + activity)", lambda r: r.get("server_cpu_us_per_frame")),
    ("database CPU us/message", lambda r: _per_message(r, "database_cpu_seconds")),
    ("set-up s (users, rooms, joins)", lambda r: r["setup_seconds"]),
    ("load generator busy", lambda r: r.get("busy")),
]


def _per_message(r: dict, key: str) -> float | None:
    return r[key] * 1e6 / r["sent"] if key in r and r["sent"] else None


# The peer is one process; a cluster scenario is compared with its one-process original.
PEER_SCENARIO = {"cluster-fanout-100": "fanout-100", "fanout-100-beside-rooms": "fanout-100"}


def _both_cpu(r: dict) -> float | None:
    server, database = r.get("server_cpu_us_per_delivery"), r.get("database_cpu_us_per_delivery")
    return None if server is None or database is None else server + database


def _p99_ms(key: str):
    return lambda r: r[key]["p99"] / 1000 if r[key]["p99"] >= 0 else None


# cluster-fanout-100 against fanout-100 on the same backend (PostgreSQL)
CLUSTER_ROWS = [
    ("deliveries/s", lambda r: r["deliveries_per_s"]),
    ("lost", lambda r: r["lost"]),
    ("p50 latency ms", lambda r: r["latency_us"]["p50"] / 1000),
    ("p99 latency ms", _p99_ms("latency_us")),
    ("p99 latency ms, deliveries across instances", _p99_ms("cross_port_latency_us")),
    (
        "share of deliveries across instances",
        lambda r: r["cross_port_deliveries"] / r["deliveries"],
    ),
    ("server CPU us/delivery (all instances)", lambda r: r.get("server_cpu_us_per_delivery")),
    ("database CPU us/delivery", lambda r: r.get("database_cpu_us_per_delivery")),
    ("server + database CPU us/delivery", _both_cpu),
    ("messages per commit", lambda r: r.get("messages_per_commit")),
    ("commit ms (mean, each instance's own)", lambda r: r.get("commit_ms_mean")),
    ("load generator busy", lambda r: r.get("busy")),
]


def fmt(value: float | None) -> str:
    if value is None:
        return "n/a"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.3g}" if value else "0"


def _value(results: dict, label: str, scenario: str, get) -> float | None:
    try:
        return get(results[label][scenario])
    except (KeyError, TypeError, ZeroDivisionError):
        return None


#: Rows that say what ran (idle-100000's connections and processes differ between the
#: peer and a server of workers), not a figure to compare with the peer's.
COUNTS = {("idle-100000", "connections"), ("idle-100000", "server processes")}


def table(results: dict) -> str:
    labels = [label for label in results if label != "peer"]
    head = "| scenario | metric | peer | " + " | ".join(f"{name} | vs peer" for name in labels)
    lines = [head + " |", "|" + " --- |" * (3 + 2 * len(labels))]
    shown = set()
    for scenario, metric, get in ROWS:
        ours = [_value(results, label, scenario, get) for label in labels]
        if all(value is None for value in ours) and scenario not in results.get("peer", {}):
            continue  # not run (--only, or a cluster scenario without PostgreSQL)
        peer = _value(results, "peer", PEER_SCENARIO.get(scenario, scenario), get)
        cells = [scenario, metric, fmt(peer)]
        for value in ours:
            ratio = f"{value / peer:.2f}x" if value is not None and peer else "n/a"
            if (scenario, metric) in COUNTS:
                ratio = ""  # what was run, not how well
            cells += [fmt(value), ratio]
        lines.append("| " + " | ".join(cells) + " |")
        shown.add(scenario)
    if not shown:
        return ""  # only scenarios with tables of their own (rooms) ran
    for scenario in sorted(shown & PEER_SCENARIO.keys()):
        original = PEER_SCENARIO[scenario]
        lines += ["", f"({scenario} is compared with the peer's {original}: the same load.)"]
    return "\n".join(lines)


#: (one instance, the cluster) scenario pairs, each shown as a table by `cluster_table`.
CLUSTER_PAIRS = [
    ("fanout-100", "cluster-fanout-100"),
    ("fanout-100-fixed-rate", "cluster-fanout-100-fixed-rate"),
]


def cluster_tables(results: dict, label: str = "postgres") -> str | None:
    """Every cluster scenario that ran beside its one-instance twin."""
    tables = [cluster_table(results, label, one, many) for one, many in CLUSTER_PAIRS]
    shown = [table for table in tables if table is not None]
    return "\n\n".join(shown) if shown else None


def cluster_table(
    results: dict,
    label: str = "postgres",
    single: str = "fanout-100",
    scenario: str = "cluster-fanout-100",
) -> str | None:
    """`scenario` (a cluster) beside `single` on the same backend: what the cluster
    costs."""
    cluster = results.get(label, {}).get(scenario)
    if cluster is None:
        return None
    instances, cpus = cluster.get("instances", "?"), cluster.get("server_cpus", "?")
    bus = {"postgres": "LISTEN/NOTIFY", "redis": "Redis"}.get(cluster.get("bus"), "?")
    lines = [
        f"{scenario} ({instances} instances on CPUs {cpus}, woken over {bus}) "
        f"against {single} (1 instance on CPU {SERVER_CPU}), {label}:",
        "",
        f"| metric | 1 instance | {instances} instances | ratio |",
        "| --- | --- | --- | --- |",
    ]
    for metric, get in CLUSTER_ROWS:
        one = _value(results, label, single, get)
        many = _value(results, label, scenario, get)
        ratio = f"{many / one:.2f}x" if many is not None and one else "n/a"
        lines.append(f"| {metric} | {fmt(one)} | {fmt(many)} | {ratio} |")
    if LOADGEN_CPU in str(cpus).split(","):
        lines += ["", f"(an instance shared CPU {LOADGEN_CPU} with the load generator)"]
    counters = cluster.get("bus_counters")
    if counters:
        shown = ", ".join(f"{key} {value:,.0f}" for key, value in sorted(counters.items()))
        lines += ["", f"(the bus, summed over the instances: {shown})"]
    return "\n".join(lines)


def rooms_table(results: dict) -> str | None:
    """rooms-50x20 beside rooms-50x20-plain, per backend: what activity frames cost."""
    labels = [
        label
        for label in results
        if "rooms-50x20" in results[label] and "rooms-50x20-plain" in results[label]
    ]
    if not labels:
        return None
    lines = [
        "rooms: 1,000 /ws users in 50 rooms of 20, 200 messages/s; plain (members of their "
        "own room only) and with activity (each also a member of 2 other rooms):",
        "",
        "| metric | "
        + " | ".join(f"{label} plain | {label} activity | difference" for label in labels)
        + " |",
        "|" + " --- |" * (1 + 3 * len(labels)),
    ]
    for metric, get in ROOMS_ROWS:
        cells = [metric]
        for label in labels:
            plain = _value(results, label, "rooms-50x20-plain", get)
            busy = _value(results, label, "rooms-50x20", get)
            difference = busy - plain if plain is not None and busy is not None else None
            cells += [fmt(plain), fmt(busy), fmt(difference)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


THREAD_ROWS = [
    ("messages/s", lambda r: r["achieved_msgs_per_s"]),
    ("message deliveries/s", lambda r: r["deliveries_per_s"]),
    ("lost", lambda r: r["lost"]),
    ("p50 latency ms", lambda r: r["latency_us"]["p50"] / 1000),
    ("p99 latency ms", lambda r: r["latency_us"]["p99"] / 1000),
    ("server CPU us/message", lambda r: r.get("server_cpu_us_per_message")),
    ("server CPU us/message delivery", lambda r: r.get("server_cpu_us_per_delivery")),
    ("database CPU us/message", lambda r: _per_message(r, "database_cpu_seconds")),
]


def threads_table(results: dict) -> str | None:
    """thread-100 beside room-100, per backend: what a thread reply costs over a room
    message (the target: within 5%)."""
    labels = [
        label
        for label in results
        if "thread-100" in results[label] and "room-100" in results[label]
    ]
    if not labels:
        return None
    lines = [
        "threads: one room of 100 /ws members, its first member sending as fast as 100 "
        "in flight allow, as room messages and as replies in one thread:",
        "",
        "| metric | "
        + " | ".join(f"{label} room | {label} thread | change" for label in labels)
        + " |",
        "|" + " --- |" * (1 + 3 * len(labels)),
    ]
    for metric, get in THREAD_ROWS:
        cells = [metric]
        for label in labels:
            room = _value(results, label, "room-100", get)
            thread = _value(results, label, "thread-100", get)
            change = f"{(thread - room) / room:+.1%}" if room and thread is not None else "-"
            cells += [fmt(room), fmt(thread), change]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
