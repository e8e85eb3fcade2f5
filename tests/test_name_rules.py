"""User names that cannot impersonate, over HTTP on both backends (chat/core/names.py has the
rules; tests/test_names.py tests them one by one), and the name keys of users stored
before the rules existed.

Look-alike letters are written as escapes: here they would pass for Latin ones too.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import sqlite3

import httpx
import jwt
import pytest
import trio
from support import (
    PASSWORD,
    TEST_SECRET,
    Server,
    account,
    http_client,
    pg_query,
    pg_session,
    register,
    start_server,
)

from chat.app.accounts.auth import Passwords
from chat.core.config import Config
from chat.core.names import name_key
from chat.store import open_store

CYRILLIC_A = "\u0430"  # looks like a
CYRILLIC_DZE = "\u0455"  # looks like s
CYRILLIC_CAPITAL_DZE = "\u0405"  # looks like S
CYRILLIC_CAPITAL_VE = "\u0412"  # looks like B (its lower case does not look like b)


async def register_through(client: httpx.AsyncClient, route: str, name: str) -> httpx.Response:
    """Register `name` through one of the registration routes (specs 002, 003, 004)."""
    email = f"{secrets.token_hex(4)}@example.com"
    bodies = {
        "/api/reg": {"username": name, "password": PASSWORD},
        "/signup": {"email": email, "name": name, "password": PASSWORD},
        "/register": {"Username": name, "Email": email, "Password": PASSWORD},
    }
    return await client.post(route, json=bodies[route])


async def try_register(server: Server, name: str) -> httpx.Response:
    async with http_client(server) as client:
        return await register_through(client, "/api/reg", name)


async def rename(server: Server, token: str, new_name: str) -> httpx.Response:
    async with http_client(server) as client:
        return await client.put(
            "/change-name", headers={"Authorization": token}, json={"NewName": new_name}
        )


# --- registration ---

ROUTES = ["/api/reg", "/signup", "/register"]


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize(
    "name,problem",
    [
        ("ser\u200bver", "user name must not contain invisible characters (U+200B)"),
        (CYRILLIC_DZE + "erver", f'the user name "{CYRILLIC_DZE}erver" is reserved'),
        ("alice\u200b", "user name must not contain invisible characters (U+200B)"),
    ],
    ids=["server-with-zero-width-space", "server-with-cyrillic-s", "alice-with-zero-width-space"],
)
async def test_the_impersonating_names_are_refused_on_every_registration_route(
    server: Server, route: str, name: str, problem: str
) -> None:
    await register(server, "alice")
    async with http_client(server) as client:
        response = await register_through(client, route, name)
    assert response.status_code == 400
    assert response.json() == {"error": problem}


async def test_a_name_in_another_case_is_taken(server: Server) -> None:
    await register(server, "ann")
    response = await try_register(server, "Ann")
    assert response.status_code == 409
    assert response.json() == {"error": "user name 'Ann' is already taken: it looks like 'ann'"}


async def test_a_name_in_look_alike_letters_is_taken(server: Server) -> None:
    await register(server, "alice")
    response = await try_register(server, CYRILLIC_A + "lice")
    assert response.status_code == 409
    assert response.json()["error"].endswith("it looks like 'alice'")


async def test_a_name_whose_capital_looks_like_another_users_is_taken(server: Server) -> None:
    await register(server, "Bob")
    response = await try_register(server, CYRILLIC_CAPITAL_VE + "ob")
    assert response.status_code == 409
    assert response.json()["error"].endswith("it looks like 'Bob'")


async def test_a_capital_i_cannot_pass_for_a_lower_case_l(server: Server) -> None:
    await register(server, "alice")
    response = await try_register(server, "aIice")
    assert response.status_code == 409


@pytest.mark.parametrize(
    "name",
    [
        "server",
        "Support",
        "ADMIN",
        "system",
        CYRILLIC_DZE + "erver",
        CYRILLIC_CAPITAL_DZE + "YSTEM",
    ],
)
async def test_reserved_names_and_their_look_alikes_are_refused(server: Server, name: str) -> None:
    response = await try_register(server, name)
    assert response.status_code == 400
    assert response.json() == {"error": f'the user name "{name}" is reserved'}


async def test_a_name_is_stored_normalised(server: Server) -> None:
    token = await register(server, "\uff41\uff4c\uff49\uff43\uff45")  # full-width letters
    async with http_client(server) as client:
        profile = await client.get("/profile", headers={"Authorization": token})
    assert profile.json()["Username"] == "alice"


async def test_a_name_of_words_separated_by_single_spaces_is_accepted(server: Server) -> None:
    response = await try_register(server, "Anna Maria")
    assert response.status_code == 201, response.text


async def test_look_alikes_registering_at_once_get_one_201_and_one_409(server: Server) -> None:
    # Nothing is checked before the insert: the unique index decides the race.
    statuses = []

    async def attempt(name: str) -> None:
        statuses.append((await try_register(server, name)).status_code)

    async with trio.open_nursery() as nursery:
        for name in ("mallory", "MALLORY", "ma11ory", "rnallory"):
            nursery.start_soon(attempt, name)
    assert sorted(statuses) == [201, 409, 409, 409]


# --- renaming ---


async def test_a_rename_into_a_look_alike_of_another_user_is_409(server: Server) -> None:
    await account(server, "alice")
    bob = await account(server, "bob")
    response = await rename(server, bob.token, CYRILLIC_A + "lice")
    assert response.status_code == 409
    assert response.json() == {
        "error": f"user name '{CYRILLIC_A}lice' is already taken: it looks like 'alice'"
    }


async def test_a_rename_into_another_case_of_ones_own_name_is_allowed(server: Server) -> None:
    alice = await account(server, "alice")
    response = await rename(server, alice.token, "Alice")
    assert response.status_code == 200
    assert response.json()["Username"] == "Alice"


async def test_a_rename_frees_the_old_name_for_its_look_alikes(server: Server) -> None:
    alice = await account(server, "alice")
    assert (await rename(server, alice.token, "alicia")).status_code == 200
    assert (await try_register(server, "Alice")).status_code == 201


@pytest.mark.parametrize(
    "new_name,problem",
    [
        (CYRILLIC_DZE + "erver", "reserved"),
        ("bob\u200d", "invisible characters (U+200D)"),
        ("bob  smith", "two spaces in a row"),
    ],
)
async def test_a_rename_follows_the_rules_for_new_names(
    server: Server, new_name: str, problem: str
) -> None:
    bob = await account(server, "bob")
    response = await rename(server, bob.token, new_name)
    assert response.status_code == 400
    assert problem in response.json()["error"]


# --- logging in ---


@pytest.mark.parametrize(
    "path,body",
    [
        ("/auth", {"name": "Alice", "password": PASSWORD}),
        ("/api/login", {"username": "ALICE", "password": PASSWORD}),
        ("/v1/auth/", {"user_name": "aLiCe", "password": PASSWORD}),
    ],
)
async def test_logging_in_by_name_ignores_case(server: Server, path: str, body: dict) -> None:
    await register(server, "alice")
    async with http_client(server) as client:
        response = await client.post(path, json=body)
    assert response.status_code == 200, response.text


# --- users stored before the rules ---


async def execute(config: Config, sqlite_sql: str, postgres_sql: str, *args: str) -> None:
    """One statement behind the store's back (which must not be open), in the spelling
    of the backend under test."""
    if config.database_url is None:

        def run() -> None:
            with contextlib.closing(sqlite3.connect(config.sqlite_path)) as conn, conn:
                conn.execute(sqlite_sql, args)

        await trio.to_thread.run_sync(run)
    else:
        async with pg_session(config.database_url) as pg_execute:
            await pg_execute(postgres_sql, *args)


async def name_key_of(config: Config, name: str) -> str | None:
    """The name key stored for the user called `name`."""
    if config.database_url is None:

        def select() -> str | None:
            with contextlib.closing(sqlite3.connect(config.sqlite_path)) as conn:
                query = "SELECT name_key FROM users WHERE name = ?"
                return conn.execute(query, (name,)).fetchone()[0]

        return await trio.to_thread.run_sync(select)
    async with pg_query(config.database_url) as fetchval:
        return await fetchval("SELECT name_key FROM users WHERE name = $1", name)


async def add_user_without_keys(config: Config, name: str, password_hash: str) -> None:
    """A user as the schema before sql/*/0005 stored it: without name keys."""
    await execute(
        config,
        "INSERT INTO users (name, password_hash, created_at) VALUES (?, ?, 0)",
        "INSERT INTO users (name, password_hash) VALUES ($1, $2)",
        name,
        password_hash,
    )


async def forget_every_name_key(config: Config) -> None:
    sql = "UPDATE users SET name_key = NULL, look_key = NULL"
    await execute(config, sql, sql)


async def users_from_before_the_rules(config: Config) -> None:
    """A database whose users have no name keys yet: `alice`, then the impostors
    `Alice` and `ser<U+200B>ver`, each with the password "pw"."""
    async with open_store(config) as store:
        await store.create_user("alice", await Passwords(4).hash("pw"))
    await forget_every_name_key(config)
    for name in ("Alice", "ser\u200bver"):
        await add_user_without_keys(config, name, await Passwords(4).hash("pw"))


async def test_users_without_name_keys_get_them_when_the_store_opens(config: Config) -> None:
    await users_from_before_the_rules(config)
    async with open_store(config) as store:
        alice = await store.user_like_name("ALICE")
        impostor = await store.user_like_name("server")
    assert alice is not None and alice.name == "alice"  # by its new key
    assert impostor is not None and impostor.name == "ser\u200bver"


async def test_of_two_existing_look_alikes_the_older_keeps_the_key(
    config: Config, caplog: pytest.LogCaptureFixture
) -> None:
    await users_from_before_the_rules(config)
    with caplog.at_level(logging.WARNING, logger="chat.store.accounts"):
        async with open_store(config) as store:
            found = await store.user_like_name("aLICE")
    assert found is not None and found.name == "alice"
    assert await name_key_of(config, "alice") == name_key("alice")
    assert await name_key_of(config, "Alice") is None
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("'Alice' passes for 'alice'" in warning for warning in warnings), warnings


async def test_an_existing_look_alike_still_logs_in_by_its_exact_name(
    nursery: trio.Nursery, config: Config
) -> None:
    await users_from_before_the_rules(config)
    server = await start_server(nursery, config)
    async with http_client(server) as client:
        for name in ("alice", "Alice", "ser\u200bver"):
            response = await client.post("/auth", json={"name": name, "password": "pw"})
            assert response.status_code == 200, (name, response.text)
            token = response.json()["token"]
            assert jwt.decode(token, TEST_SECRET, algorithms=["HS256"])["name"] == name


async def test_an_existing_users_keys_block_new_look_alikes(
    nursery: trio.Nursery, config: Config
) -> None:
    await users_from_before_the_rules(config)
    server = await start_server(nursery, config)
    response = await try_register(server, "ALICE")
    assert response.status_code == 409
    assert response.json()["error"].endswith("it looks like 'alice'")
