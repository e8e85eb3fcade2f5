"""The CPU a process may use, from its cgroups (`chat.server.cpu_quota`), and the
gathering window it sets when `CHAT_GATHER_MS` is unset (`chat.app.messages.gathering`).

The parsing runs on trees of files laid out as the kernel shows them; the last test puts
a real `chat serve` in a real cgroup with a quota (root, a writable CPU controller), made
and removed by bench/capacity.py's `cpu_groups`."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support import chat_environ, server_config

from chat.app.messages.gathering import DEFAULT_WINDOW_S, MAX_DEFAULT_WINDOW_S, default_window
from chat.server.cpu_quota import cpu_quota

BENCH = Path(__file__).resolve().parent.parent / "bench"
sys.path.insert(0, str(BENCH))
import capacity  # noqa: E402

V1_MOUNT = "31 23 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n"
V1_PAIR_MOUNT = "31 23 0:29 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n"
V2_MOUNT = "41 31 0:38 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n"
OTHER_MOUNTS = (
    "22 1 8:1 / / rw,relatime - ext4 /dev/sda1 rw\n"
    "35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"
)


def _tree(tmp_path: Path, cgroup: str, mountinfo: str, files: dict[str, str]) -> tuple[Path, Path]:
    """A /proc/self and a root of made-up files: (proc, root)."""
    proc, root = tmp_path / "proc", tmp_path / "root"
    proc.mkdir()
    (proc / "cgroup").write_text(cgroup)
    (proc / "mountinfo").write_text(mountinfo)
    for name, text in files.items():
        path = root / name.lstrip("/")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return proc, root


def _v1_group(directory: str, quota: int, period: int = 100_000) -> dict[str, str]:
    return {
        f"{directory}/cpu.cfs_quota_us": f"{quota}\n",
        f"{directory}/cpu.cfs_period_us": f"{period}\n",
    }


@pytest.mark.unit
def test_a_v1_group_with_a_quota_gives_its_share_of_a_cpu(tmp_path: Path) -> None:
    proc, root = _tree(
        tmp_path,
        "4:memory:/\n1:cpu:/box\n0::/\n",
        OTHER_MOUNTS + V1_MOUNT,
        _v1_group("/sys/fs/cgroup/cpu", -1) | _v1_group("/sys/fs/cgroup/cpu/box", 6000, 20_000),
    )
    assert cpu_quota(proc, root) == pytest.approx(0.3)


@pytest.mark.unit
def test_the_smallest_quota_on_the_way_up_is_the_one_in_force(tmp_path: Path) -> None:
    proc, root = _tree(
        tmp_path,
        "3:cpu,cpuacct:/outer/inner\n",
        V1_PAIR_MOUNT,
        _v1_group("/sys/fs/cgroup/cpu,cpuacct/outer", 50_000)
        | _v1_group("/sys/fs/cgroup/cpu,cpuacct/outer/inner", 200_000),
    )
    assert cpu_quota(proc, root) == pytest.approx(0.5)


@pytest.mark.unit
def test_a_v2_group_reads_cpu_max(tmp_path: Path) -> None:
    proc, root = _tree(
        tmp_path,
        "0::/system.slice/chat.service\n",
        OTHER_MOUNTS + V2_MOUNT,
        {
            "/sys/fs/cgroup/system.slice/cpu.max": "max 100000\n",
            "/sys/fs/cgroup/system.slice/chat.service/cpu.max": "150000 100000\n",
        },
    )
    assert cpu_quota(proc, root) == pytest.approx(1.5)


@pytest.mark.unit
def test_max_everywhere_is_no_quota(tmp_path: Path) -> None:
    proc, root = _tree(tmp_path, "0::/a\n", V2_MOUNT, {"/sys/fs/cgroup/a/cpu.max": "max 100000\n"})
    assert cpu_quota(proc, root) is None


@pytest.mark.unit
def test_a_container_that_sees_only_its_own_group_reads_the_mount_point(tmp_path: Path) -> None:
    # cgroup v1 without a cgroup namespace: /proc/self/cgroup names the host's path, and
    # the container's mount shows that group as its root.
    proc, root = _tree(
        tmp_path,
        "1:cpu:/docker/0123abcd\n",
        "31 23 0:29 /docker/0123abcd /sys/fs/cgroup/cpu ro - cgroup cgroup rw,cpu\n",
        _v1_group("/sys/fs/cgroup/cpu", 25_000),
    )
    assert cpu_quota(proc, root) == pytest.approx(0.25)


@pytest.mark.unit
def test_a_hybrid_host_takes_the_quota_from_the_v1_cpu_controller(tmp_path: Path) -> None:
    proc, root = _tree(
        tmp_path,
        "1:cpu:/box\n0::/box\n",
        V1_MOUNT + "41 31 0:38 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n",
        _v1_group("/sys/fs/cgroup/cpu/box", 40_000)
        | {"/sys/fs/cgroup/unified/box/cpu.max": "90000 100000\n"},
    )
    assert cpu_quota(proc, root) == pytest.approx(0.4)


@pytest.mark.unit
def test_no_cgroup_files_is_no_quota(tmp_path: Path) -> None:
    assert cpu_quota(tmp_path / "absent", tmp_path) is None


@pytest.mark.unit
def test_unreadable_quota_files_are_no_quota(tmp_path: Path) -> None:
    proc, root = _tree(
        tmp_path, "1:cpu:/box\n", V1_MOUNT, {"/sys/fs/cgroup/cpu/box/cpu.cfs_quota_us": "lots\n"}
    )
    assert cpu_quota(proc, root) is None


@pytest.mark.unit
@pytest.mark.parametrize("cpus", [None, 1.0, 2.0])
def test_a_whole_cpu_or_more_keeps_the_default_window(cpus: float | None) -> None:
    assert default_window(cpus) == DEFAULT_WINDOW_S


@pytest.mark.unit
def test_a_fraction_of_a_cpu_widens_the_window_in_proportion() -> None:
    assert default_window(0.5) == pytest.approx(2 * DEFAULT_WINDOW_S)
    assert default_window(0.3) == pytest.approx(DEFAULT_WINDOW_S / 0.3)


@pytest.mark.unit
def test_a_tiny_quota_widens_the_window_only_so_far() -> None:
    assert default_window(0.05) == MAX_DEFAULT_WINDOW_S


# --- A real group -------------------------------------------------------------------------


@pytest.mark.server
@pytest.mark.skipif(
    not capacity.cpu_controller_writable(), reason="needs root and a writable CPU controller"
)
def test_a_server_under_a_quota_gathers_for_longer_and_says_so(tmp_path: Path) -> None:
    log_path = tmp_path / "serve.log"
    # bench/capacity.py's boxes: a group with its quota, removed however the test ends.
    with capacity.cpu_groups({"box": 0.3}) as groups, log_path.open("wb") as log:
        process = subprocess.Popen(
            [*groups["box"].join, sys.executable, "-m", "chat", "serve"],
            env=chat_environ(server_config(tmp_path, None)),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 60
            while b"listening on" not in log_path.read_bytes() and time.monotonic() < deadline:
                assert process.poll() is None, log_path.read_text(errors="replace")
                time.sleep(0.1)
        finally:
            process.terminate()
            process.wait(30)
    said = log_path.read_text(errors="replace")
    assert "listening on" in said, said
    assert re.search(r"CPU quota 0\.30: messages gathered for up to 16\.7 ms", said), said
