"""An office behind one NAT address, through a rolling restart of two instances: with the
setting docs/DEPLOYMENT.md gives ("An office behind one address": CHAT_TRUSTED_NETWORKS
with the office's address), 50 people's WebSocket clients reconnecting from that address
(150 upgrades, past the default 60 a minute per address) get no 429; a flood from an
untrusted address still does.

Every client talks to the instances directly from 127.0.0.1, which each instance trusts
as a proxy (CHAT_TRUSTED_PROXIES), and names its address in X-Forwarded-For.
"""

from __future__ import annotations

import signal
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trio
from cluster import Instance, open_cluster, start_instance
from support import STEP, Account, account, open_clients, raw_upgrade, status_of
from support import throwaway_postgres_schema as postgres_schema
from trio_websocket import ConnectionClosed, ConnectionRejected, HandshakeError

OFFICE = "203.0.113.7"
ELSEWHERE = "198.51.100.9"
PEOPLE = 50
#: Each instance drains this long after SIGTERM (its sessions are told 1012 at once).
DRAIN_S = 0.5
#: The whole test: two instances started, 50 accounts, two restarts, the flood.
TEST_TIMEOUT_S = 90.0


class Office:
    """Where the clients connect, and what they were answered."""

    def __init__(self, instances: list[Instance]) -> None:
        self.instances = instances
        self.upgrades = 0
        self.open = 0
        self.refusals: list[int] = []  # the status of every refused upgrade
        self.all_open = trio.Event()


async def person(office: Office, user: Account, first: int) -> None:
    """One person's client: connected to an instance until it closes the connection (a
    restart), then to the other one at once; refused or unreachable, the other one."""
    target = first
    while True:
        server = office.instances[target].server
        try:
            async with open_clients(server) as clients:
                ws = await clients.connect(
                    f"/ws?token={user.token}", headers=[("X-Forwarded-For", OFFICE)]
                )
                office.upgrades += 1
                office.open += 1
                if office.open == PEOPLE:
                    office.all_open.set()
                try:
                    while True:
                        await ws.get_message()
                finally:
                    office.open -= 1
        except* ConnectionRejected as refused:
            for error in refused.exceptions:
                assert isinstance(error, ConnectionRejected)
                office.refusals.append(error.status_code)
        except* (ConnectionClosed, HandshakeError, OSError, trio.TooSlowError):
            pass  # restarted, or not listening yet: the other one
        target = 1 - target
        await trio.sleep(0.02)


async def restart(office: Office, number: int) -> None:
    """SIGTERM instance `number` (it drains: its clients go to the other one), wait for
    it to exit, start it again on its port, and wait until every client is connected."""
    instance = office.instances[number]
    office.all_open = trio.Event()
    instance.process.send_signal(signal.SIGTERM)
    with trio.fail_after(DRAIN_S + STEP):
        assert await instance.process.wait() == 0, instance.log
    config = instance.config.replace(port=instance.port)
    office.instances[number] = await start_instance(config, instance.log_path)
    with trio.fail_after(STEP):
        await office.all_open.wait()


@pytest.fixture
async def database_url() -> AsyncIterator[str]:
    async with postgres_schema() as url:
        yield url


async def test_an_office_behind_one_trusted_address_gets_no_429_in_a_rolling_restart(
    tmp_path: Path, database_url: str
) -> None:
    with trio.fail_after(TEST_TIMEOUT_S):
        async with open_cluster(
            tmp_path,
            database_url,
            2,
            rate_limits=True,  # the defaults: 60 connections a minute per address
            rate_register="1000/minute",  # the test's own accounts, from one address
            rate_login="1000/minute",
            drain_seconds=DRAIN_S,
            trusted_proxies=("127.0.0.1",),
            trusted_networks=(f"{OFFICE}/32",),  # the documented setting
        ) as instances:
            users = [await account(instances[0].server, f"person{n}") for n in range(PEOPLE)]
            office = Office(list(instances))
            try:
                async with trio.open_nursery() as people:
                    for n, user in enumerate(users):
                        people.start_soon(person, office, user, n % 2)
                    with trio.fail_after(STEP):
                        await office.all_open.wait()
                    await restart(office, 0)
                    await restart(office, 1)
                    people.cancel_scope.cancel()
                # Past what one address may open in a minute, yet nothing refused but the
                # draining instances' 503s.
                assert office.upgrades >= 2 * PEOPLE + PEOPLE // 2, office.upgrades
                assert 429 not in office.refusals, office.refusals
                assert set(office.refusals) <= {503}, office.refusals

                flood = f"X-Forwarded-For: {ELSEWHERE}\r\n"
                statuses = [
                    status_of(await raw_upgrade(office.instances[n % 2].server, "/", flood))
                    for n in range(61)
                ]
                assert b"429" in statuses, statuses
                assert set(statuses) == {b"101", b"429"}, statuses
            finally:
                with trio.CancelScope(shield=True):
                    for restarted in office.instances:  # open_cluster stops the others
                        if restarted not in instances and restarted.running:
                            await restarted.stop()
