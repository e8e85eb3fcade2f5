"""bench/cpu_profile/sitecustomize.py: a Python process started with its directory on
PYTHONPATH and `CHAT_BENCH_CPU_PROFILE` naming a directory samples its Python stack by
CPU time from a SIGUSR1 on, and writes the samples there at exit, with the garbage
collections made meanwhile; before the signal, or without the variable, nothing.
bench/cpu_profile_summary.py sums them by part."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"
HOOK = BENCH / "cpu_profile"
sys.path.insert(0, str(BENCH))

import cpu_profile_summary  # noqa: E402

#: Burns about 0.3 s of CPU in `burn` and makes three full collections, after telling
#: itself to start sampling (or not); with "stop", then stops it, and burns and collects
#: again.
PROGRAM = """
import os, signal, sys, time

def burn():
    started = time.process_time()
    while time.process_time() - started < 0.3:
        sum(range(1000))

def idle():
    started = time.process_time()
    while time.process_time() - started < 0.3:
        sum(range(1000))

def collect(times):
    import gc
    for _ in range(times):
        gc.collect()

collect(2)
if sys.argv[1] == "again":  # a first span (a warm-up), stopped, then the one that counts
    os.kill(os.getpid(), signal.SIGUSR1)
    collect(4)
    os.kill(os.getpid(), signal.SIGUSR2)
if sys.argv[1] in ("start", "stop", "again"):
    os.kill(os.getpid(), signal.SIGUSR1)
burn()
collect(3)
if sys.argv[1] in ("stop", "again"):
    os.kill(os.getpid(), signal.SIGUSR2)
    idle()
    collect(5)
"""


def _run(out: Path | None, start: bool, *, stop: bool = False, again: bool = False) -> None:
    env = {k: v for k, v in os.environ.items() if k != "CHAT_BENCH_CPU_PROFILE"}
    env["PYTHONPATH"] = os.pathsep.join([str(HOOK), env.get("PYTHONPATH", "")])
    if out is not None:
        env["CHAT_BENCH_CPU_PROFILE"] = str(out)
    argument = "again" if again else "stop" if stop else "start" if start else "no"
    subprocess.run([sys.executable, "-c", PROGRAM, argument], env=env, check=True, timeout=60)


@pytest.mark.server  # a child process
def test_the_cpu_after_the_signal_is_sampled_where_it_was_spent(tmp_path: Path) -> None:
    _run(tmp_path, start=True)
    (written,) = tmp_path.glob("cpu-*.txt")
    samples = {}
    for line in written.read_text().splitlines():
        stack, microseconds = line.rsplit(" ", 1)
        samples[stack] = int(microseconds)
    in_burn = sum(us for stack, us in samples.items() if "burn (<string>)" in stack)
    assert 0.25e6 <= in_burn <= 0.4e6  # microseconds of CPU: about the 0.3 s it burned
    assert in_burn >= 0.9 * sum(samples.values())


@pytest.mark.server  # a child process
def test_after_a_sigusr2_nothing_more_is_sampled(tmp_path: Path) -> None:
    _run(tmp_path, start=True, stop=True)
    (written,) = tmp_path.glob("cpu-*.txt")
    stacks = [line.rsplit(" ", 1)[0] for line in written.read_text().splitlines()]
    assert any("burn (<string>)" in stack for stack in stacks)
    assert not any("idle (<string>)" in stack for stack in stacks)


@pytest.mark.server  # a child process
def test_the_collections_between_the_signals_are_counted_by_generation(tmp_path: Path) -> None:
    _run(tmp_path, start=True, stop=True)
    (written,) = tmp_path.glob("gc-*.json")
    collections = json.loads(written.read_text())
    assert collections["generation 2"]["collections"] == 3  # not the 2 before, nor the 5 after
    assert collections["generation 2"]["seconds"] > 0


@pytest.mark.server  # a child process
def test_a_second_sigusr1_starts_the_collections_count_afresh(tmp_path: Path) -> None:
    _run(tmp_path, start=True, again=True)
    (written,) = tmp_path.glob("gc-*.json")
    collections = json.loads(written.read_text())
    assert collections["generation 2"]["collections"] == 3  # not the first span's 4


@pytest.mark.server  # a child process
def test_before_the_signal_nothing_is_written(tmp_path: Path) -> None:
    _run(tmp_path, start=False)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.unit
def test_each_stack_counts_for_the_first_part_it_matches(tmp_path: Path) -> None:
    samples = tmp_path / "cpu-1.txt"
    samples.write_text(
        "run (trio/_core/_run.py);run (chat/app/messages/broadcaster.py);"
        "try_write (chat/ws/stream.py) 300\n"
        "run (trio/_core/_run.py);_task (chat/ws/session/busy.py) 200\n"
        "run (trio/_core/_run.py);get_events (trio/_core/_io_epoll.py) 50\n"
        "run (trio/_core/_run.py);unrolled_run (trio/_core/_run.py) 25\n"
    )
    assert cpu_profile_summary.parts_of(samples) == {
        "deliveries": 300,  # before "frames in, sessions", which its stack matches too
        "frames in, sessions": 200,
        "waiting in epoll (other threads' CPU)": 50,
        "Trio's scheduler and the rest": 25,
    }
