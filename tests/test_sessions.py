"""Browser sessions (chat/app/accounts/sessions.py, chat/http/sessions.py): a cookie instead
of a token in a URL, rotated at every refresh, reuse of a rotated secret detected, CSRF
refused, and the WebSocket signed in by the cookie or by its first frame. Each test runs on
SQLite and on PostgreSQL (the `server` fixture)."""

from __future__ import annotations

import json
from http.cookies import SimpleCookie
from pathlib import Path

import httpx
import pytest
import trio
from support import (
    STEP,
    Account,
    Server,
    account,
    execute_sql,
    http_client,
    open_clients,
    raw_upgrade,
    select_rows,
    server_config,
    start_server,
    status_of,
)
from test_token_revocation import closed, still_open

from chat.app.accounts.sessions import GRACE_S, Verdict, judge, secret_hash
from chat.core.session_records import SessionRecord

PASSWORD = "correct horse"
COOKIE = "chat_session"


def origin(server: Server) -> dict[str, str]:
    """The headers of a request from the server's own page."""
    return {"Origin": server.http}


def set_cookie(response: httpx.Response) -> SimpleCookie:
    """The response's Set-Cookie headers, parsed."""
    jar: SimpleCookie = SimpleCookie()
    for header in response.headers.get_list("set-cookie"):
        jar.load(header)
    return jar


def cookie_of(response: httpx.Response) -> str:
    """The session cookie's value a response sets."""
    jar = set_cookie(response)
    assert COOKIE in jar, response.headers
    return jar[COOKIE].value


def with_cookie(server: Server, cookie: str) -> dict[str, str]:
    return {**origin(server), "Cookie": f"{COOKIE}={cookie}"}


async def sign_in(server: Server, name: str, *, remember: bool = False) -> httpx.Response:
    async with http_client(server) as client:
        response = await client.post(
            "/session",
            headers=origin(server),
            json={"Username": name, "Password": PASSWORD, "Remember": remember},
        )
    assert response.status_code == 200, response.text
    return response


async def refresh(server: Server, cookie: str, **headers: str) -> httpx.Response:
    async with http_client(server) as client:
        return await client.post(
            "/session/refresh", headers={**with_cookie(server, cookie), **headers}
        )


async def profile(server: Server, token: str) -> httpx.Response:
    async with http_client(server) as client:
        return await client.get("/profile", headers={"Authorization": f"Bearer {token}"})


@pytest.fixture
async def alice(server: Server) -> Account:
    return await account(server, "alice", PASSWORD)


# --- signing in ---


async def test_signing_in_sets_an_httponly_samesite_strict_cookie_for_the_browser_session(
    server: Server, alice: Account
) -> None:
    response = await sign_in(server, "alice")
    morsel = set_cookie(response)[COOKIE]
    assert morsel["httponly"] is True
    assert morsel["samesite"] == "Strict"
    assert morsel["path"] == "/"
    assert morsel["max-age"] == ""  # ends with the browser
    assert morsel["secure"] == ""  # plain HTTP: a browser would refuse a Secure cookie
    body = response.json()
    assert (body["UID"], body["Username"], body["Remember"]) == (alice.uid, "alice", False)
    assert (await profile(server, body["token"])).status_code == 200


async def test_keep_me_signed_in_makes_the_cookie_last_30_days(
    server: Server, alice: Account
) -> None:
    response = await sign_in(server, "alice", remember=True)
    assert set_cookie(response)[COOKIE]["max-age"] == str(30 * 24 * 3600)
    assert response.json()["Remember"] is True


async def test_the_token_a_session_hands_out_is_short_lived(server: Server, alice: Account) -> None:
    body = (await sign_in(server, "alice")).json()
    assert body["ExpiresIn"] == server.config.session_token_ttl == 900


async def test_signing_in_with_a_wrong_password_sets_no_cookie(
    server: Server, alice: Account
) -> None:
    async with http_client(server) as client:
        response = await client.post(
            "/session", headers=origin(server), json={"Username": "alice", "Password": "nope!!!!"}
        )
    assert response.status_code == 401
    assert "set-cookie" not in response.headers


async def test_signing_in_from_another_site_is_refused(server: Server, alice: Account) -> None:
    async with http_client(server) as client:
        response = await client.post(
            "/session",
            headers={"Origin": "https://evil.example"},
            json={"Username": "alice", "Password": PASSWORD},
        )
    assert response.status_code == 403
    assert "set-cookie" not in response.headers


async def test_the_spec_login_routes_answer_as_before(server: Server, alice: Account) -> None:
    async with http_client(server) as client:
        response = await client.post("/api/login", json={"username": "alice", "password": PASSWORD})
    assert set(response.json()) == {"token"}
    assert "set-cookie" not in response.headers


# --- refreshing: rotation, the grace, reuse ---


async def test_a_refresh_rotates_the_cookie_and_hands_out_a_working_token(
    server: Server, alice: Account
) -> None:
    first = cookie_of(await sign_in(server, "alice"))
    response = await refresh(server, first)
    assert response.status_code == 200, response.text
    second = cookie_of(response)
    assert second != first
    assert second.split(".")[0] == first.split(".")[0]  # the same session
    assert (await profile(server, response.json()["token"])).status_code == 200
    assert (await refresh(server, second)).status_code == 200


async def test_the_secret_just_replaced_still_works_within_the_grace_and_is_not_rotated(
    server: Server, alice: Account
) -> None:
    first = cookie_of(await sign_in(server, "alice"))
    second = cookie_of(await refresh(server, first))
    late = await refresh(server, first)  # another tab, a moment later
    assert late.status_code == 200, late.text
    assert COOKIE not in set_cookie(late)  # the jar keeps the newer cookie
    assert (await refresh(server, second)).status_code == 200  # the session goes on


async def test_two_tabs_refreshing_at_once_both_stay_signed_in(
    server: Server, alice: Account
) -> None:
    cookie = cookie_of(await sign_in(server, "alice"))
    answers: list[httpx.Response] = []

    async def tab() -> None:
        answers.append(await refresh(server, cookie))

    async with trio.open_nursery() as nursery:
        for _ in range(4):
            nursery.start_soon(tab)
    assert [answer.status_code for answer in answers] == [200] * 4
    rotated = [cookie_of(answer) for answer in answers if COOKIE in set_cookie(answer)]
    assert len(rotated) == 1  # one rotation; the others had the grace
    assert (await refresh(server, rotated[0])).status_code == 200


async def test_a_rotated_secret_presented_again_revokes_the_session(
    server: Server, alice: Account, caplog: pytest.LogCaptureFixture
) -> None:
    stolen = cookie_of(await sign_in(server, "alice"))
    second = cookie_of(await refresh(server, stolen))
    third = cookie_of(await refresh(server, second))
    reused = await refresh(server, stolen)  # two rotations old: past any grace
    assert reused.status_code == 401
    assert reused.json() == {"error": "the session has ended: log in again"}
    # The rightful holder is signed out too: nobody knows which one is the thief.
    assert (await refresh(server, third)).status_code == 401
    [warning] = [r for r in caplog.records if r.name == "chat.app.accounts.sessions"]
    assert warning.levelname == "WARNING"
    assert f"a session of user {alice.uid} revoked" in warning.getMessage()
    assert not [part for part in stolen.split(".") if part in warning.getMessage()]


def _record(*, rotated_at: int, expires_at: int = 10_000) -> SessionRecord:
    return SessionRecord(
        id="s",
        user_id=1,
        secret_hash=secret_hash("current"),
        previous_hash=secret_hash("previous"),
        generation=1,
        token_version=0,
        remember=False,
        created_at=0,
        rotated_at=rotated_at,
        last_used_at=rotated_at,
        expires_at=expires_at,
        revoked_at=None,
    )


def test_the_previous_secret_is_a_reuse_once_the_grace_is_over() -> None:
    record = _record(rotated_at=1000)
    assert judge(record, secret_hash("previous"), 1000 + GRACE_S) is Verdict.GRACE
    assert judge(record, secret_hash("previous"), 1000 + GRACE_S + 1) is Verdict.REUSED
    assert judge(record, secret_hash("current"), 1000 + GRACE_S + 1) is Verdict.CURRENT


def test_an_expired_session_has_ended_whatever_the_secret() -> None:
    record = _record(rotated_at=1000, expires_at=2000)
    assert judge(record, secret_hash("current"), 2000) is Verdict.ENDED


async def test_a_refresh_without_a_cookie_answers_204_with_nothing(server: Server) -> None:
    async with http_client(server) as client:
        response = await client.post("/session/refresh", headers=origin(server))
    assert (response.status_code, response.content) == (204, b"")


async def test_a_refresh_with_a_garbled_cookie_is_refused_with_401(server: Server) -> None:
    response = await refresh(server, "not-a-session")
    assert response.status_code == 401
    assert response.json() == {"error": "not signed in: no session (log in)"}
    assert set_cookie(response)[COOKIE]["max-age"] == "0"  # cleared


async def test_a_session_does_not_outlive_its_idle_lifetime(
    tmp_path: Path, database_url: str | None
) -> None:
    async with trio.open_nursery() as nursery:
        server = await start_server(nursery, server_config(tmp_path, database_url, session_idle=1))
        await account(server, "alice", PASSWORD)
        cookie = cookie_of(await sign_in(server, "alice"))
        await trio.sleep(2.1)
        assert (await refresh(server, cookie)).status_code == 401
        nursery.cancel_scope.cancel()


# --- CSRF ---


@pytest.mark.parametrize(
    "headers",
    [{}, {"Origin": "https://evil.example"}, {"Origin": "null"}, {"Sec-Fetch-Site": "cross-site"}],
    ids=["no-origin", "other-site", "null-origin", "cross-site-fetch"],
)
async def test_a_cookie_request_from_another_site_is_refused_with_403(
    server: Server, alice: Account, headers: dict[str, str]
) -> None:
    cookie = cookie_of(await sign_in(server, "alice"))
    async with http_client(server) as client:
        for path in ("/session/refresh", "/logout", "/logout-everywhere"):
            response = await client.post(path, headers={**headers, "Cookie": f"{COOKIE}={cookie}"})
            assert response.status_code == 403, (path, response.text)
            assert "this site's pages" in response.json()["error"]
    assert (await refresh(server, cookie)).status_code == 200  # nothing happened


async def test_sec_fetch_site_same_origin_passes_when_there_is_no_origin(
    server: Server, alice: Account
) -> None:
    cookie = cookie_of(await sign_in(server, "alice"))
    async with http_client(server) as client:
        response = await client.post(
            "/session/refresh",
            headers={"Sec-Fetch-Site": "same-origin", "Cookie": f"{COOKIE}={cookie}"},
        )
    assert response.status_code == 200, response.text


# --- ending sessions ---


async def test_logout_ends_the_session_and_clears_the_cookie(
    server: Server, alice: Account
) -> None:
    cookie = cookie_of(await sign_in(server, "alice"))
    other = cookie_of(await sign_in(server, "alice"))  # another browser
    async with http_client(server) as client:
        response = await client.post("/logout", headers=with_cookie(server, cookie))
    assert response.status_code == 200
    assert set_cookie(response)[COOKIE]["max-age"] == "0"
    assert (await refresh(server, cookie)).status_code == 401
    assert (await refresh(server, other)).status_code == 200


async def test_logout_everywhere_with_the_cookie_ends_every_session_and_token(
    server: Server, alice: Account
) -> None:
    cookie = cookie_of(await sign_in(server, "alice"))
    other = cookie_of(await sign_in(server, "alice"))
    async with http_client(server) as client:
        response = await client.post("/logout-everywhere", headers=with_cookie(server, cookie))
    assert response.status_code == 200, response.text
    assert (await refresh(server, other)).status_code == 401
    assert (await profile(server, alice.token)).status_code == 401


async def test_logout_everywhere_with_a_token_ends_the_browser_sessions_too(
    server: Server, alice: Account
) -> None:
    cookie = cookie_of(await sign_in(server, "alice"))
    async with http_client(server) as client:
        response = await client.post("/logout-everywhere", headers=alice.auth)
    assert response.status_code == 200
    assert (await refresh(server, cookie)).status_code == 401


async def test_a_password_change_ends_every_session(server: Server, alice: Account) -> None:
    cookie = cookie_of(await sign_in(server, "alice"))
    async with http_client(server) as client:
        response = await client.put(
            "/password",
            headers=alice.auth,
            json={"OldPassword": PASSWORD, "NewPassword": "battery staple"},
        )
    assert response.status_code == 200
    assert (await refresh(server, cookie)).status_code == 401


# --- the WebSocket ---


def ws_headers(cookie: str, page: str = "http://127.0.0.1") -> list[tuple[str, str]]:
    """An upgrade request from the page at `page` (the test clients' Host is the bare
    address), with the cookie."""
    return [("Origin", page), ("Cookie", f"{COOKIE}={cookie}")]


async def test_the_cookie_signs_the_websocket_in_with_no_token_in_the_url(
    server: Server, alice: Account
) -> None:
    cookie = cookie_of(await sign_in(server, "alice"))
    async with open_clients(server) as clients:
        ws = await clients.connect("/ws", headers=ws_headers(cookie))
        await ws.send_message(json.dumps({"Type": "enter", "RoomID": 1, "Presence": False}))
        with trio.fail_after(STEP):
            assert json.loads(await ws.get_message())["Type"] == "entered"


async def test_a_cross_site_websocket_with_the_cookie_is_refused(
    server: Server, alice: Account
) -> None:
    cookie = cookie_of(await sign_in(server, "alice"))
    headers = f"Origin: https://evil.example\r\nCookie: {COOKIE}={cookie}\r\n"
    response = await raw_upgrade(server, "/ws", headers)
    assert status_of(response) == b"403"


async def test_an_origin_allowed_for_tokens_cannot_use_the_cookie(
    tmp_path: Path, database_url: str | None
) -> None:
    config = server_config(tmp_path, database_url, allowed_origins=("https://app.example",))
    async with trio.open_nursery() as nursery:
        server = await start_server(nursery, config)
        await account(server, "alice", PASSWORD)
        cookie = cookie_of(await sign_in(server, "alice"))
        headers = f"Origin: https://app.example\r\nCookie: {COOKIE}={cookie}\r\n"
        response = await raw_upgrade(server, "/ws", headers)
        assert status_of(response) == b"401"
        nursery.cancel_scope.cancel()


async def test_an_ended_sessions_cookie_is_refused_at_the_handshake(
    server: Server, alice: Account
) -> None:
    cookie = cookie_of(await sign_in(server, "alice"))
    async with http_client(server) as client:
        await client.post("/logout", headers=with_cookie(server, cookie))
    response = await raw_upgrade(server, "/ws", f"Cookie: {COOKIE}={cookie}\r\n")
    assert status_of(response) == b"401"
    assert b"the session has ended" in response


async def test_logout_everywhere_closes_the_cookie_websocket(
    server: Server, alice: Account
) -> None:
    cookie = cookie_of(await sign_in(server, "alice"))
    async with open_clients(server) as clients:
        ws = await clients.connect("/ws", headers=ws_headers(cookie))
        await still_open(ws)
        async with http_client(server) as client:
            await client.post("/logout-everywhere", headers=with_cookie(server, cookie))
        _, code, reason = await closed(ws)
        assert (code, reason) == (1008, "token has been revoked")


async def test_the_first_frame_can_authenticate_the_websocket(
    server: Server, alice: Account
) -> None:
    async with open_clients(server) as clients:
        ws = await clients.connect("/ws?auth=frame")
        await ws.send_message(json.dumps({"Type": "auth", "Token": alice.token}))
        with trio.fail_after(STEP):
            answer = json.loads(await ws.get_message())
        assert answer == {"Type": "authenticated", "UID": alice.uid, "Username": "alice"}
        await ws.send_message(json.dumps({"Type": "enter", "RoomID": 1, "Presence": False}))
        with trio.fail_after(STEP):
            assert json.loads(await ws.get_message())["Type"] == "entered"


@pytest.mark.parametrize(
    "frame",
    ['{"Type": "enter", "RoomID": 1}', '{"Type": "auth", "Token": "garbage"}', "auth x"],
    ids=["not-auth", "bad-token", "not-json"],
)
async def test_a_first_frame_that_does_not_authenticate_closes_with_1008(
    server: Server, frame: str
) -> None:
    async with open_clients(server) as clients:
        ws = await clients.connect("/ws?auth=frame")
        await ws.send_message(frame)
        frames, code, _ = await closed(ws)
        assert (frames, code) == ([], 1008)


async def test_without_a_token_a_cookie_or_auth_frame_ws_is_still_refused_with_401(
    server: Server,
) -> None:
    response = await raw_upgrade(server, "/ws")
    assert status_of(response) == b"401"


async def test_behind_a_trusted_https_proxy_the_cookie_is_secure_and_host_prefixed(
    tmp_path: Path, database_url: str | None
) -> None:
    config = server_config(tmp_path, database_url, trusted_proxies=("127.0.0.1",))
    async with trio.open_nursery() as nursery:
        server = await start_server(nursery, config)
        await account(server, "alice", PASSWORD)
        async with http_client(server) as client:
            response = await client.post(
                "/session",
                headers={"X-Forwarded-Proto": "https"},
                json={"Username": "alice", "Password": PASSWORD},
            )
            jar = set_cookie(response)
            assert COOKIE not in jar
            morsel = jar["__Host-chat_session"]
            assert (morsel["secure"], morsel["path"], morsel["httponly"]) == (True, "/", True)
            cookie = f"__Host-chat_session={morsel.value}"
            refreshed = await client.post(
                "/session/refresh",
                headers={**origin(server), "Cookie": cookie, "X-Forwarded-Proto": "https"},
            )
            assert refreshed.status_code == 200, refreshed.text
        nursery.cancel_scope.cancel()


async def test_an_untrusted_peers_forwarded_proto_does_not_make_the_cookie_secure(
    server: Server, alice: Account
) -> None:
    async with http_client(server) as client:
        response = await client.post(
            "/session",
            headers={"X-Forwarded-Proto": "https"},
            json={"Username": "alice", "Password": PASSWORD},
        )
    assert set_cookie(response)[COOKIE]["secure"] == ""


async def test_sessions_that_ended_a_week_ago_are_dropped_when_one_is_made(
    server: Server, alice: Account
) -> None:
    await account(server, "bob", PASSWORD)
    old = cookie_of(await sign_in(server, "alice")).split(".")[0]
    ended = cookie_of(await sign_in(server, "alice"))
    async with http_client(server) as client:
        await client.post("/logout", headers=with_cookie(server, ended))
    week = 7 * 24 * 3600
    await execute_sql(server.config, f"UPDATE sessions SET expires_at = expires_at - {week + 60}")
    await sign_in(server, "bob")  # anyone's sign-in sweeps
    ids = [row[0] for row in await select_rows(server.config, "SELECT id FROM sessions")]
    # Moved a week back: the logged-out session ended more than a week ago (dropped);
    # alice's other one, made to last a day, expired six days ago (kept, for now).
    assert ended.split(".")[0] not in ids
    assert old in ids
    assert len(ids) == 2
