"""The upgrade docs/DEPLOYMENT.md describes ("Upgrading"), done for real: the previous
release's code, taken from this repository's history, serves a PostgreSQL schema; this
code starts beside it on the same database and applies its new migrations; both serve
one chat; then the old instance stops and the new one goes on.

The previous release is the commit CHANGELOG.md names for it (`PREVIOUS_RELEASE`). Its
code is run as it was, as a separate process (``python -m chat serve`` with its files
first on the path), on this environment's packages. Without the repository's history
(a shallow clone, a copy of the files) the test skips, and fails under CI=true.
"""

from __future__ import annotations

import re
import secrets
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import trio
from cluster import (
    LISTENING,
    Instance,
    instance_config,
    start_instance,
    wait_for_log,
)
from support import (
    account,
    chat_environ,
    http_client,
    in_ci,
    open_clients,
    throwaway_postgres_schema,
)

from chat.core.config import Config
from chat.store.migrations import load_migrations

ROOT = Path(__file__).resolve().parent.parent

#: The last commit of the previous release, 0.2.0 (CHANGELOG.md names it too).
PREVIOUS_RELEASE = "98a7ab7659088c410ebb6d345969e1f6be07a6d2"
PREVIOUS_VERSION = "0.2.0"


def _previous_release_or_skip(into: Path) -> Path:
    """The previous release's chat/, sql/ and pyproject.toml, extracted under `into`."""
    archive = into / "previous.tar"
    paths = ["chat", "sql", "pyproject.toml"]
    try:
        done = subprocess.run(
            ["git", "-C", str(ROOT), "archive", f"--output={archive}", PREVIOUS_RELEASE, *paths],
            capture_output=True,
            text=True,
            check=False,
        )
        problem = done.stderr.strip() if done.returncode != 0 else None
    except OSError as error:  # no git
        problem = str(error)
    if problem is not None:
        message = (
            f"the previous release's commit {PREVIOUS_RELEASE[:12]} is not in {ROOT}'s git"
            f" history (a shallow clone? fetch it whole): {problem}"
        )
        if in_ci():
            pytest.fail(message + " (CI=true: the upgrade test must run)")
        pytest.skip(message)
    previous = into / "previous"
    with tarfile.open(archive) as tar:
        tar.extractall(previous, filter="data")
    return previous


async def _start_previous(config: Config, previous: Path, log_path: Path) -> Instance:
    """`chat serve` of the previous release: its files first on the path, and run from
    its directory (``python -m`` puts the working directory first: never this checkout)."""
    environ = chat_environ(config, PYTHONPATH=str(previous))
    which = await trio.run_process(
        [sys.executable, "-c", "import chat, chat.server.serving; print(chat.__file__)"],
        env=environ,
        cwd=previous,
        capture_stdout=True,
        capture_stderr=True,
        check=False,
    )
    assert which.returncode == 0, f"the previous release does not import:\n{which.stderr!r}"
    assert Path(which.stdout.decode().strip()).is_relative_to(previous)
    with log_path.open("wb") as log:
        process = await trio.lowlevel.open_process(
            [sys.executable, "-m", "chat", "serve"],
            env=environ,
            cwd=previous,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
        )
    instance = Instance(process, log_path, config=config)
    match = await wait_for_log(instance, LISTENING, f"the previous release ({log_path.name})")
    instance.host, instance.port = match.group(1).decode(), int(match.group(2))
    return instance


def _new_migrations(previous: Path) -> list[str]:
    """The PostgreSQL migrations this code has and the previous release had not."""
    before = {path.stem for path in (previous / "sql" / "postgres").glob("*.sql")}
    return [m.label for m in load_migrations("postgres") if m.label not in before]


async def _serves(instance: Instance) -> None:
    async with http_client(instance.server) as client:
        response = await client.get("/readyz")
    assert response.status_code == 200, (response.text, instance.log)


async def _talk(speaker: Instance, listener: Instance, text: str) -> None:
    """A TokenTalker message sent through `speaker` reaches a talker on `listener` (two
    new accounts, registered through each)."""
    tag = secrets.token_hex(4)
    alice = await account(speaker.server, f"alice-{tag}")
    bob = await account(listener.server, f"bob-{tag}")
    async with open_clients(speaker.server) as on_s, open_clients(listener.server) as on_l:
        talking = await on_s.talker(token=alice.token, name=alice.name)
        hearing = await on_l.talker(token=bob.token, name=bob.name)
        await talking.say(text)
        heard = await hearing.receive()
        assert (heard["name"], heard["message"]) == (alice.name, text)


async def test_the_previous_release_and_this_one_serve_one_chat_until_the_old_one_stops(
    tmp_path: Path,
) -> None:
    previous = _previous_release_or_skip(tmp_path)
    new_migrations = _new_migrations(previous)
    declared = {m.label for m in load_migrations("postgres") if m.compatible_with_older_code}
    # A release with a migration older code cannot run on is upgraded by stopping every
    # instance first (docs/DEPLOYMENT.md): this test, and CHANGELOG.md, must say so then.
    assert set(new_migrations) <= declared, (
        f"{sorted(set(new_migrations) - declared)} are not declared compatible with older"
        f" code: {PREVIOUS_VERSION} cannot keep serving while they are applied"
    )
    async with throwaway_postgres_schema() as url:
        old = await _start_previous(
            instance_config(tmp_path, url, 1), previous, tmp_path / "previous.log"
        )
        new: Instance | None = None
        try:
            await _serves(old)
            new = await start_instance(instance_config(tmp_path, url, 2), tmp_path / "new.log")
            for label in new_migrations:
                assert re.search(rf"migration applied migration={label} engine=postgres", new.log)
            await _serves(old)
            await _serves(new)
            await _talk(old, new, f"from {PREVIOUS_VERSION} to this release")
            await _talk(new, old, f"from this release to {PREVIOUS_VERSION}")

            assert await old.stop() == 0, old.log
            await _serves(new)
            await _talk(new, new, "after the previous release stopped")
        finally:
            with trio.CancelScope(shield=True):
                for instance in (old, new):
                    if instance is not None and instance.running:
                        await instance.stop()
        assert await new.stop() == 0, new.log
