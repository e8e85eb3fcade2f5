"""bench/task_steps/sitecustomize.py: a Python process started with its directory on
PYTHONPATH counts its Trio task steps by task name, and its scheduler passes, when
`CHAT_BENCH_TASK_STEPS` names a file, and writes them there at exit; without it, nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

HOOK = Path(__file__).resolve().parent.parent / "bench" / "task_steps"

#: A Trio program whose task steps are known: `ticker` yields ten times.
PROGRAM = """
import trio

async def ticker():
    for _ in range(10):
        await trio.lowlevel.checkpoint()

async def main():
    async with trio.open_nursery() as nursery:
        nursery.start_soon(ticker, name="ticker")

trio.run(main)
"""

pytestmark = pytest.mark.server  # a child process


def _run(environ: dict[str, str]) -> None:
    env = {k: v for k, v in os.environ.items() if k != "CHAT_BENCH_TASK_STEPS"}
    env["PYTHONPATH"] = os.pathsep.join([str(HOOK), env.get("PYTHONPATH", "")])
    env.update(environ)
    subprocess.run([sys.executable, "-c", PROGRAM], env=env, check=True, timeout=60)


def test_each_tasks_steps_are_counted_by_its_name(tmp_path: Path) -> None:
    out = tmp_path / "steps.json"
    _run({"CHAT_BENCH_TASK_STEPS": str(out)})
    counts = json.loads(out.read_text())
    assert counts["steps"]["ticker"] == 11  # its first step, then one after each yield
    assert sum(counts["passes"].values()) >= 11  # a pass of the scheduler for each


def test_without_the_variable_the_program_runs_and_nothing_is_written(tmp_path: Path) -> None:
    _run({})
    assert list(tmp_path.iterdir()) == []
