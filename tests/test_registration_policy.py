"""The registration policy (``CHAT_REGISTRATION``, ``CHAT_REGISTRATION_EMAIL_DOMAINS``) on
every registration route of every dialect: closed refuses all, invite refuses those
without a valid code (unknown, forged, revoked, spent or expired), and an invite's last
use goes to one registration of two racing for it (PostgreSQL)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import trio
from support import (
    Server,
    execute_sql,
    http_client,
    pg_query,
    pg_session,
    start_server,
    wait_until_true,
)
from test_support import operator

from chat.core.config import Config

#: Each registration route, and a body for it registering `name` with invite `code`.
ROUTES = {
    "/api/reg": lambda name, code: {"username": name, "password": "pw-long-1", "invite": code},
    "/signup": lambda name, code: {
        "email": f"{name}@example.com",
        "name": name,
        "password": "pw-long-1",
        "invite": code,
    },
    "/register": lambda name, code: {
        "Username": name,
        "Email": f"{name}@example.com",
        "Password": "pw-long-1",
        "Invite": code,
    },
}


async def _register(
    server: Server, route: str, name: str, code: str | None = None
) -> httpx.Response:
    async with http_client(server) as client:
        return await client.post(route, json=ROUTES[route](name, code))


async def _invite(server: Server, uses: int = 1, **more: Any) -> dict[str, Any]:
    op = await operator(server)
    async with http_client(server) as client:
        made = await client.post("/invites", json={"Uses": uses, **more}, headers=op.auth)
    assert made.status_code == 201, made.text
    return made.json()


@pytest.mark.parametrize("route", list(ROUTES))
async def test_closed_registration_refuses_every_route(
    nursery: trio.Nursery, config: Config, route: str
) -> None:
    server = await start_server(nursery, config.replace(registration="closed"))
    answer = await _register(server, route, "newcomer")
    assert answer.status_code == 403
    assert "registration is closed" in answer.json()["error"]


@pytest.mark.parametrize("route", list(ROUTES))
async def test_invite_only_registration_refuses_a_registration_without_a_code(
    nursery: trio.Nursery, config: Config, route: str
) -> None:
    server = await start_server(nursery, config.replace(registration="invite"))
    answer = await _register(server, route, "newcomer")
    assert answer.status_code == 403
    assert "by invitation only" in answer.json()["error"]


@pytest.mark.parametrize("route", list(ROUTES))
async def test_invite_only_registration_admits_a_valid_code_on_every_route(
    nursery: trio.Nursery, config: Config, route: str
) -> None:
    server = await start_server(nursery, config.replace(registration="invite"))
    code = (await _invite(server))["Code"]
    answer = await _register(server, route, "newcomer", code)
    assert answer.status_code == 201, answer.text


async def test_a_forged_code_is_refused(nursery: trio.Nursery, config: Config) -> None:
    server = await start_server(nursery, config.replace(registration="invite"))
    code = (await _invite(server))["Code"]
    forged = code[:-4] + ("AAAA" if not code.endswith("AAAA") else "BBBB")
    answer = await _register(server, "/register", "newcomer", forged)
    assert answer.status_code == 403
    assert "not valid" in answer.json()["error"]


async def test_an_invite_past_its_count_is_refused(nursery: trio.Nursery, config: Config) -> None:
    server = await start_server(nursery, config.replace(registration="invite"))
    code = (await _invite(server, uses=1))["Code"]
    assert (await _register(server, "/register", "first", code)).status_code == 201
    answer = await _register(server, "/register", "second", code)
    assert answer.status_code == 403
    assert "used up or has expired" in answer.json()["error"]


async def test_an_invite_past_its_expiry_is_refused(nursery: trio.Nursery, config: Config) -> None:
    server = await start_server(nursery, config.replace(registration="invite"))
    code = (await _invite(server, uses=5))["Code"]
    await execute_sql(server.config, "UPDATE invites SET expires_at = created_at - 1")
    answer = await _register(server, "/register", "late", code)
    assert answer.status_code == 403
    assert "used up or has expired" in answer.json()["error"]


async def test_a_revoked_invite_is_refused(nursery: trio.Nursery, config: Config) -> None:
    server = await start_server(nursery, config.replace(registration="invite"))
    made = await _invite(server, uses=5)
    op = await operator(server, "op2")
    async with http_client(server) as client:
        deleted = await client.delete(f"/invites/{made['InviteID']}", headers=op.auth)
    assert deleted.status_code == 204
    answer = await _register(server, "/register", "late", made["Code"])
    assert answer.status_code == 403
    assert "not valid" in answer.json()["error"]


async def test_a_registration_refused_for_its_name_keeps_the_use(
    nursery: trio.Nursery, config: Config
) -> None:
    server = await start_server(nursery, config.replace(registration="invite"))
    code = (await _invite(server, uses=1))["Code"]
    assert (await _register(server, "/api/reg", "op", code)).status_code == 409  # op's name
    assert (await _register(server, "/api/reg", "newcomer", code)).status_code == 201


async def test_the_domain_allow_list_refuses_other_addresses_and_admits_its_own(
    nursery: trio.Nursery, config: Config
) -> None:
    changes = {"registration_email_domains": ("example.org",)}
    server = await start_server(nursery, config.replace(**changes))
    async with http_client(server) as client:
        other = await client.post(
            "/register",
            json={"Username": "eve", "Email": "eve@evil.test", "Password": "pw-long-1"},
        )
        sub = await client.post(
            "/register",
            json={"Username": "ann", "Email": "ann@staff.example.org", "Password": "pw-long-1"},
        )
    assert other.status_code == 403
    assert "example.org" in other.json()["error"]
    assert sub.status_code == 201, sub.text


async def test_the_domain_allow_list_needs_an_invite_where_a_route_takes_no_address(
    nursery: trio.Nursery, config: Config
) -> None:
    changes = {"registration_email_domains": ("example.org",)}
    server = await start_server(nursery, config.replace(**changes))
    assert (await _register(server, "/api/reg", "bare")).status_code == 403
    code = (await _invite(server))["Code"]
    assert (await _register(server, "/api/reg", "invited", code)).status_code == 201


async def test_the_policy_is_published_for_the_login_page(
    nursery: trio.Nursery, config: Config
) -> None:
    server = await start_server(nursery, config.replace(registration="closed"))
    async with http_client(server) as client:
        policy = (await client.get("/registration")).json()
    assert policy == {
        "Registration": "closed",
        "EmailDomains": [],
        "MemberInvites": False,
        "MayInvite": False,
    }


async def test_two_registrations_racing_for_the_last_use_admit_one(
    nursery: trio.Nursery, postgres_config: Config
) -> None:
    # Both pass the early check, then queue behind the test's lock on the invite's row
    # at the UPDATE that takes a use; once it is released, PostgreSQL re-reads the row
    # for the second and finds no use left.
    server = await start_server(nursery, postgres_config.replace(registration="invite"))
    code = (await _invite(server, uses=1))["Code"]
    url = postgres_config.database_url
    assert url is not None
    answers: list[int] = []

    async def racer(name: str) -> None:
        answers.append((await _register(server, "/register", name, code)).status_code)

    two_wait = (
        "SELECT count(*) = 2 FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
        " AND datname = current_database() AND query LIKE '%UPDATE invites SET used%'"
    )
    async with pg_session(url) as execute, pg_query(url) as fetchval:
        await execute("BEGIN")
        await execute("SELECT * FROM invites FOR UPDATE")
        async with trio.open_nursery() as racers:
            racers.start_soon(racer, "left")
            racers.start_soon(racer, "right")
            await wait_until_true(fetchval, two_wait)
            await execute("COMMIT")
    assert sorted(answers) == [201, 403]
