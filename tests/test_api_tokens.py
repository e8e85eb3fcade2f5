"""Personal access tokens (``POST/GET/DELETE /tokens``): shown once and stored hashed,
usable on HTTP and /ws, held to their scopes (a ``read`` token sends and changes
nothing; ``admin`` is worth nothing to a user who is not an operator), refused once
revoked or expired, their WebSockets closed on revocation."""

from __future__ import annotations

import hashlib
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import trio
from support import (
    Account,
    Clients,
    Server,
    account,
    create_room,
    entered,
    execute_sql,
    http_client,
    open_clients,
    select_rows,
    start_server,
)
from test_support import operator
from test_token_revocation import closed, still_open

from chat.core.config import Config


async def _make(
    server: Server, user: Account, scopes: list[str], **more: Any
) -> tuple[int, dict[str, Any]]:
    async with http_client(server) as client:
        response = await client.post(
            "/tokens", json={"Name": "ci", "Scopes": scopes, **more}, headers=user.auth
        )
    return response.status_code, response.json()


async def _token(server: Server, user: Account, *scopes: str, **more: Any) -> Account:
    """`user` acting through a new token of theirs with `scopes`."""
    status, made = await _make(server, user, list(scopes), **more)
    assert status == 201, made
    return Account(user.uid, user.name, user.email, user.password, made["Token"])


async def _get(server: Server, user: Account, path: str) -> int:
    async with http_client(server) as client:
        return (await client.get(path, headers=user.auth)).status_code


async def _post_message(server: Server, user: Account, room_id: int, text: str) -> int:
    async with http_client(server) as client:
        response = await client.post(f"/messages/{room_id}", json={"Text": text}, headers=user.auth)
    return response.status_code


async def test_a_token_is_shown_once_and_listed_without_its_secret(server: Server) -> None:
    alice = await account(server, "alice")
    status, made = await _make(server, alice, ["read", "write"])
    assert status == 201, made
    assert made["Token"].startswith("chat_pat_") and made["Scopes"] == ["read", "write"]
    async with http_client(server) as client:
        listed = (await client.get("/tokens", headers=alice.auth)).json()
    assert listed == [{key: value for key, value in made.items() if key != "Token"}]


async def test_the_database_keeps_only_the_secrets_hash(server: Server) -> None:
    alice = await account(server, "alice")
    token = (await _token(server, alice, "read")).token
    rows = await select_rows(server.config, "SELECT id, secret_hash FROM api_tokens")
    ((token_id, stored),) = rows
    secret = token.removeprefix(f"chat_pat_{token_id}_")
    assert stored == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in repr(rows)


async def test_a_token_acts_as_its_user_on_http_and_on_ws(server: Server, clients: Clients) -> None:
    alice, bob = await account(server, "alice"), await account(server, "bob")
    room_id = await create_room(server, alice, "room", bob)
    bot = await _token(server, alice, "read", "write")
    assert await _post_message(server, bot, room_id, "over HTTP") == 201
    ws = await entered(clients, bot, room_id)
    answer = await ws.request({"Type": "message", "Text": "over /ws", "ClientMsgID": "c1"})
    assert (answer["Type"], answer["UID"]) == ("message", alice.uid), answer


async def test_a_read_token_reads_and_cannot_send_or_change_anything(
    server: Server, clients: Clients
) -> None:
    alice = await account(server, "alice")
    room_id = await create_room(server, alice, "room")
    reader = await _token(server, alice, "read")
    assert await _get(server, reader, f"/messages/{room_id}") == 200
    assert await _post_message(server, reader, room_id, "no") == 403
    async with http_client(server) as client:
        renamed = await client.put(
            f"/room/{room_id}/settings", json={"Topic": "x"}, headers=reader.auth
        )
    assert renamed.status_code == 403
    ws = await entered(clients, reader, room_id)
    refused = await ws.request({"Type": "message", "Text": "no", "ClientMsgID": "c1"})
    assert refused["Type"] == "error" and "only read" in refused["Error"], refused
    assert await _get(server, alice, f"/messages/{room_id}") == 200
    rows = await select_rows(server.config, "SELECT count(*) FROM messages WHERE body = 'no'")
    assert rows == [(0,)]


async def test_an_admin_scope_is_worth_nothing_to_a_user_who_is_not_an_operator(
    server: Server,
) -> None:
    alice, op = await account(server, "alice"), await operator(server)
    assert await _get(server, await _token(server, alice, "read", "admin"), "/audit") == 403
    assert await _get(server, await _token(server, op, "read"), "/audit") == 403
    assert await _get(server, await _token(server, op, "read", "admin"), "/audit") == 200


async def test_a_token_cannot_make_tokens(server: Server) -> None:
    alice = await account(server, "alice")
    writer = await _token(server, alice, "read", "write")
    status, answer = await _make(server, writer, ["read"])
    assert status == 403, answer


async def test_a_revoked_token_is_refused_and_its_websocket_closed(
    server: Server, clients: Clients
) -> None:
    alice = await account(server, "alice")
    reader = await _token(server, alice, "read")
    (listed,) = await _tokens(server, alice)
    ws = await clients.connect(f"/ws?token={reader.token}")
    await still_open(ws)
    async with http_client(server) as client:
        revoked = await client.delete(f"/tokens/{listed['TokenID']}", headers=alice.auth)
        again = await client.delete(f"/tokens/{listed['TokenID']}", headers=alice.auth)
    assert (revoked.status_code, again.status_code) == (204, 404)
    _, code, reason = await closed(ws)
    assert (code, reason) == (1008, "token has been revoked")
    assert await _get(server, reader, "/tokens") == 401


async def test_a_token_is_refused_once_it_expires(server: Server) -> None:
    alice = await account(server, "alice")
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    reader = await _token(server, alice, "read", ExpiresAt=tomorrow)
    assert await _get(server, reader, "/tokens") == 200
    # Its time passes (moved back in the table: no test waits for a clock).
    passed = int(time.time()) - 1
    await execute_sql(server.config, f"UPDATE api_tokens SET expires_at = {passed}")
    assert await _get(server, reader, "/tokens") == 401


async def test_a_forged_secret_or_another_users_token_id_is_refused(server: Server) -> None:
    alice, bob = await account(server, "alice"), await account(server, "bob")
    reader = await _token(server, alice, "read")
    forged = reader.token[:-4] + ("AAAA" if not reader.token.endswith("AAAA") else "BBBB")
    assert await _get(server, Account(0, "x", "", "", forged), "/tokens") == 401
    (listed,) = await _tokens(server, alice)
    async with http_client(server) as client:
        response = await client.delete(f"/tokens/{listed['TokenID']}", headers=bob.auth)
    assert response.status_code == 404
    assert await _get(server, reader, "/tokens") == 200


async def test_bad_token_requests_are_refused_with_the_field_named(server: Server) -> None:
    alice = await account(server, "alice")
    for body, field in (
        ({"Name": "x", "Scopes": []}, "Scopes"),
        ({"Name": "x", "Scopes": ["root"]}, "scope"),
        ({"Name": "", "Scopes": ["read"]}, "Name"),
        ({"Name": "x", "Scopes": ["read"], "ExpiresAt": "2020-01-01T00:00:00Z"}, "ExpiresAt"),
        ({"Name": "x", "Scopes": ["read"], "ExpiresAt": "tomorrow"}, "ExpiresAt"),
    ):
        async with http_client(server) as client:
            response = await client.post("/tokens", json=body, headers=alice.auth)
        assert response.status_code == 400 and field in response.json()["error"], response.text


async def _tokens(server: Server, user: Account) -> list[dict[str, Any]]:
    async with http_client(server) as client:
        tokens: list[dict[str, Any]] = (await client.get("/tokens", headers=user.auth)).json()
    return tokens


async def test_a_token_deleted_behind_the_servers_back_closes_its_websocket_at_the_next_sweep(
    nursery: trio.Nursery, config: Config
) -> None:
    """No request and no bus event: the periodic sweep alone finds the row gone."""
    server = await start_server(nursery, config.replace(revocation_sweep=0.5))
    reader = await _token(server, await account(server, "alice"), "read")
    async with open_clients(server) as clients:
        ws = await clients.connect(f"/ws?token={reader.token}")
        await still_open(ws)
        await execute_sql(config, "DELETE FROM api_tokens")
        _, code, reason = await closed(ws, within=0.5 + 2.0)
    assert (code, reason) == (1008, "token has been revoked")


async def test_a_token_outlives_its_users_password_change(server: Server, clients: Clients) -> None:
    alice = await account(server, "alice")
    reader = await _token(server, alice, "read")
    ws = await clients.connect(f"/ws?token={reader.token}")
    async with http_client(server) as client:
        changed = await client.put(
            "/password",
            json={"OldPassword": alice.password, "NewPassword": "another long password"},
            headers=alice.auth,
        )
    assert changed.status_code == 200, changed.text
    await trio.sleep(0.5)
    await still_open(ws)
    assert await _get(server, reader, "/tokens") == 200


async def test_an_erased_accounts_tokens_are_refused_and_forgotten(server: Server) -> None:
    alice = await account(server, "alice")
    reader = await _token(server, alice, "read")
    async with http_client(server) as client:
        erased = await client.request(
            "DELETE", "/me", headers=alice.auth, json={"Password": alice.password}
        )
    assert erased.status_code in (200, 202, 204), erased.text
    assert await _get(server, reader, "/tokens") == 401
    assert await select_rows(server.config, "SELECT count(*) FROM api_tokens") == [(0,)]
