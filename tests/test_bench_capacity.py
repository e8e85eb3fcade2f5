"""bench/capacity.py's boxes: CPU cgroups with the quotas asked for, and a network
namespace each, removed however the run ends. Root only, on a machine whose cgroup CPU
controller is writable (v1 or v2) and with `ip`; skipped elsewhere. The figures
themselves are the benchmark's (docs/PERFORMANCE.md)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"
sys.path.insert(0, str(BENCH))

import capacity  # noqa: E402
import network_boxes  # noqa: E402

pytestmark = pytest.mark.server


needs_cgroups = pytest.mark.skipif(
    not capacity.cpu_controller_writable(), reason="needs root and a writable CPU cgroup controller"
)


def _quota(group: capacity.CpuGroup) -> float:
    if group.version == 1:
        quota = int((group.path / "cpu.cfs_quota_us").read_text())
        period = int((group.path / "cpu.cfs_period_us").read_text())
    else:
        quota, period = map(int, (group.path / "cpu.max").read_text().split())
    return quota / period


@needs_cgroups
def test_each_box_gets_its_quota_and_a_process_joins_it_before_it_runs() -> None:
    with capacity.cpu_groups({"instance-1": 0.3, "database": 0.5}) as groups:
        assert _quota(groups["instance-1"]) == pytest.approx(0.3)
        assert _quota(groups["database"]) == pytest.approx(0.5)
        box = groups["instance-1"]
        shown = subprocess.run(
            [*box.join, "cat", "/proc/self/cgroup"], capture_output=True, text=True, check=True
        ).stdout
        assert box.path.name in shown and box.path.parent.name in shown
        assert box.members() == []  # it ended, and left the group with it


@needs_cgroups
def test_the_boxes_are_removed_when_the_run_fails() -> None:
    with pytest.raises(RuntimeError), capacity.cpu_groups({"instance-1": 0.3}) as groups:
        parent = groups["instance-1"].path.parent
        assert parent.is_dir()
        raise RuntimeError("the run failed")
    assert not parent.exists()


@needs_cgroups
def test_the_boxes_are_removed_when_the_run_is_terminated() -> None:
    run = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time, capacity\n"
            "with capacity.cpu_groups({'instance-1': 0.3}) as groups:\n"
            "    print(groups['instance-1'].path.parent, flush=True)\n"
            "    time.sleep(60)\n",
        ],
        env={**os.environ, "PYTHONPATH": str(BENCH)},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        parent = Path(run.stdout.readline().strip())
        assert parent.is_dir()
        run.terminate()  # SIGTERM, as `kill` and `timeout` send
        assert run.wait(timeout=10) == 128 + 15
        assert not parent.exists()
    finally:
        run.kill()
        run.wait()
        run.stdout.close()


@needs_cgroups
def test_a_box_still_holding_a_process_is_emptied_and_removed() -> None:
    with capacity.cpu_groups({"instance-1": 0.3}) as groups:
        box = groups["instance-1"]
        sleeper = subprocess.Popen([*box.join, "sleep", "30"])
        deadline = time.monotonic() + 10
        while box.members() != [sleeper.pid]:  # the shell joins, then execs sleep
            assert time.monotonic() < deadline, "the process never joined its box"
            time.sleep(0.01)
    try:
        assert not box.path.exists()
        assert sleeper.poll() is None  # moved out, not killed: that is the run's to do
    finally:
        sleeper.kill()
        sleeper.wait()


needs_namespaces = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("ip") is None, reason="needs root and ip (iproute2)"
)


def _addresses(*namespace: str) -> str:
    prefix = ["ip", "netns", "exec", *namespace] if namespace else []
    return subprocess.run([*prefix, "ip", "-o", "addr"], capture_output=True, text=True).stdout


@needs_namespaces
def test_each_network_box_has_its_own_address_reached_from_the_root_namespace() -> None:
    with network_boxes.network_boxes(2) as (first, second):
        inside = _addresses(first.namespace)
        assert f" {first.address}/30" in inside
        assert second.address not in inside and first.root_address not in inside
        listener = subprocess.Popen(
            [*first.join, sys.executable, "-m", "http.server", "--bind", first.address, "8765"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 10
            while True:
                try:
                    with socket.create_connection((first.address, 8765), timeout=1):
                        break
                except OSError:
                    assert time.monotonic() < deadline, "the box's address was never reached"
                    time.sleep(0.05)
        finally:
            listener.kill()
            listener.wait()


@needs_namespaces
def test_the_network_boxes_are_removed_when_the_run_fails() -> None:
    with pytest.raises(RuntimeError), network_boxes.network_boxes(2) as boxes:
        raise RuntimeError("the run failed")
    names = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert not any(box.namespace in names for box in boxes)
    assert not any(box.root_address in _addresses() for box in boxes)
