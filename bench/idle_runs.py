"""How the idle scenarios are measured: idle-N's connections held open (the server's
memory per connection), and idle-100000's crowd of authenticated connections in the lobby
(memory, the kernel's share, how fast they got in, how long a message takes to reach all).
"""

from __future__ import annotations

import http.client
import json
import os
import re
import subprocess
import time
from pathlib import Path

from crowd_shards import CrowdShards
from request_runs import request_with_token
from targets import (
    FD_HEADROOM,
    IDLE_CONNECT_TIMEOUT_S,
    LOADGEN_CPU,
    Target,
    Workers,
    raise_fd_limit,
    tokens_for,
)

#: The longest idle-100000 may take to let its connections in (handshake, token, room).
CROWD_CONNECT_TIMEOUT_S = 600.0


def idle(target: Target, loadgen: Path, a: dict) -> dict:
    import select

    time.sleep(0.5)
    before = target.rss_kib()
    process = subprocess.Popen(
        [
            "taskset",
            "-c",
            LOADGEN_CPU,
            str(loadgen),
            "idle",
            "127.0.0.1",
            str(target.port),
            str(a["connections"]),
            "60",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # Bounded: a server that stops accepting must not hang the run.
        ready, _, _ = select.select([process.stdout], [], [], IDLE_CONNECT_TIMEOUT_S)
        if not ready:
            process.kill()
            raise RuntimeError(f"loadgen idle: not connected after {IDLE_CONNECT_TIMEOUT_S} s")
        line = process.stdout.readline()
        if not line:
            raise RuntimeError(f"loadgen idle failed: {process.stderr.read()}")
        result = json.loads(line)
        time.sleep(2.0)  # let the server settle with every connection open
        after = target.rss_kib()
    finally:
        process.stdin.close()
        process.wait(30)
    result.update(
        rss_before_kib=before,
        rss_after_kib=after,
        kib_per_connection=round((after - before) / a["connections"], 2),
    )
    return result


def kernel_memory_kib() -> dict[str, int]:
    """What the kernel holds for sockets, machine-wide (both ends of every loopback
    connection, and anything else running): slab memory (sockets, their inodes and
    files, epoll items; /proc/meminfo) and the pages queued in TCP buffers
    (/proc/net/sockstat). None of it is in any process's RSS."""
    meminfo = Path("/proc/meminfo").read_text()
    slab = int(re.search(r"^SUnreclaim:\s+(\d+)", meminfo, re.M).group(1))
    slab += int(re.search(r"^SReclaimable:\s+(\d+)", meminfo, re.M).group(1))
    pages = int(
        re.search(r"^TCP:.* mem (\d+)", Path("/proc/net/sockstat").read_text(), re.M).group(1)
    )
    return {"slab": slab, "tcp_buffers": pages * os.sysconf("SC_PAGE_SIZE") // 1024}


def crowd(target: Target, loadgen: Path, tmp: Path, a: dict) -> dict:
    """idle-100000: `connections` clients, each from a source address of its own in
    127.0.0.0/8, authenticated with one of `users` users' tokens and in the lobby (chat:
    /ws, entered without presence frames; the peer, which speaks TokenTalker only: "/"
    after ``auth``). The server's RSS before, once all are in, and after `samples`
    messages sent to the lobby one at a time, each timed until every connection has it.
    The clients are as many load generators as the open-files limit needs
    (bench/crowd_shards.py); a server of several processes (`Workers`) is measured
    whole."""
    connections = a["connections"] if isinstance(target, Workers) else a["one_process"]
    tokens = tokens_for(target, a["users"], tmp)
    if target.label == "peer":
        dialect, lobby = "tokentalker", 0  # everyone on "/" hears the lobby
    else:
        first = tokens.read_text().split()[0]
        conn = http.client.HTTPConnection("127.0.0.1", target.port, timeout=30)
        dialect, lobby = "rooms", json.loads(request_with_token(conn, "GET", "/rooms", first))[0]
        conn.close()
    time.sleep(0.5)
    before, kernel_before = target.rss_kib(), kernel_memory_kib()
    start = ["taskset", "-c", LOADGEN_CPU, str(loadgen), "crowd", "127.0.0.1", str(target.port)]
    per_process = raise_fd_limit() - FD_HEADROOM
    with CrowdShards(start, [dialect, str(tokens), str(lobby)], connections, per_process) as shards:
        ready = shards.ready(CROWD_CONNECT_TIMEOUT_S)
        time.sleep(2.0)  # let the server settle with every connection in
        after, kernel_after = target.rss_kib(), kernel_memory_kib()
        # Each message is given 30 s to reach everyone (None: it did not), then a pause.
        samples_ms = []
        for k in range(a["samples"]):
            samples_ms.append(shards.send(k, timeout=30.0))
            time.sleep(0.5)
        result = shards.report(a["samples"])
        after_messages = target.rss_kib()  # the connections are still open
    # The load generators start together: the crowd is in when the last one is.
    connect_s = max(line["connect_seconds"] for line in ready)
    result.update(
        mode="crowd",
        dialect=dialect,
        connections=connections,
        server_processes=target.processes(),
        load_generators=len(ready),
        connect_seconds=connect_s,
        connects_per_s=round(connections / connect_s, 1),
        samples_ms=samples_ms,
        max_all_ms=max((ms if ms is not None else float("inf")) for ms in samples_ms),
        users=a["users"],
        rss_before_kib=before,
        rss_after_kib=after,
        rss_after_messages_kib=after_messages,
        kib_per_connection=round((after - before) / connections, 2),
        # Both ends are on this machine: per connection, the server's and the client's.
        kernel_kib_per_connection={
            name: round((kernel_after[name] - kernel_before[name]) / connections, 2)
            for name in kernel_after
        },
    )
    return result
