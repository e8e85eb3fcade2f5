"""Network faults the kernel makes, between a `chat serve` instance and its database and
bus: each instance in a network namespace of the test's own, joined to the root
namespace by veth pairs, with iptables drops on those links (partitions, both ways or
one) and packets held back in the kernel, released late, out of order or never (what
``tc netem`` does; this kernel has no netem, so an NFQUEUE and tests/packet_delayer.py).

Layout, for each instance (`InstanceNetwork`): a namespace ``chatnf-<pid>-<n>`` and
three veth pairs, each a /30 of 198.18.0.0/15 (RFC 2544's range for testing networks,
which no real network uses), the root end ``.1``, the namespace's end ``.2``:

    client link    the test's clients reach the instance here; never faulted
    database link  the instance reaches PostgreSQL (listening on the root end)
    bus link       the instance reaches Redis (listening on the root end)

So a fault on one link touches that traffic alone: a partition of the database link
leaves the clients and the bus as they were. PostgreSQL and Redis run in the root
namespace as the tests always start them, listening on 127.0.0.1 and on the root end of
each instance's link; addresses exist only on these veth pairs, and go with them.

Resource handling: `instance_networks` creates the namespaces (and their links) and
deletes them when the block ends, however it ends; deleting a namespace deletes its veth
ends, and a veth pair goes with either end. Namespaces left by a test process that was
killed (its pid gone) are deleted by the next one. Addresses are picked under a file
lock, from those no interface has, so tests in parallel (``pytest -n 2``) never share one.

Needs root and ``ip`` and ``iptables`` (iproute2, iptables; `.ci/run` installs them):
without them the tests skip, or fail under CI=true (`cluster.require_program`).
"""

from __future__ import annotations

import fcntl
import ipaddress
import itertools
import os
import re
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import trio
from cluster import Process, require_program, start_process, wait_for_log
from support import in_ci

#: Where every link's /30 comes from: RFC 2544's block for testing network devices.
TEST_NETWORK = ipaddress.ip_network("198.18.0.0/15")
#: Held while picking addresses and creating links, by every test process of the machine.
LOCK_PATH = Path("/run/lock/chat-network-faults.lock")
PREFIX = "chatnf-"
#: How long one `ip` or `iptables` command may take.
COMMAND_TIMEOUT = 20.0
#: The program that delays and drops queued packets, and the queue it reads.
DELAYER = Path(__file__).with_name("packet_delayer.py")
QUEUE = 7

_numbers = itertools.count(1)


def require_network_tools() -> None:
    """Skip (fail under CI=true) without root or the programs the faults need."""
    for program in ("ip", "iptables"):
        require_program(program)
    if os.geteuid() != 0:
        message = "network namespaces need root"
        if in_ci():
            pytest.fail(message + " (CI=true: these tests must run)")
        pytest.skip(message)


def _run(*command: str) -> str:
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=COMMAND_TIMEOUT, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed: {result.stderr.strip()}")
    return result.stdout


async def run(*command: str) -> str:
    """Run an ``ip`` or ``iptables`` command; its output (raises if it fails)."""
    with trio.fail_after(COMMAND_TIMEOUT):
        result = await trio.run_process(
            list(command), capture_stdout=True, capture_stderr=True, check=False
        )
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed: {result.stderr.decode().strip()}")
    return result.stdout.decode()


@dataclass(frozen=True)
class Link:
    """One veth pair: `outer` in the root namespace, `inner` in the instance's."""

    namespace: str
    outer: str
    inner: str
    outer_address: str
    inner_address: str


@dataclass
class InstanceNetwork:
    """An instance's namespace and its three links (the module docstring)."""

    namespace: str
    client: Link
    database: Link
    bus: Link
    log_dir: Path  # where the programs it runs log
    _delayers: list[Process] = field(default_factory=list)

    def command(self, *command: str) -> list[str]:
        """`command`, run inside the namespace."""
        return ["ip", "netns", "exec", self.namespace, *command]

    # --- partitions: iptables in the instance's namespace ---

    async def _iptables(self, *rule: str) -> None:
        await run(*self.command("iptables", "-w", *rule))

    async def cut(self, link: Link, *, requests: bool = True, replies: bool = True) -> None:
        """Drop every packet on `link` leaving the instance (its requests), arriving at it
        (the replies), or both: silently, as a partition does (no reset, no ICMP)."""
        if replies:
            await self._iptables("-A", "INPUT", "-i", link.inner, "-j", "DROP")
        if requests:
            await self._iptables("-A", "OUTPUT", "-o", link.inner, "-j", "DROP")

    async def cut_connection(self, local_port: int) -> None:
        """Drop both ways every packet of the instance's TCP connection from `local_port`
        (one connection among several to the same server)."""
        await self._iptables("-A", "INPUT", "-p", "tcp", "--dport", str(local_port), "-j", "DROP")
        await self._iptables("-A", "OUTPUT", "-p", "tcp", "--sport", str(local_port), "-j", "DROP")

    # --- degradation: packets held in the kernel, released late or dropped ---

    async def degrade(
        self, link: Link, *, delay_ms: int, jitter_ms: int, loss_percent: float
    ) -> None:
        """What ``tc netem delay D J loss L%`` on both ends of `link` does: every packet
        either way waits D +- J ms (so they reorder) and L% are dropped. This kernel has
        no netem (CONFIG_NET_SCH_NETEM unset, and no modules): the packets are queued
        to tests/packet_delayer.py instead (an NFQUEUE), which gives their verdicts late."""
        delayer = await start_process(
            self.command(sys.executable, str(DELAYER), str(QUEUE), str(delay_ms),
                         str(jitter_ms), str(loss_percent)),
            self.log_dir / f"{self.namespace}-delayer.log",
        )  # fmt: skip
        self._delayers.append(delayer)
        await wait_for_log(delayer, re.compile(rb"^bound$", re.M), "packet_delayer")
        queued = ("-j", "NFQUEUE", "--queue-num", str(QUEUE), "--queue-bypass")
        await self._iptables("-A", "INPUT", "-i", link.inner, *queued)
        await self._iptables("-A", "OUTPUT", "-o", link.inner, *queued)

    async def heal(self) -> None:
        """Remove every partition and every degradation."""
        await self._iptables("-F", "INPUT")
        await self._iptables("-F", "OUTPUT")
        while self._delayers:
            delayer = self._delayers.pop()
            await delayer.stop(signal.SIGKILL)


# --- creating and removing ---


def _used_networks() -> set[ipaddress.IPv4Network]:
    """The /30s of the test range that an interface of the root namespace has."""
    used = set()
    for address in re.findall(r"inet (198\.1[89]\.\d+\.\d+)/", _run("ip", "-4", "-o", "addr")):
        used.add(ipaddress.ip_network(f"{address}/30", strict=False))
    return used


def _remove_stale_namespaces() -> None:
    """Delete the namespaces of test processes that no longer run (killed mid-test)."""
    for line in _run("ip", "netns", "list").splitlines():
        name = line.split()[0] if line.split() else ""
        match = re.fullmatch(rf"{PREFIX}(\d+)-\d+", name)
        if match and not Path(f"/proc/{match.group(1)}").exists():
            _run("ip", "netns", "delete", name)


def _create(number: int, spare: Iterator[ipaddress.IPv4Network], log_dir: Path) -> InstanceNetwork:
    pid = os.getpid()
    namespace = f"{PREFIX}{pid}-{number}"
    _run("ip", "netns", "add", namespace)
    _run("ip", "-n", namespace, "link", "set", "lo", "up")
    links = []
    for kind in "cdb":  # client, database, bus
        network = next(spare)
        outer_address, inner_address = (str(host) for host in network.hosts())
        # Interface names: 15 characters at most, unique per process, number and kind.
        outer, inner = f"nf{pid:x}-{number:x}{kind}o", f"nf{pid:x}-{number:x}{kind}i"
        _run("ip", "link", "add", outer, "type", "veth", "peer", "name", inner,
             "netns", namespace)  # fmt: skip
        _run("ip", "addr", "add", f"{outer_address}/30", "dev", outer)
        _run("ip", "link", "set", outer, "up")
        _run("ip", "-n", namespace, "addr", "add", f"{inner_address}/30", "dev", inner)
        _run("ip", "-n", namespace, "link", "set", inner, "up")
        links.append(Link(namespace, outer, inner, outer_address, inner_address))
    return InstanceNetwork(namespace, *links, log_dir=log_dir)


def _delete(network: InstanceNetwork) -> None:
    # Whatever still runs in the namespace first (an instance the test could not stop).
    for pid in _run("ip", "netns", "pids", network.namespace).split():
        try:
            os.kill(int(pid), 9)
        except ProcessLookupError:
            pass
    _run("ip", "netns", "delete", network.namespace)
    for link in (network.client, network.database, network.bus):
        # Gone with the namespace; a leftover root end (should the kernel be slow) too.
        subprocess.run(["ip", "link", "delete", link.outer], capture_output=True, check=False)


@contextmanager
def _locked() -> Iterator[None]:
    LOCK_PATH.parent.mkdir(parents=True, exist_ok=True)
    with LOCK_PATH.open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _create_all(count: int, log_dir: Path, made: list[InstanceNetwork]) -> None:
    with _locked():
        _remove_stale_namespaces()
        used = _used_networks()
        spare = (n for n in TEST_NETWORK.subnets(new_prefix=30) if n not in used)
        for _ in range(count):
            made.append(_create(next(_numbers), spare, log_dir))


@asynccontextmanager
async def instance_networks(count: int, log_dir: Path) -> AsyncIterator[list[InstanceNetwork]]:
    """`count` instance namespaces with their links; all deleted at the end (with what
    runs in them). Logs of what the faults run go to `log_dir`."""
    require_network_tools()
    made: list[InstanceNetwork] = []
    try:
        await trio.to_thread.run_sync(_create_all, count, log_dir, made)
        yield made
    finally:
        with trio.CancelScope(shield=True):
            for network in made:
                for delayer in network._delayers:
                    await delayer.stop(signal.SIGKILL)
                await trio.to_thread.run_sync(_delete, network)
