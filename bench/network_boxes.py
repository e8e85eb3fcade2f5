"""A network namespace per box (bench/capacity.py): each instance with a loopback and a
network stack of its own, joined by a veth pair to the root namespace, where PostgreSQL
and the load generator run. So an instance's traffic crosses a link of its own, as
between machines, instead of the one loopback every process shares.

Layout of box n (from 1): the namespace ``chatcap-<pid>-<n>``, and a veth pair whose
ends are a /30 of `NETWORK` (part of RFC 2544's range for testing networks, which no
real network uses; tests/network_faults.py takes its links from the same range but
never an address an interface already has): the root end ``.1`` (PostgreSQL listens
there for that box), the box's end ``.2`` (the instance listens there, the load
generator connects there). Every address stays on this machine.

Resource handling: `network_boxes` deletes the links and namespaces it made when its
block ends, however it ends (a veth pair goes with either end, at once). Needs root and
``ip`` (iproute2).
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass

#: Where the boxes' links come from: a /30 each.
NETWORK = ipaddress.ip_network("198.19.200.0/24")


@dataclass(frozen=True)
class NetworkBox:
    """One box's namespace and its link's two addresses."""

    namespace: str
    root_address: str  # PostgreSQL's, as this box reaches it
    address: str  # the box's own: where its instance listens

    @property
    def join(self) -> list[str]:
        """A command prefix that runs the command in the namespace: its network only
        (`nsenter --net`). `ip netns exec` would also mount a sysfs of the namespace's
        own, without the cgroup files, where an instance could not read its box's CPU
        quota (`chat.server.cpu_quota`) as it does in a container."""
        return ["nsenter", f"--net=/run/netns/{self.namespace}", "--"]


def _ip(*arguments: str) -> None:
    result = subprocess.run(["ip", *arguments], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"ip {' '.join(arguments)} failed: {result.stderr.strip()}")


def _addresses_in_use() -> str:
    return subprocess.run(["ip", "-o", "addr"], capture_output=True, text=True).stdout


@contextlib.contextmanager
def network_boxes(count: int) -> Iterator[list[NetworkBox]]:
    """`count` namespaces, each linked to the root one (none for 0); all deleted on the
    way out."""
    if count == 0:
        yield []
        return
    if shutil.which("ip") is None:
        sys.exit("capacity: network namespaces need ip (apt-get install iproute2)")
    links = list(NETWORK.subnets(new_prefix=30))[:count]
    taken = _addresses_in_use()
    for link in links:
        if any(f" {host}/" in taken for host in link.hosts()):
            sys.exit(f"capacity: {link} is in use (another run's boxes?); see bench/README.md")
    undo: list[tuple[str, ...]] = []  # what takes back each step made so far, in order
    try:
        boxes = []
        for n, link in enumerate(links, start=1):
            namespace = f"chatcap-{os.getpid()}-{n}"
            root_end, box_end = f"cc{os.getpid()}r{n}", f"cc{os.getpid()}b{n}"  # at most 15
            root_address, address = (str(host) for host in link.hosts())
            _ip("netns", "add", namespace)
            undo.append(("netns", "delete", namespace))
            _ip("link", "add", root_end, "type", "veth", "peer", box_end, "netns", namespace)
            undo.append(("link", "delete", root_end))
            _ip("addr", "add", f"{root_address}/30", "dev", root_end)
            _ip("link", "set", root_end, "up")
            _ip("-n", namespace, "addr", "add", f"{address}/30", "dev", box_end)
            _ip("-n", namespace, "link", "set", box_end, "up")
            _ip("-n", namespace, "link", "set", "lo", "up")
            boxes.append(NetworkBox(namespace, root_address, address))
        yield boxes
    finally:
        # Backwards, so each link goes before its namespace: a namespace's own devices go
        # when the kernel gets round to destroying it, after `ip netns delete`; a veth pair
        # goes at once with either end.
        for step in reversed(undo):
            with contextlib.suppress(RuntimeError):
                _ip(*step)
