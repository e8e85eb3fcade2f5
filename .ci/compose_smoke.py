"""The compose smoke test: deploy/compose.yaml's PostgreSQL, three instances and nginx.

Run by .ci/container-smoke with the image it built, podman configured by .ci/podman-env,
and in the environment: PODMAN_COMPOSE (the program), and CHAT_POSTGRES_IMAGE and
CHAT_NGINX_IMAGE when the official images cannot be pulled (stand-ins built from
.ci/standins). It brings the file up with one command, waits until the site answers
through nginx, and checks that the three instances are one chat: a message sent through
nginx reaches three connections, which nginx (least_conn) spreads over the instances;
a file uploaded through one instance comes back byte for byte through another (each
asked directly, from inside its own container: the instances listen only in nginx's
network namespace). Then `down` (each instance drains and exits) and `up` again: the
file comes back the same through every instance, from the shared files volume.
Everything it started (containers, their volumes, the network) is removed at the end.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import trio
from smoke_support import (
    START_TIMEOUT_S,
    SmokeFailure,
    check,
    container_logs,
    free_port,
    message_crosses,
    podman,
    register,
    run_smoke,
    step,
    until_live,
    websocket_url,
)
from trio_websocket import open_websocket_url

COMPOSE_FILE = "deploy/compose.yaml"
INSTANCES = ("chat1", "chat2", "chat3")
#: Where each instance listens, in nginx's network namespace.
PORTS = {"chat1": 9001, "chat2": 9002, "chat3": 9003}
#: A file of several storage chunks (256 KiB), and not a whole number of them.
FILE_BYTES = 600_000

#: Run inside an instance's container (python, no other client there): one request to
#: that very instance, argv: port, method, path, Host, token; the body from standard
#: input; writes the status on a line, then the body's bytes as they came.
_REQUEST = """
import sys, urllib.error, urllib.request
port, method, path, host, token = sys.argv[1:6]
data = sys.stdin.buffer.read() if method == "POST" else None
request = urllib.request.Request(
    f"http://127.0.0.1:{port}{path}", data=data, method=method,
    headers={"Host": host, "Authorization": f"Bearer {token}",
             "Content-Type": "application/octet-stream"})
try:
    with urllib.request.urlopen(request, timeout=30) as answer:
        status, body = answer.status, answer.read()
except urllib.error.HTTPError as error:
    status, body = error.code, error.read()
sys.stdout.buffer.write(str(status).encode() + b"\\n" + body)
"""


class Deployment:
    """One `podman-compose up` of deploy/compose.yaml, under a project name of its own."""

    def __init__(self, image: str) -> None:
        self.project = f"chat-smoke-{os.getpid()}"
        port = free_port()
        self.url = f"http://localhost:{port}"
        self.environ = {
            **os.environ,
            "CHAT_IMAGE": image,
            "CHAT_HTTP_PORT": str(port),
            "CHAT_PUBLIC_URL": self.url,
            "POSTGRES_PASSWORD": secrets.token_hex(16),
            "CHAT_JWT_SECRET": secrets.token_hex(32),
        }

    def container(self, service: str) -> str:
        return f"{self.project}_{service}_1"

    async def compose(self, *args: str) -> None:
        done = await trio.run_process(
            [os.environ["PODMAN_COMPOSE"], "-p", self.project, "-f", COMPOSE_FILE, *args],
            env=self.environ,
            capture_stdout=True,
            capture_stderr=True,
            check=False,
        )
        if done.returncode != 0:
            output = (done.stdout + done.stderr).decode(errors="replace")
            command = " ".join(args)
            raise SmokeFailure(f"podman-compose {command} exited {done.returncode}:\n{output}")

    async def ask(
        self, service: str, method: str, path: str, token: str, body: bytes = b""
    ) -> tuple[int, bytes]:
        """One request to the instance `service` itself (not through nginx), made from
        inside its container; the status and the body's bytes."""
        host = self.url.removeprefix("http://")
        done = await trio.run_process(
            ["podman", "exec", "-i", self.container(service), "python", "-c", _REQUEST,
             str(PORTS[service]), method, path, host, token],
            stdin=body,
            capture_stdout=True,
            stderr=subprocess.STDOUT,
            check=False,
        )  # fmt: skip
        status, _, answer = done.stdout.partition(b"\n")
        if done.returncode != 0 or not status.isdigit():
            shown = done.stdout[:2000].decode(errors="replace")
            raise SmokeFailure(f"{method} {path} on {service} failed ({done.returncode}): {shown}")
        return int(status), answer

    async def logs(self) -> str:
        parts = []
        for service in ("postgres", "nginx", *INSTANCES):
            log = await container_logs(self.container(service), tail=20)
            parts.append(f"--- {service}\n{log}")
        return "\n".join(parts)

    async def remove(self) -> None:
        # podman-compose down -v removes the named volumes, not the anonymous ones each
        # instance's VOLUME gets: remove the containers with theirs first.
        for service in ("postgres", "nginx", *INSTANCES):
            await podman("rm", "-f", "-v", self.container(service), check_status=False)
        await self.compose("down", "-v")


@asynccontextmanager
async def deployed(image: str) -> AsyncIterator[Deployment]:
    deployment = Deployment(image)
    try:
        began = time.monotonic()
        await deployment.compose("up", "-d")
        step(f"{COMPOSE_FILE} is up ({time.monotonic() - began:.1f} s)")
        yield deployment
    finally:
        # Shielded: a cancelled run (Ctrl-C) must still clean up after itself.
        with trio.CancelScope(shield=True):
            await deployment.remove()


async def until_every_instance_listens(deployment: Deployment) -> None:
    """Waits until nginx and all three instances answer."""

    async def nginx_running() -> bool:
        state = await podman("inspect", "-f", "{{.State.Running}}", deployment.container("nginx"))
        return state == "true"

    try:
        await until_live(deployment.url, nginx_running)
        # Polling the logs: podman has no event for "this process printed a line".
        with trio.fail_after(START_TIMEOUT_S):
            for service in INSTANCES:
                while True:
                    if "listening on" in await container_logs(deployment.container(service)):
                        break
                    await trio.sleep(0.2)
    except (SmokeFailure, trio.TooSlowError) as failure:
        problem = str(failure) or "an instance never listened"
        raise SmokeFailure(f"{problem}\n{await deployment.logs()}") from None


async def file_comes_back(deployment: Deployment, service: str, token: str, file: dict) -> None:
    """The file `file` (as uploaded: its FileID, and its bytes under "data") through the
    instance `service`, byte for byte."""
    status, body = await deployment.ask(service, "GET", f"/files/{file['FileID']}/f.bin", token)
    check(status == 200, f"downloading through {service}: {status} {body[:300]!r}")
    check(
        body == file["data"],
        f"through {service}: {len(body)} bytes, not the {len(file['data'])} uploaded",
    )


async def compose(image: str) -> None:
    async with deployed(image) as deployment:
        began = time.monotonic()
        await until_every_instance_listens(deployment)
        step(f"nginx and the three instances answer ({time.monotonic() - began:.1f} s)")
        for service in INSTANCES:
            await podman("healthcheck", "run", deployment.container(service))
        step("podman healthcheck run: the three instances are healthy")

        alice = await register(deployment.url, "alice")
        bob = await register(deployment.url, "bob")
        async with (
            open_websocket_url(websocket_url(deployment.url, alice)) as alice_ws,
            open_websocket_url(websocket_url(deployment.url, bob)) as bob_1,
            open_websocket_url(websocket_url(deployment.url, bob)) as bob_2,
            open_websocket_url(websocket_url(deployment.url, bob)) as bob_3,
        ):
            for bob_ws in (bob_1, bob_2, bob_3):
                await message_crosses(alice_ws, bob_ws)
        step("through nginx: registered, and messages reached connections on every instance")

        data = os.urandom(FILE_BYTES)
        status, answer = await deployment.ask("chat1", "POST", "/files?name=f.bin", alice, data)
        check(status == 201, f"uploading through chat1: {status} {answer[:300]!r}")
        file = {**json.loads(answer), "data": data}
        await file_comes_back(deployment, "chat2", alice, file)
        await file_comes_back(deployment, "chat3", alice, file)
        step(f"a file of {FILE_BYTES} bytes uploaded through chat1 came back from chat2 and chat3")

        began = time.monotonic()
        await deployment.compose("down")
        step(f"down: every instance drained and stopped ({time.monotonic() - began:.1f} s)")
        began = time.monotonic()
        await deployment.compose("up", "-d")
        await until_every_instance_listens(deployment)
        step(f"up again: nginx and the three instances answer ({time.monotonic() - began:.1f} s)")
        for service in INSTANCES:
            await file_comes_back(deployment, service, alice, file)
        step("after down and up, the file came back the same from every instance")


if __name__ == "__main__":
    run_smoke(compose, __doc__)
