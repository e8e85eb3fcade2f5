"""What the two smoke tests (.ci/container_smoke.py, .ci/compose_smoke.py) share: podman,
the checks, and a chat client (HTTP accounts, TokenTalker over a WebSocket)."""

from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
from collections.abc import Awaitable, Callable

import httpx
import trio
from trio_websocket import ConnectionClosed, WebSocketConnection, open_websocket_url

PASSWORD = "smoke test password"
MESSAGE = "hello from the container smoke test"
START_TIMEOUT_S = 60.0
FRAME_TIMEOUT_S = 10.0


def run_smoke(test: Callable[[str], Awaitable[None]], description: str) -> None:
    """Runs one smoke test on the image the command line names; a failed check exits 1
    with its message."""
    parser = argparse.ArgumentParser(description=description.splitlines()[0])
    parser.add_argument("image", help="the chat image to test, e.g. localhost/chat-smoke")
    try:
        trio.run(test, parser.parse_args().image)
    except SmokeFailure as failure:
        sys.exit(f"container-smoke: FAILED: {failure}")


def step(text: str) -> None:
    print(f"container-smoke: {text}", flush=True)


class SmokeFailure(Exception):
    """A check failed: the message says which and what was seen instead."""


def check(condition: bool, problem: str) -> None:
    if not condition:
        raise SmokeFailure(problem)


async def podman(*args: str, check_status: bool = True) -> str:
    """Runs podman to the end; its standard output (stripped)."""
    done = await trio.run_process(
        ["podman", *args], capture_stdout=True, capture_stderr=True, check=False
    )
    if check_status and done.returncode != 0:
        raise SmokeFailure(
            f"podman {' '.join(args)} exited {done.returncode}: {done.stderr.decode().strip()}"
        )
    return done.stdout.decode().strip()


async def container_logs(name: str, *, tail: int | None = None) -> str:
    """What a container printed, standard output and error interleaved as podman kept them."""
    lines = ["--tail", str(tail)] if tail is not None else []
    done = await trio.run_process(
        ["podman", "logs", *lines, name], capture_stdout=True, stderr=subprocess.STDOUT, check=False
    )
    return done.stdout.decode(errors="replace")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def register(url: str, name: str) -> str:
    """Registers `name` (spec 002's /api/reg); its token."""
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        answer = await client.post("/api/reg", json={"username": name, "password": PASSWORD})
    check(answer.status_code == 201, f"registering {name}: {answer.status_code} {answer.text}")
    return answer.json()["token"]


async def log_in(url: str, name: str) -> str:
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        answer = await client.post("/api/login", json={"username": name, "password": PASSWORD})
    check(answer.status_code == 200, f"logging {name} in: {answer.status_code} {answer.text}")
    return answer.json()["token"]


def websocket_url(url: str, token: str) -> str:
    return url.replace("http://", "ws://", 1) + f"/?token={token}"


async def next_frame(ws: WebSocketConnection) -> dict:
    with trio.fail_after(FRAME_TIMEOUT_S):
        return json.loads(await ws.get_message())


async def close_code_after(ws: WebSocketConnection) -> int | None:
    """The close code `ws` gets once the server goes away (None: it sent something)."""
    try:
        await ws.get_message()
    except ConnectionClosed as closed:
        return closed.reason.code
    return None


async def history_of(url: str, token: str) -> dict:
    """The lobby's latest message, asked for over TokenTalker (`history 1`)."""
    async with open_websocket_url(websocket_url(url, token)) as ws:
        await ws.send_message(json.dumps({"name": "alice", "message": "history 1"}))
        return await next_frame(ws)


async def until_live(url: str, running: Callable[[], Awaitable[bool]]) -> None:
    """Waits until the server at `url` answers /livez."""
    deadline = trio.current_time() + START_TIMEOUT_S
    async with httpx.AsyncClient(base_url=url, timeout=2) as client:
        while trio.current_time() < deadline:
            try:
                live = await client.get("/livez")
                if live.status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if not await running():
                raise SmokeFailure(f"stopped before answering on {url}")
            await trio.sleep(0.2)
    raise SmokeFailure(f"nothing answered on {url} within {START_TIMEOUT_S:.0f} s")


async def message_crosses(alice: WebSocketConnection, bob: WebSocketConnection) -> None:
    """A lobby message Alice sends reaches Bob."""
    await alice.send_message(json.dumps({"name": "alice", "message": MESSAGE}))
    frame = await next_frame(bob)
    check(frame.get("message") == MESSAGE, f"Bob got {frame} instead of Alice's message")
