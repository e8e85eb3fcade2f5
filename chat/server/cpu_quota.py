"""How much CPU this process may use, by its cgroups' CPU quotas.

A container or a systemd unit may cap a process at a fraction of a CPU (Kubernetes'
`limits.cpu`, `docker run --cpus`, `CPUQuota=`). The kernel enforces it by stopping the
group's tasks for the rest of each period once the quota is spent, and chat's fan-out
paces its steps in wall-clock time (`chat.app.messages.gathering`): with a third of a CPU,
the same pace costs three times the share of what the process has. So the server reads
the quota at start-up and widens its window to match.

The quota is that of the process's own group and of every group above it, whichever is
smallest: cgroup v1's ``cpu.cfs_quota_us`` / ``cpu.cfs_period_us`` (-1: none), or v2's
``cpu.max`` (``max``: none). Groups are found as the kernel lists them
(``/proc/self/cgroup``) under where their hierarchy is mounted (``/proc/self/mountinfo``),
relative to the mount's own root, so that a container that sees only its own part of the
hierarchy still finds its files. Anything missing or unreadable means no quota: the
server then keeps its defaults.

Reads files: call it in a worker thread from Trio (`chat.server.serving`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path, PurePosixPath

import trio

from chat.app.messages.gathering import default_window

log = logging.getLogger(__name__)

PROC_SELF = Path("/proc/self")


async def gathering_window(gather_ms: int | None) -> float:
    """The gathering window in seconds: `CHAT_GATHER_MS` if set, else the default for
    the CPU the process may use (`default_window`), said in the log."""
    if gather_ms is not None:
        return gather_ms / 1000
    cpus = await trio.to_thread.run_sync(cpu_quota)
    window = default_window(cpus)
    if cpus is not None:
        log.info("CPU quota %.2f: messages gathered for up to %.1f ms", cpus, window * 1000)
    return window


def cpu_quota(proc: Path = PROC_SELF, root: Path = Path("/")) -> float | None:
    """CPUs the process may use (0.3: three tenths of one), or None without a quota.
    `proc` and `root` let a test point it at a tree of its own."""
    try:
        groups = (proc / "cgroup").read_text()
        mounts = (proc / "mountinfo").read_text()
    except OSError:
        return None
    v1_path, v2_path = _own_groups(groups)
    v1_mount, v2_mount = _cpu_mounts(mounts)
    # A hybrid host mounts both: the cpu controller is where v1 has it, if anywhere.
    if v1_path is not None and v1_mount is not None:
        return _smallest(root, v1_mount, v1_path, _v1_quota)
    if v2_path is not None and v2_mount is not None:
        return _smallest(root, v2_mount, v2_path, _v2_quota)
    return None


def _own_groups(text: str) -> tuple[str | None, str | None]:
    """The process's group in the v1 hierarchy with the cpu controller, and in v2's."""
    v1 = v2 = None
    for line in text.splitlines():
        number, _, rest = line.partition(":")
        controllers, _, path = rest.partition(":")
        if number == "0" and controllers == "":
            v2 = path
        elif "cpu" in controllers.split(","):
            v1 = path
    return v1, v2


def _cpu_mounts(text: str) -> tuple[tuple[str, str] | None, tuple[str, str] | None]:
    """(the mount's root in its hierarchy, where it is mounted) for v1's cpu controller
    and for v2 (mountinfo: fields 4 and 5; after " - ", the type and the options)."""
    v1 = v2 = None
    for line in text.splitlines():
        mount, separator, filesystem = line.partition(" - ")
        fields, described = mount.split(), filesystem.split()
        if not separator or len(fields) < 5 or len(described) < 3:
            continue
        kind, options = described[0], described[2].split(",")
        if kind == "cgroup" and "cpu" in options and v1 is None:
            v1 = (fields[3], fields[4])
        elif kind == "cgroup2" and v2 is None:
            v2 = (fields[3], fields[4])
    return v1, v2


def _smallest(
    root: Path, mount: tuple[str, str], group: str, quota_in: Callable[[Path], float | None]
) -> float | None:
    """The smallest quota from the group's directory up to the mount point."""
    mount_root, mount_point = PurePosixPath(mount[0]), PurePosixPath(mount[1])
    path = PurePosixPath(group)
    relative = path.relative_to(mount_root) if path.is_relative_to(mount_root) else None
    top = root / str(mount_point).lstrip("/")
    directory = top / str(relative) if relative is not None else top
    if not directory.is_dir():  # a group the mount does not show: the mount's own
        directory = top
    found: list[float] = []
    while True:
        quota = quota_in(directory)
        if quota is not None:
            found.append(quota)
        if directory == top or top not in directory.parents:
            break
        directory = directory.parent
    return min(found, default=None)


def _v1_quota(directory: Path) -> float | None:
    try:
        quota = int((directory / "cpu.cfs_quota_us").read_text())
        period = int((directory / "cpu.cfs_period_us").read_text())
    except (OSError, ValueError):
        return None
    return quota / period if quota > 0 and period > 0 else None


def _v2_quota(directory: Path) -> float | None:
    try:
        quota, period = (directory / "cpu.max").read_text().split()
        return int(quota) / int(period) if quota != "max" and int(period) > 0 else None
    except (OSError, ValueError):
        return None
