"""How the scenarios of requests are measured: history (the load generator asking for the
lobby's last messages), history-changed (GET /messages over plain, then edited and
reacted-to messages: the server's CPU per request) and auth (tokens issued per second).
"""

from __future__ import annotations

import http.client
import json
import time
from pathlib import Path

from message_runs import run_loadgen
from targets import PASSWORD, Target, http_post


def history(target: Target, loadgen: Path, tokens: Path, a: dict) -> dict:
    # Seed the lobby so every request really returns `count` messages.
    run_loadgen(
        loadgen,
        ["fanout", "127.0.0.1", str(target.port), "1", "1", "0", "1", "0.5", str(tokens)],
        timeout=60,
    )
    return run_loadgen(
        loadgen,
        [
            "history",
            "127.0.0.1",
            str(target.port),
            str(a["seconds"]),
            str(tokens),
            str(a["count"]),
        ],
        timeout=a["seconds"] + 60,
    )


def request_with_token(
    conn: http.client.HTTPConnection, method: str, path: str, token: str
) -> bytes:
    """`method` `path` on `conn` with `token` as its bearer: the answer's body (raises if
    the status is 300 or more)."""
    conn.request(method, path, headers={"Authorization": f"Bearer {token}"})
    response = conn.getresponse()
    body = response.read()
    if response.status >= 300:
        raise RuntimeError(f"{method} {path}: {response.status} {body[:200]!r}")
    return body


def _history_loop(target: Target, path: str, token: str, seconds: float) -> dict:
    """GET `path` in a closed loop on one keep-alive connection for `seconds`: latency
    percentiles and the server's CPU per request."""
    conn = http.client.HTTPConnection("127.0.0.1", target.port, timeout=30)
    request_with_token(conn, "GET", path, token)  # warm: the connection, the statement cache
    latencies = []
    cpu_before = target.cpu_seconds()
    started = time.perf_counter()
    while time.perf_counter() - started < seconds:
        sent = time.perf_counter()
        request_with_token(conn, "GET", path, token)
        latencies.append(time.perf_counter() - sent)
    cpu = target.cpu_seconds() - cpu_before
    conn.close()
    latencies.sort()
    return {
        "requests": len(latencies),
        "p50_ms": round(latencies[len(latencies) // 2] * 1000, 3),
        "p99_ms": round(latencies[int(len(latencies) * 0.99)] * 1000, 3),
        "server_cpu_us_per_request": round(cpu / len(latencies) * 1e6, 1),
    }


def history_changed(target: Target, tokens: Path, a: dict) -> dict:
    """A page of `count` plain messages, then the same page once every message is edited
    and has three reactions (the target: the second costs at most 1.2x the first)."""
    alice, bob, carol = tokens.read_text().split()[:3]
    conn = http.client.HTTPConnection("127.0.0.1", target.port, timeout=30)
    lobby = json.loads(request_with_token(conn, "GET", "/rooms", alice))[0]
    ids = []
    for i in range(a["count"]):
        conn.request(
            "POST",
            f"/messages/{lobby}",
            body=json.dumps({"Text": f"status update {i}: the build is green"}),
            headers={"Authorization": f"Bearer {alice}", "Content-Type": "application/json"},
        )
        response = conn.getresponse()
        ids.append(json.loads(response.read())["MessageID"])
    conn.close()
    path = f"/messages/{lobby}?limit={a['count']}"
    plain = _history_loop(target, path, alice, a["seconds"])
    # A new connection: the server closes one left idle while the loop ran.
    conn = http.client.HTTPConnection("127.0.0.1", target.port, timeout=30)
    for message_id in ids:
        conn.request(
            "PATCH",
            f"/messages/{lobby}/{message_id}",
            body=json.dumps({"Text": f"status update {message_id}: the build is green (edited)"}),
            headers={"Authorization": f"Bearer {alice}", "Content-Type": "application/json"},
        )
        conn.getresponse().read()
        for token, emoji in ((alice, "%F0%9F%91%8D"), (bob, "%F0%9F%91%8D"), (carol, ":ok:")):
            request_with_token(
                conn, "PUT", f"/messages/{lobby}/{message_id}/reactions/{emoji}", token
            )
    conn.close()
    changed = _history_loop(target, path, alice, a["seconds"])
    return {
        "mode": "history_changed",
        "count": a["count"],
        "plain": plain,
        "changed": changed,
        "cpu_ratio": round(
            changed["server_cpu_us_per_request"] / plain["server_cpu_us_per_request"], 3
        ),
        "p50_ratio": round(changed["p50_ms"] / plain["p50_ms"], 3),
    }


def auth(target: Target, a: dict) -> dict:
    """Tokens issued per second through POST /auth, two requests at a time."""
    from concurrent.futures import ThreadPoolExecutor

    def log_in(_: int) -> int:
        return http_post(target.port, "/auth", {"name": "bench0", "password": PASSWORD})[0]

    started = time.monotonic()
    with ThreadPoolExecutor(2) as pool:
        statuses = list(pool.map(log_in, range(a["requests"])))
    elapsed = time.monotonic() - started
    assert statuses == [200] * a["requests"], statuses
    return {
        "mode": "auth",
        "requests": a["requests"],
        "tokens_per_s": round(a["requests"] / elapsed, 2),
    }
