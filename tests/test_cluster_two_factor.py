"""Two-factor authentication on a cluster: the table is the truth, so a TOTP code
accepted by one instance is refused by another (the last step used is in the database,
moved by one conditional statement), and so is a recovery code, even when both
instances are shown the same code at once."""

from __future__ import annotations

import trio
from cluster import Instance
from support import Account, Server, account
from test_cluster_sessions import pair  # noqa: F401 (the fixture: two instances)
from test_two_factor import code, enrol, put_login


async def _six_at_once(a: Server, b: Server, user: Account, login_code: str) -> list[int]:
    """Six logins with the same code, three on each instance, at once: their statuses."""
    statuses: list[int] = []

    async def login(server: Server) -> None:
        statuses.append((await put_login(server, user, Code=login_code)).status_code)

    async with trio.open_nursery() as nursery:
        for _ in range(3):
            nursery.start_soon(login, a)
            nursery.start_soon(login, b)
    return sorted(statuses)


async def test_a_code_accepted_on_one_instance_is_refused_on_another(
    pair: list[Instance],  # noqa: F811
) -> None:
    a, b = pair[0].server, pair[1].server
    alice = await account(a, "alice")
    secret, _ = await enrol(a, alice)
    now = code(secret)
    assert (await put_login(a, alice, Code=now)).status_code == 200
    replayed = await put_login(b, alice, Code=now)
    assert replayed.status_code == 401 and replayed.json()["NeedsCode"] is True


async def test_one_totp_code_shown_to_both_instances_at_once_logs_in_once(
    pair: list[Instance],  # noqa: F811
) -> None:
    a, b = pair[0].server, pair[1].server
    alice = await account(a, "alice")
    secret, _ = await enrol(a, alice)
    assert await _six_at_once(a, b, alice, code(secret)) == [200, 401, 401, 401, 401, 401]


async def test_one_recovery_code_shown_to_both_instances_at_once_logs_in_once(
    pair: list[Instance],  # noqa: F811
) -> None:
    a, b = pair[0].server, pair[1].server
    alice = await account(a, "alice")
    _, codes = await enrol(a, alice)
    assert await _six_at_once(a, b, alice, codes[0]) == [200, 401, 401, 401, 401, 401]
