"""The container smoke test's client side: run the image, talk to it, stop it, rerun it.

Run by .ci/container-smoke after it has built the image (with podman configured by
.ci/podman-env); needs the test extra (httpx, trio-websocket). It checks, against the
real image:

1. the image keeps its HEALTHCHECK (built with ``--format docker``) and has the `redis`
   and `s3` extras, and the container becomes healthy on /livez, which names the commit
   it was built from;
2. a user registers over HTTP, and a message sent over one WebSocket reaches another;
3. ``podman stop`` (SIGTERM) ends the container with exit code 0, and both WebSocket
   clients get close code 1001;
4. a new container on the same named volume still knows the user and the message.

Every container and volume it makes is removed at the end, whatever happened.
"""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import trio
from smoke_support import (
    MESSAGE,
    SmokeFailure,
    check,
    close_code_after,
    container_logs,
    free_port,
    history_of,
    log_in,
    message_crosses,
    podman,
    register,
    run_smoke,
    step,
    until_live,
    websocket_url,
)
from trio_websocket import WebSocketConnection, open_websocket_url


class Container:
    """One `chat serve` container of the image, on a named volume and a port of the host."""

    def __init__(self, image: str, name: str, volume: str) -> None:
        self.image = image
        self.name = name
        self.volume = volume
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        await podman(
            "run", "-d", "--name", self.name,
            "-p", f"127.0.0.1:{self.port}:9000",
            "-v", f"{self.volume}:/var/lib/chat",
            self.image,
        )  # fmt: skip

    async def until_live(self) -> None:
        """Waits until the server answers /livez."""

        async def running() -> bool:
            return await podman("inspect", "-f", "{{.State.Running}}", self.name) == "true"

        try:
            await until_live(self.url, running)
        except SmokeFailure as failure:
            raise SmokeFailure(f"{self.name}: {failure}:\n{await self.logs()}") from None

    async def stop(self) -> int:
        """`podman stop` (SIGTERM, then SIGKILL after 30 s); the container's exit code."""
        await podman("stop", "-t", "30", self.name)
        return int(await podman("inspect", "-f", "{{.State.ExitCode}}", self.name))

    async def logs(self) -> str:
        return await container_logs(self.name)


async def chat_then_stop(container: Container, alice: str, bob: str) -> None:
    """Alice's message reaches Bob; then `podman stop` closes both with 1001 and exits 0."""
    async with (
        open_websocket_url(websocket_url(container.url, alice)) as alice_ws,
        open_websocket_url(websocket_url(container.url, bob)) as bob_ws,
    ):
        await message_crosses(alice_ws, bob_ws)
        step("a message sent over one WebSocket reached the other")

        codes: dict[str, int | None] = {}

        async def watch(who: str, ws: WebSocketConnection) -> None:
            codes[who] = await close_code_after(ws)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(watch, "alice", alice_ws)
            nursery.start_soon(watch, "bob", bob_ws)
            began = time.monotonic()
            exit_code = await container.stop()
        step(f"podman stop took {time.monotonic() - began:.1f} s")
    check(exit_code == 0, f"the container exited {exit_code}:\n{await container.logs()}")
    check(codes == {"alice": 1001, "bob": 1001}, f"close codes at podman stop: {codes}")
    step("podman stop: exit code 0, both clients closed with 1001")


@asynccontextmanager
async def removed_at_end(image: str) -> AsyncIterator[tuple[str, str]]:
    """A container name prefix and a volume name, both removed on the way out."""
    prefix = f"chat-smoke-{os.getpid()}"
    volume = f"{prefix}-data"
    names = [f"{prefix}-1", f"{prefix}-2"]
    try:
        yield prefix, volume
    finally:
        # Shielded: a cancelled run (Ctrl-C) must still clean up after itself.
        with trio.CancelScope(shield=True):
            for name in names:
                await podman("rm", "-f", name, check_status=False)
            await podman("volume", "rm", "-f", volume, check_status=False)


async def single(image: str) -> None:
    healthcheck = await podman("image", "inspect", "-f", "{{.Config.Healthcheck}}", image)
    check("livez" in healthcheck, f"the image has no HEALTHCHECK on /livez: {healthcheck!r}")
    step("the image keeps its HEALTHCHECK")
    # The Redis bus's and the S3 storage's clients: the `redis` and `s3` extras.
    await podman("run", "--rm", image, "python", "-c", "import coredis, boto3")
    step("the image has the redis and s3 extras (coredis, boto3)")

    async with removed_at_end(image) as (prefix, volume):
        first = Container(image, f"{prefix}-1", volume)
        began = time.monotonic()
        await first.start()
        await first.until_live()
        step(f"the server answered after {time.monotonic() - began:.1f} s")
        # Exits 0 only when the HEALTHCHECK's command (python, /livez, $CHAT_PORT) did.
        await podman("healthcheck", "run", first.name)
        step("podman healthcheck run: healthy")
        # The commit the image was built from (the CHAT_REVISION build argument).
        version = await live_version(first.url)
        revision = os.environ.get("CHAT_REVISION", "")
        check(
            not revision or version.endswith(f"+g{revision[:7]}"),
            f"/livez says version {version!r}, not built from {revision!r}",
        )
        step(f"/livez names the build: {version}")

        alice = await register(first.url, "alice")
        bob = await register(first.url, "bob")
        step("registered alice and bob over HTTP")
        await chat_then_stop(first, alice, bob)

        second = Container(image, f"{prefix}-2", volume)
        await second.start()
        await second.until_live()
        token = await log_in(second.url, "alice")
        latest = await history_of(second.url, token)
        check(latest.get("message") == MESSAGE, f"the new container's history: {latest}")
        step("a new container on the same volume knows alice and her message")
        await second.stop()


async def live_version(url: str) -> str:
    """The version /livez says the server runs."""
    async with httpx.AsyncClient(base_url=url, timeout=5) as client:
        answer = await client.get("/livez")
    return str(answer.json().get("version"))


if __name__ == "__main__":
    run_smoke(single, __doc__)
