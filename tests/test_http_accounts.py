"""POST /auth (spec 000), POST /api/reg and /api/login (spec 002), GET /healthz."""

from __future__ import annotations

import jwt
import pytest
import trio
from support import STEP, TEST_SECRET, Server, http_client, pg_session, register, start_server

from chat.app.accounts.auth import Passwords
from chat.core.config import Config
from chat.store import open_store


async def test_register_returns_201_with_a_token_for_the_new_user(server: Server) -> None:
    async with http_client(server) as client:
        response = await client.post(
            "/api/reg", json={"username": "alice", "password": "wonderland"}
        )
    assert response.status_code == 201
    claims = jwt.decode(response.json()["token"], TEST_SECRET, algorithms=["HS256"])
    assert claims["name"] == "alice"


async def test_register_with_a_taken_name_is_409(server: Server) -> None:
    await register(server, "alice")
    async with http_client(server) as client:
        response = await client.post(
            "/api/reg", json={"username": "alice", "password": "another password"}
        )
    assert response.status_code == 409
    assert "already taken" in response.json()["error"]


async def test_auth_returns_a_token_carrying_the_name(server: Server) -> None:
    await register(server, "alice", "wonderland")
    async with http_client(server) as client:
        response = await client.post("/auth", json={"name": "alice", "password": "wonderland"})
    assert response.status_code == 200
    assert set(response.json()) == {"token"}
    claims = jwt.decode(response.json()["token"], TEST_SECRET, algorithms=["HS256"])
    assert claims["name"] == "alice"


async def test_api_login_returns_a_token(server: Server) -> None:
    await register(server, "hello", "wide world")
    async with http_client(server) as client:
        response = await client.post(
            "/api/login", json={"username": "hello", "password": "wide world"}
        )
    assert response.status_code == 200
    assert (
        jwt.decode(response.json()["token"], TEST_SECRET, algorithms=["HS256"])["name"] == "hello"
    )


async def test_token_claims_are_sub_name_iat_exp_and_ver(server: Server) -> None:
    token = await register(server, "alice")
    claims = jwt.decode(token, TEST_SECRET, algorithms=["HS256"])
    assert set(claims) == {"sub", "name", "iat", "exp", "ver"}
    assert claims["sub"].isdigit()
    assert claims["ver"] == 0  # the account's token version: no revocation yet
    assert claims["exp"] - claims["iat"] == server.config.token_ttl


@pytest.mark.parametrize("path,name_field", [("/auth", "name"), ("/api/login", "username")])
async def test_wrong_password_is_401_invalid_credentials(
    server: Server, path: str, name_field: str
) -> None:
    await register(server, "alice", "the right one")
    async with http_client(server) as client:
        response = await client.post(path, json={name_field: "alice", "password": "wrong"})
    assert response.status_code == 401
    assert response.json() == {"error": "invalid credentials"}


@pytest.mark.parametrize("path,name_field", [("/auth", "name"), ("/api/login", "username")])
async def test_unknown_user_gets_the_same_answer_as_a_wrong_password(
    server: Server, path: str, name_field: str
) -> None:
    async with http_client(server) as client:
        response = await client.post(path, json={name_field: "nobody", "password": "wonderland"})
    assert response.status_code == 401
    assert response.json() == {"error": "invalid credentials"}


BAD_BODIES = [
    pytest.param(b"{not json", "not valid JSON", id="malformed-json"),
    pytest.param(b"", "empty", id="empty-body"),
    pytest.param(b"\xff\xfe", "UTF-8", id="not-utf8"),
    pytest.param(b'["alice", "pw"]', "must be a JSON object", id="array"),
    pytest.param(b'"alice"', "must be a JSON object", id="string"),
    pytest.param(b'{"password": "wonderland"}', 'field "username" is required', id="missing-name"),
    pytest.param(b'{"username": "alice"}', 'field "password" is required', id="missing-password"),
    pytest.param(
        b'{"username": 5, "password": "wonderland"}',
        'field "username" must be a string',
        id="number-name",
    ),
    pytest.param(
        b'{"username": "alice", "password": null}',
        'field "password" must be a string',
        id="null-password",
    ),
    pytest.param(
        b'{"username": "", "password": "wonderland"}', "must not be empty", id="empty-name"
    ),
    pytest.param(
        b'{"username": "alice", "password": ""}', "must not be empty", id="empty-password"
    ),
    pytest.param(
        ('{"username": "%s", "password": "wonderland"}' % ("n" * 256)).encode(),
        "at most 255 characters",
        id="long-name",
    ),
    pytest.param(
        b'{"username": "alice", "password": "1234567"}',
        "password must be at least 8 characters",
        id="password-under-8-characters",
    ),
    pytest.param(
        ('{"username": "alice", "password": "%s"}' % ("\u00e9" * 37)).encode(),
        "at most 72 bytes",
        id="password-over-72-bytes",
    ),
    pytest.param(b'{"username": " alice", "password": "wonderland"}', "spaces", id="padded-name"),
    pytest.param(
        b'{"username": "a\\u0001b", "password": "wonderland"}',
        "control characters",
        id="control-character",
    ),
    pytest.param(
        b'{"username": "Server", "password": "wonderland"}', "reserved", id="reserved-name"
    ),
]


@pytest.mark.parametrize("body,problem", BAD_BODIES)
async def test_bad_registration_bodies_get_400_naming_the_problem(
    server: Server, body: bytes, problem: str
) -> None:
    async with http_client(server) as client:
        response = await client.post("/api/reg", content=body)
    assert response.status_code == 400
    assert problem in response.json()["error"]


@pytest.mark.parametrize(
    "path,body,problem",
    [
        ("/auth", b'{"name": "alice"}', 'field "password" is required'),
        (
            "/auth",
            b'{"name": ["alice"], "password": "wonderland"}',
            'field "name" must be a string',
        ),
        ("/auth", b'{"name": "", "password": "wonderland"}', "must not be empty"),
        ("/auth", b"[]", "must be a JSON object"),
        ("/api/login", b"nope", "not valid JSON"),
        (
            "/api/login",
            ('{"username": "%s", "password": "wonderland"}' % ("n" * 256)).encode(),
            "at most 255",
        ),
        (
            "/auth",
            ('{"name": "alice", "password": "%s"}' % ("x" * 73)).encode(),
            "at most 72 bytes",
        ),
    ],
)
async def test_bad_login_bodies_get_400_naming_the_problem(
    server: Server, path: str, body: bytes, problem: str
) -> None:
    async with http_client(server) as client:
        response = await client.post(path, content=body)
    assert response.status_code == 400
    assert problem in response.json()["error"]


async def test_a_72_byte_password_is_accepted(server: Server) -> None:
    password = "\u00e9" * 36  # 72 bytes in UTF-8
    await register(server, "alice", password)
    async with http_client(server) as client:
        response = await client.post("/auth", json={"name": "alice", "password": password})
    assert response.status_code == 200


async def test_an_eight_character_password_is_accepted(server: Server) -> None:
    await register(server, "alice", "12345678")
    async with http_client(server) as client:
        response = await client.post("/auth", json={"name": "alice", "password": "12345678"})
    assert response.status_code == 200


async def test_a_password_set_before_the_minimum_length_still_logs_in(
    nursery: trio.Nursery, config: Config
) -> None:
    async with open_store(config) as store:
        await store.create_user("old-timer", await Passwords(4).hash("pw"))
    server = await start_server(nursery, config)
    async with http_client(server) as client:
        for path, name_field in (("/auth", "name"), ("/api/login", "username")):
            response = await client.post(path, json={name_field: "old-timer", "password": "pw"})
            assert response.status_code == 200, (path, response.text)


async def test_body_over_the_limit_is_413(server: Server) -> None:
    body = b'{"username": "alice", "password": "' + b"x" * server.config.max_body_bytes + b'"}'
    async with http_client(server) as client:
        response = await client.post("/api/reg", content=body)
    assert response.status_code == 413
    assert "error" in response.json()


async def test_unknown_path_is_a_json_404(server: Server) -> None:
    async with http_client(server) as client:
        response = await client.get("/no/such/thing")
    assert response.status_code == 404
    assert response.json() == {"error": "not found"}


async def test_wrong_method_is_a_json_405(server: Server) -> None:
    async with http_client(server) as client:
        response = await client.get("/auth")
    assert response.status_code == 405
    assert "error" in response.json()
    assert "POST" in response.headers["allow"]


async def test_healthz_is_ok_when_the_database_answers(server: Server) -> None:
    async with http_client(server) as client:
        response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_healthz_is_503_when_the_database_does_not_answer(
    nursery: trio.Nursery, postgres_config: Config
) -> None:
    # PostgreSQL only: an exclusive table lock blocks readers there, not in SQLite's WAL.
    config = postgres_config
    server = await start_server(nursery, config)
    lock_held = trio.Event()

    async def hold_lock() -> None:
        # Holds ACCESS EXCLUSIVE on rooms for 4 s from a connection outside the server.
        async with pg_session(config.database_url) as execute:
            await execute("BEGIN; LOCK TABLE rooms IN ACCESS EXCLUSIVE MODE")
            lock_held.set()
            await execute("SELECT pg_sleep(4); COMMIT")

    nursery.start_soon(hold_lock)
    await lock_held.wait()
    async with http_client(server) as client:
        with trio.fail_after(STEP):
            response = await client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["status"] == "unavailable"


async def test_passwords_are_stored_as_bcrypt_hashes_at_cost_12_by_default(
    nursery: trio.Nursery, config: Config
) -> None:
    server = await start_server(nursery, config.replace(bcrypt_cost=Config().bcrypt_cost))
    await register(server, "alice", "wonderland")
    async with open_store(config) as store:
        user = await store.user_by_name("alice")
    assert user is not None
    assert user.password_hash.startswith("$2b$12$")
    assert "wonderland" not in user.password_hash
