"""The browser client through a rolling restart behind nginx: two instances, each
restarted in turn (SIGTERM, drain, start again) while two pages are open. Each page is
told 1012 by the instance it was on, connects again at once (through nginx, to the other),
resumes, and goes on chatting without a reload."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trio
from browser import in_browser, open_client
from cluster import Instance, Nginx, open_cluster, start_nginx
from support import throwaway_postgres_schema
from test_browser import _no_script_errors
from test_rolling_restart import DRAIN_S, restart


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[tuple[Nginx, list[Instance]]]:
    async with (
        throwaway_postgres_schema() as url,
        open_cluster(tmp_path, url, 2, drain_seconds=DRAIN_S) as instances,
    ):
        nginx = await start_nginx(tmp_path, [(i.host, i.port) for i in instances])
        running = list(instances)
        try:
            yield nginx, running
        finally:
            with trio.CancelScope(shield=True):
                await nginx.stop()
                for instance in running:
                    if instance not in instances:
                        await instance.stop()


async def test_the_browser_client_chats_on_through_a_rolling_restart(
    site: tuple[Nginx, list[Instance]], tmp_path: Path
) -> None:
    nginx, running = site
    token = trio.lowlevel.current_trio_token()  # the scenario runs in the browser's thread

    async def restart_every_instance() -> None:
        for number, instance in enumerate(list(running)):
            log_path = tmp_path / f"instance-{number + 1}-restarted.log"
            running[number] = await restart(instance, log_path)

    def scenario(browser):
        alice = open_client(browser, nginx.server.http)
        alice.register("alice")
        bob = open_client(browser, nginx.server.http)
        bob.register("bob")
        alice.say("before the restart")
        bob.wait_for_message("before the restart")
        pages_loaded = [c.requests.count("GET ") for c in (alice, bob)]  # GET /
        trio.from_thread.run(restart_every_instance, trio_token=token)
        for client in (alice, bob):
            client.wait_online()
        alice.say("after the restart")
        bob.wait_for_message("after the restart")
        bob.say("still here")
        alice.wait_for_message("still here")
        expected = ["before the restart", "after the restart", "still here"]
        assert alice.message_texts() == bob.message_texts() == expected
        for client, loaded in zip((alice, bob), pages_loaded, strict=True):
            # Back in the room with SinceID, on a new socket, and never reloaded.
            enters = [
                f for f in client.frames_sent if isinstance(f, dict) and f.get("Type") == "enter"
            ]
            assert len(enters) >= 2 and "SinceID" in enters[-1]
            assert (
                len([r for r in client.requests if r.startswith("GET ") and r.endswith(" ")])
                == loaded
            )
        _no_script_errors(alice, bob)

    await in_browser(scenario)
