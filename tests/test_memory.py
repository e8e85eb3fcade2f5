"""What a `chat serve` process holds: the opt-in snapshots (CHAT_TRACEMALLOC, SIGUSR2) and
what many short connections leave behind (the soak, bench/soak.py)."""

from __future__ import annotations

import json
import signal
import tracemalloc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import trio
from cluster import Instance, start_instance
from support import STEP, Server, register
from trio_websocket import WebSocketConnection, open_websocket_url

from chat.core.config import Config
from chat.store.postgres.aio_bridge import MIN_CANCELLED_TIMERS


@asynccontextmanager
async def chat_serve(config: Config, snapshots: Path) -> AsyncIterator[Instance]:
    """`chat serve` as a process on `config`'s database, tracing its allocations into
    `snapshots` (CHAT_TRACEMALLOC); stopped when the block ends."""
    config = config.replace(tracemalloc_dir=snapshots, rate_limits=False, bcrypt_cost=4)
    instance = await start_instance(config, snapshots.parent / "serve.log", "--port", "0")
    try:
        yield instance
    finally:
        with trio.CancelScope(shield=True):
            await instance.stop()


async def snapshot(instance: Instance, number: int) -> dict[str, list[int]]:
    """Ask for snapshot `number` (SIGUSR2); the object counts written with it."""
    snapshots, pid = instance.config.tracemalloc_dir, instance.process.pid
    assert snapshots is not None
    objects = snapshots / f"objects-{pid}-{number}.json"
    pickle = snapshots / f"tracemalloc-{pid}-{number}.pickle"
    instance.process.send_signal(signal.SIGUSR2)
    with trio.fail_after(STEP * 3):
        while not pickle.exists():  # noqa: ASYNC110 (another process writes it)
            await trio.sleep(0.05)
    counts: dict[str, list[int]] = json.loads(objects.read_text())
    return counts


async def _until(ws: WebSocketConnection, **wanted: object) -> dict[str, object]:
    """Frames until one with every key of `wanted` at its value."""
    while True:
        frame: dict[str, object] = json.loads(await ws.get_message())
        if all(frame.get(key) == value for key, value in wanted.items()):
            return frame


async def live_short_lives(server: Server, token: str, lives: int) -> None:
    """Connect, enter the lobby, send with a ClientMsgID, type, mark read, close, `lives`
    times (bench/soak.py's life)."""
    for life in range(lives):
        with trio.fail_after(STEP):
            async with open_websocket_url(f"{server.ws('/ws')}?token={token}") as ws:
                await ws.send_message(json.dumps({"Type": "enter", "RoomID": 1}))
                await _until(ws, Type="entered")
                sent = {"Type": "message", "Text": f"life {life}", "ClientMsgID": f"m-{life}"}
                await ws.send_message(json.dumps(sent))
                mine = await _until(ws, Type="message", ClientMsgID=sent["ClientMsgID"])
                await ws.send_message(json.dumps({"Type": "typing"}))
                marker = {"Type": "read", "RoomID": 1, "MessageID": mine["MessageID"]}
                await ws.send_message(json.dumps(marker))
                await _until(ws, Type="read", MessageID=mine["MessageID"])


async def test_sigusr2_writes_a_tracemalloc_snapshot_with_object_counts(
    tmp_path: Path, config: Config
) -> None:
    snapshots = tmp_path / "snapshots"
    async with chat_serve(config, snapshots) as instance:
        counts = await snapshot(instance, 1)
    assert counts["dict"][0] > 0  # [objects, shallow bytes] by type
    pickle = snapshots / f"tracemalloc-{instance.process.pid}-1.pickle"
    taken = tracemalloc.Snapshot.load(str(pickle))
    assert sum(stat.size for stat in taken.statistics("filename")) > 1_000_000


async def test_short_lives_on_postgres_leave_no_cancelled_timers_behind(
    tmp_path: Path, postgres_config: Config
) -> None:
    # asyncpg sets two timers per query and cancels both (one was for five minutes);
    # trio-asyncio kept cancelled timers until due unless chat/store/postgres/aio_bridge.py
    # drops them. Before that, 150 lives left about 2,500 TimerHandles behind.
    snapshots = tmp_path / "snapshots"
    async with chat_serve(postgres_config, snapshots) as instance:
        token = await register(instance.server, "soaker")
        await live_short_lives(instance.server, token, 150)
        counts = await snapshot(instance, 1)
    timers, _size = counts.get("TimerHandle", [0, 0])
    assert timers < 3 * MIN_CANCELLED_TIMERS
