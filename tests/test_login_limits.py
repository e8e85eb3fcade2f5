"""Login limits that cannot be raced, split or turned against the owner, on a
real server on both backends and on clusters on either bus: failures counted before the
password is checked, one account key for name and e-mail logins, the owner's addresses
kept in the database, each instance's share of a limit, and a bcrypt queue fair to every
address. (The limits themselves: test_rate_limits.py.)"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trio
from cluster import Instance, RedisServer, open_cluster
from support import (
    STEP,
    Server,
    StoppableServer,
    account,
    http_client,
    start_server,
    throwaway_postgres_schema,
)
from test_cluster import redis  # noqa: F401 (the fixture: each cluster test on both buses)
from test_metrics import until
from test_rate_limits import PLENTY, assert_refused, limited, login

from chat.core.config import Config

OWNER = "198.51.100.7"
BOTS = [f"203.0.113.{n}" for n in range(1, 40)]


async def statuses_at_once(send: list[tuple[Server, dict[str, str], dict[str, str]]]) -> list[int]:
    """POST /auth with each (server, body, headers) at once, each on a connection of its
    own opened beforehand (so that they reach the servers together); the statuses."""
    statuses: list[int] = []
    go = trio.Event()

    async def attempt(
        server: Server,
        body: dict[str, str],
        headers: dict[str, str],
        *,
        task_status: trio.TaskStatus[None],
    ) -> None:
        async with http_client(server) as client:
            assert (await client.get("/livez")).status_code == 200  # connected
            task_status.started()
            await go.wait()
            statuses.append((await client.post("/auth", json=body, headers=headers)).status_code)

    async with trio.open_nursery() as nursery:
        for server, body, headers in send:
            await nursery.start(attempt, server, body, headers)
        go.set()
    return statuses


# --- failures counted before the check ---


async def test_twenty_wrong_guesses_at_once_get_no_more_than_the_allowance_checked(
    nursery: trio.Nursery, config: Config
) -> None:
    # bcrypt slow enough that all twenty arrive while the first ones are being checked.
    server = await start_server(
        nursery, limited(config, rate_login_failures="5/minute", bcrypt_cost=10)
    )
    await account(server, "alice", "alice-password")
    guess = ({"name": "alice", "password": "guess-guess"}, {})
    statuses = await statuses_at_once([(server, *guess)] * 20)
    assert sorted(set(statuses)) == [401, 429], statuses
    assert statuses.count(401) == 5, statuses


async def test_logins_by_name_and_by_e_mail_count_against_one_account(
    nursery: trio.Nursery, config: Config
) -> None:
    server = await start_server(nursery, limited(config, rate_login_failures="4/minute"))
    alice = await account(server, "alice", "alice-password")
    async with http_client(server) as client:
        for _ in range(2):
            assert (await login(client, "Alice", "guess-guess")).status_code == 401
            by_email = await client.post(
                "/login", json={"email": alice.email.upper(), "password": "guess-guess"}
            )
            assert by_email.status_code == 401, by_email.text
        assert_refused(await login(client, "alice", "alice-password"))
        assert_refused(
            await client.put("/login", json={"Email": alice.email, "Password": "alice-password"})
        )


async def test_a_right_password_takes_its_attempt_back(
    nursery: trio.Nursery, config: Config
) -> None:
    server = await start_server(nursery, limited(config, rate_login_failures="2/minute"))
    await account(server, "alice", "alice-password")
    async with http_client(server) as client:
        for _ in range(5):
            assert (await login(client, "alice", "alice-password")).status_code == 200
        assert (await login(client, "alice", "guess-guess")).status_code == 401
        assert (await login(client, "alice", "alice-password")).status_code == 200


# --- the owner's addresses, kept in the database ---


def under_attack(config: Config) -> Config:
    """Limits under which five failures from anywhere put an account in slow mode."""
    return limited(config, rate_account_failures="5/hour", trusted_proxies=("127.0.0.0/8",))


async def attack(server: Server, name: str) -> None:
    """Five failed logins to `name` from five addresses, then the slow mode it is in:
    one new address gets its attempt, the next is refused."""
    async with http_client(server) as client:
        for bot in BOTS[:5]:
            assert (await login(client, name, "guess-guess", bot)).status_code == 401
        assert (await login(client, name, "guess-guess", BOTS[5])).status_code == 401
        assert_refused(await login(client, name, "guess-guess", BOTS[6]))


async def test_the_owners_address_is_spared_after_a_restart(
    nursery: trio.Nursery, config: Config
) -> None:
    running = StoppableServer(nursery, under_attack(config))
    server = await running.start()
    await account(server, "alice", "alice-password")
    async with http_client(server) as client:
        assert (await login(client, "alice", "alice-password", OWNER)).status_code == 200
    await running.stop()
    server = await running.start()  # counts start again; the owner's address is on disk
    await attack(server, "alice")
    async with http_client(server) as client:
        for _ in range(3):
            response = await login(client, "alice", "alice-password", OWNER)
            assert response.status_code == 200, response.text


@pytest.fixture
async def pair(
    tmp_path: Path,
    redis: RedisServer | None,  # noqa: F811 (fixture)
) -> AsyncIterator[list[Instance]]:
    """Two instances that trust the tests' address as a proxy, with tight login limits:
    20 attempts a minute per address, slow mode after 5 failures."""
    bus_url = redis.url if redis is not None else None
    async with (
        throwaway_postgres_schema() as database_url,
        open_cluster(
            tmp_path,
            database_url,
            2,
            bus_url=bus_url,
            rate_limits=True,
            rate_login="20/minute",
            rate_login_failures=PLENTY,
            rate_account_failures="5/hour",
            rate_register=PLENTY,
            trusted_proxies=("127.0.0.0/8",),
        ) as instances,
    ):
        for instance in instances:
            # Each must know of the other before it can take only its share.
            await until(instance.server, "chat_cluster_instances", 2)
        yield instances


async def test_the_owner_is_spared_on_an_instance_they_never_used(pair: list[Instance]) -> None:
    a, b = pair
    await account(a.server, "alice", "alice-password")
    async with http_client(a.server) as client:
        assert (await login(client, "alice", "alice-password", OWNER)).status_code == 200
    await attack(b.server, "alice")
    async with http_client(b.server) as client:
        for _ in range(3):
            response = await login(client, "alice", "alice-password", OWNER)
            assert response.status_code == 200, response.text


async def test_twenty_logins_at_once_to_each_instance_do_not_all_pass_a_limit_of_twenty(
    pair: list[Instance],
) -> None:
    # Made-up names, one each: only the address's limit applies, not an account's.
    headers = {"X-Forwarded-For": BOTS[0]}
    statuses = await statuses_at_once(
        [
            (instance.server, {"name": f"nobody{n}", "password": "guess-guess"}, headers)
            for instance in pair
            for n in range(20)
        ]
    )
    # 503: let through by the limit, then refused by the bcrypt queue (its share of it
    # for one address is full).
    assert set(statuses) <= {401, 429, 503}, statuses
    passed = len(statuses) - statuses.count(429)
    assert 2 <= passed <= 20, statuses


# --- the bcrypt queue ---


async def test_one_address_cannot_keep_the_bcrypt_queue_full_for_another(
    nursery: trio.Nursery, config: Config
) -> None:
    # Cost 12: a quarter of a second a check, so the queue stays full during the test.
    config = limited(config, bcrypt_cost=12, bcrypt_queue=8, trusted_proxies=("127.0.0.1",))
    server = await start_server(nursery, config)
    await account(server, "owner", "owner-password")
    flood = [(server, {"name": "nobody", "password": "guess-guess"}, {"X-Forwarded-For": BOTS[0]})]
    owner = {"name": "owner", "password": "owner-password"}
    result: list[int] = []

    async def owner_logs_in() -> None:
        await trio.sleep(0.1)  # once the flood fills the flooder's share
        result.extend(await statuses_at_once([(server, owner, {"X-Forwarded-For": OWNER})]))

    async with trio.open_nursery() as both:
        both.start_soon(owner_logs_in)
        flooded = await statuses_at_once(flood * 16)
    assert 503 in flooded, flooded  # past its share, the flooder is refused...
    assert result == [200]  # ...and the owner is not


async def test_a_known_users_login_goes_before_a_flood_of_unknown_names(
    nursery: trio.Nursery, config: Config
) -> None:
    config = limited(config, bcrypt_cost=12, bcrypt_queue=16, trusted_proxies=("127.0.0.1",))
    server = await start_server(nursery, config)
    await account(server, "owner", "owner-password")
    done: list[str] = []

    async def attempt(label: str, name: str, password: str, address: str) -> None:
        async with http_client(server) as client:
            response = await login(client, name, password, address)
        if response.status_code != 503:
            done.append(f"{label} {response.status_code}")

    with trio.fail_after(4 * STEP):
        async with trio.open_nursery() as attempts:
            for n in range(16):  # 8 addresses, 2 made-up names each
                attempts.start_soon(attempt, "flood", f"nobody{n}", "guess-guess", BOTS[n % 8])
            await trio.sleep(0.2)  # the flood has filled the unknown names' half
            attempts.start_soon(attempt, "owner", "owner", "owner-password", OWNER)
    flood_done = [label for label in done if label.startswith("flood")]
    assert len(flood_done) >= 6, done
    # Two checks were running when the owner came, and the owner's went next, before the
    # flood's waiting ones: most of the flood is answered after the owner (in turn, all
    # of it would be). Not "right after the two": on a busy machine more of the flood is
    # answered while the owner's request is still on its way to the queue.
    after_the_owner = len(done) - 1 - done.index("owner 200")
    assert after_the_owner >= len(flood_done) / 2, done


async def test_the_bcrypt_queue_shares_are_settings_of_its_size(
    nursery: trio.Nursery, config: Config
) -> None:
    config = limited(config, bcrypt_cost=12, bcrypt_queue=4)
    server = await start_server(nursery, config)
    statuses = await statuses_at_once(
        [(server, {"name": "nobody", "password": "guess-guess"}, {})] * 10
    )
    # Two threads, and one place waiting for this one address (a quarter of 4).
    assert statuses.count(401) == 3, statuses
    assert statuses.count(503) == 7, statuses
