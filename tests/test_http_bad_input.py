"""No request, however malformed, gets a 500: every route answers junk with a 4xx that
names the problem."""

from __future__ import annotations

import json

import pytest
import trio
from support import STEP, Server, account, http_client

ROUTES = [
    ("POST", "/auth"),
    ("POST", "/api/reg"),
    ("POST", "/api/login"),
    ("POST", "/signup"),
    ("POST", "/login"),
    ("POST", "/register"),
    ("PUT", "/login"),
    ("POST", "/session"),
    ("PUT", "/change-name"),
    ("POST", "/create-room"),
    ("PUT", "/join"),
    ("PUT", "/invite"),
    ("GET", "/messages/1"),
    ("POST", "/me/2fa/confirm"),
    ("DELETE", "/me/2fa"),
]

JUNK = [
    b"null",
    b"[]",
    b'"text"',
    b"42",
    b"{}",
    b'{"RoomID": {}}',
    b'{"UID": []}',
    b'{"Name": null, "IsPrivate": null}',
    b'{"LastID": 1.5}',
    b'{"NewName": {}}',
    b'{"email": "\\u0000@x.y", "password": "password", "name": "n"}',
    b'{"Username": "\\ud800", "Email": "a@b.co", "Password": "password"}',
    b'{"RoomID": 1e400}',
    b"{" * 1000 + b"}" * 1000,
    b"\x00\x01\x02",
]


def _object_without_last_id(body: bytes) -> bool:
    try:
        value = json.loads(body)
    except ValueError:
        return False
    return isinstance(value, dict) and "LastID" not in value


@pytest.mark.parametrize("method,path", ROUTES)
async def test_junk_bodies_get_a_4xx_with_an_error_never_a_500(
    server: Server, method: str, path: str
) -> None:
    user = await account(server, "user")
    async with http_client(server) as client:
        for body in JUNK:
            response = await client.request(method, path, content=body, headers=user.auth)
            assert response.status_code < 500, (body, response.status_code, response.text)
            if not (path.startswith("/messages/") and _object_without_last_id(body)):
                # (An object without LastID is a valid body for GET /messages.)
                assert response.status_code >= 400, (body, response.text)
                assert response.json()["error"], body


async def test_an_empty_request_target_gets_400_not_500(server: Server) -> None:
    with trio.fail_after(STEP):
        async with await trio.open_tcp_stream(server.host, server.port) as stream:
            await stream.send_all(b"GET ? HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            response = b""
            while chunk := await stream.receive_some():
                response += chunk
    assert response.startswith(b"HTTP/1.1 400 "), response
    assert b"request target must be a path" in response


async def test_a_static_file_name_the_file_system_cannot_hold_gets_404(server: Server) -> None:
    async with http_client(server) as client:
        response = await client.get("/static/" + "a" * 300)
    assert response.status_code == 404, response.text
    assert response.json()["error"] == "not found"
