"""The operators' console over accounts (``/admin/users``): only operators get in, and a
member learns nothing from trying; search and one account seen whole; deactivation ends
every token and session at once, on every instance, and keeps the account's messages;
promotion and demotion take effect at once; each action is in the audit log."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cluster import open_cluster
from support import (
    TEST_SECRET,
    Account,
    Clients,
    Server,
    account,
    create_room,
    entered,
    http_client,
    open_clients,
    post_confirmed,
    room_history,
    throwaway_postgres_schema,
)
from test_support import operator
from test_token_revocation import closed, still_open
from test_two_factor import enrol

#: "Within a second on every instance": the bus event wakes the sweep at once.
CLOSED_WITHIN = 1.0


async def _get(server: Server, who: Account, path: str) -> httpx.Response:
    async with http_client(server) as client:
        return await client.get(path, headers=who.auth)


async def _put(server: Server, who: Account, uid: int, body: dict[str, Any]) -> httpx.Response:
    async with http_client(server) as client:
        return await client.put(f"/admin/users/{uid}", headers=who.auth, json=body)


async def _changed(server: Server, who: Account, uid: int, **body: Any) -> dict[str, Any]:
    answer = await _put(server, who, uid, body)
    assert answer.status_code == 200, answer.text
    found: dict[str, Any] = answer.json()
    return found


async def _log_in(server: Server, user: Account) -> httpx.Response:
    async with http_client(server) as client:
        return await client.post("/auth", json={"name": user.name, "password": user.password})


# --- who gets in ---


@pytest.mark.parametrize(
    "method,path",
    [
        ("GET", "/admin/users"),
        ("GET", "/admin/users/{uid}"),
        ("GET", "/admin/users/999999"),
        ("PUT", "/admin/users/{uid}"),
        ("PUT", "/admin/users/999999"),
        ("DELETE", "/admin/users/{uid}/sessions"),
        ("DELETE", "/admin/users/999999/sessions"),
    ],
)
async def test_a_member_is_refused_403_alike_for_a_user_who_exists_and_one_who_does_not(
    server: Server, method: str, path: str
) -> None:
    alice, bob = await account(server, "alice"), await account(server, "bob")
    async with http_client(server) as client:
        answer = await client.request(
            method, path.format(uid=bob.uid), headers=alice.auth, json={"Active": False}
        )
    assert answer.status_code == 403
    assert answer.json() == {"error": "only server operators may use the console"}
    assert (await _log_in(server, bob)).status_code == 200


async def test_without_a_token_the_console_answers_401(server: Server) -> None:
    async with http_client(server) as client:
        assert (await client.get("/admin/users")).status_code == 401


# --- search and overview ---


async def test_the_search_matches_names_display_names_and_addresses_in_any_case(
    server: Server,
) -> None:
    op = await operator(server)
    alice, bob = await account(server, "alice"), await account(server, "bob")
    async with http_client(server) as client:
        renamed = await client.put(
            "/profile", headers=bob.auth, json={"DisplayName": "Robert Paulson"}
        )
        assert renamed.status_code == 200, renamed.text
    for text, expected in [("ALI", [alice.uid]), ("paulson", [bob.uid]), ("@example.com", None)]:
        found = (await _get(server, op, f"/admin/users?q={text}")).json()
        uids = [user["UID"] for user in found["Users"]]
        assert uids == (expected or [alice.uid, bob.uid]), text


async def test_the_search_takes_percent_and_underscore_literally(server: Server) -> None:
    op = await operator(server)
    await account(server, "alice")
    found = (await _get(server, op, "/admin/users?q=%25")).json()
    assert found == {"Users": [], "Next": None}


async def test_the_search_pages_by_uid_with_a_next_cursor(server: Server) -> None:
    op = await operator(server)
    users = [await account(server, f"user{n}") for n in range(5)]
    first = (await _get(server, op, "/admin/users?q=user&limit=3")).json()
    assert [user["UID"] for user in first["Users"]] == [user.uid for user in users[:3]]
    assert first["Next"] == users[2].uid
    rest = (await _get(server, op, f"/admin/users?q=user&limit=3&after={first['Next']}")).json()
    assert [user["UID"] for user in rest["Users"]] == [user.uid for user in users[3:]]
    assert rest["Next"] is None


@pytest.mark.parametrize("query", ["limit=0", "limit=101", "after=-1", "q=" + "x" * 101])
async def test_a_search_out_of_bounds_answers_400(server: Server, query: str) -> None:
    op = await operator(server)
    assert (await _get(server, op, f"/admin/users?{query}")).status_code == 400


async def test_an_account_is_seen_with_its_rooms_sessions_and_role(server: Server) -> None:
    op = await operator(server)
    alice = await account(server, "alice")
    room_id = await create_room(server, op, "ops", alice)
    async with http_client(server) as client:
        signed_in = await client.post(
            "/session", json={"Username": "alice", "Password": alice.password}
        )
        assert signed_in.status_code == 200, signed_in.text
    seen = (await _get(server, op, f"/admin/users/{alice.uid}")).json()
    assert seen["Username"] == "alice"
    assert (seen["Operator"], seen["Active"], seen["Kind"]) == (False, True, "person")
    assert (seen["Rooms"], seen["RoomCount"]) == (
        [{"RoomID": room_id, "Name": "ops", "Kind": "group"}],
        1,
    )
    assert seen["Sessions"] == 1 and seen["LastSeen"] is not None
    assert seen["Email"] == alice.email and seen["DeactivatedAt"] is None


async def test_an_unknown_account_answers_404_to_an_operator(server: Server) -> None:
    op = await operator(server)
    assert (await _get(server, op, "/admin/users/999999")).status_code == 404


# --- deactivation ---


async def test_deactivating_refuses_the_accounts_tokens_and_its_login(server: Server) -> None:
    op, alice = await operator(server), await account(server, "alice")
    changed = await _changed(server, op, alice.uid, Active=False)
    assert changed["Active"] is False and changed["DeactivatedAt"] is not None
    refused = await _get(server, alice, "/profile")
    assert (refused.status_code, refused.json()) == (401, {"error": "account deactivated"})
    login = await _log_in(server, alice)
    assert login.status_code == 403
    assert "deactivated" in login.json()["error"]


async def test_a_wrong_password_of_a_deactivated_account_is_only_a_wrong_password(
    server: Server,
) -> None:
    op, alice = await operator(server), await account(server, "alice")
    await _changed(server, op, alice.uid, Active=False)
    async with http_client(server) as client:
        answer = await client.post("/auth", json={"name": "alice", "password": "not it"})
    assert answer.status_code == 401


async def test_deactivating_closes_the_accounts_websockets_at_once(
    server: Server, clients: Clients
) -> None:
    op, alice, bob = (
        await operator(server),
        await account(server, "alice"),
        await account(server, "bob"),
    )
    alice_ws = await clients.json("/ws", token=alice.token)
    bob_ws = await clients.json("/ws", token=bob.token)
    await _changed(server, op, alice.uid, Active=False)
    _, code, reason = await closed(alice_ws.ws, within=CLOSED_WITHIN)
    assert (code, reason) == (1008, "account deactivated")
    await still_open(bob_ws.ws)


async def test_a_deactivated_accounts_messages_stay(server: Server, clients: Clients) -> None:
    op, alice = await operator(server), await account(server, "alice")
    room_id = await create_room(server, op, "ops", alice)
    await post_confirmed(await entered(clients, alice, room_id), "before I go")
    await _changed(server, op, alice.uid, Active=False)
    assert "before I go" in [m["Text"] for m in await room_history(server, op, room_id)]


async def test_a_deactivated_accounts_personal_access_token_and_bots_are_refused(
    server: Server,
) -> None:
    op, alice = await operator(server), await account(server, "alice")
    async with http_client(server) as client:
        bot = (await client.post("/bots", json={"Name": "helper"}, headers=alice.auth)).json()
        tokens = []
        for uid in (None, bot["UID"]):
            body: dict[str, Any] = {"Name": "ci", "Scopes": ["read"]}
            if uid is not None:
                body["UID"] = uid
            made = await client.post("/tokens", json=body, headers=alice.auth)
            assert made.status_code == 201, made.text
            tokens.append(made.json()["Token"])
        await _changed(server, op, alice.uid, Active=False)
        for token in tokens:
            answer = await client.get("/profile", headers={"Authorization": f"Bearer {token}"})
            assert (answer.status_code, answer.json()) == (401, {"error": "account deactivated"})


async def test_a_reactivated_account_logs_in_again(server: Server) -> None:
    op, alice = await operator(server), await account(server, "alice")
    await _changed(server, op, alice.uid, Active=False)
    assert (await _changed(server, op, alice.uid, Active=True))["Active"] is True
    login = await _log_in(server, alice)
    assert login.status_code == 200, login.text


# --- operators ---


async def test_a_promoted_account_reaches_the_console_at_once_with_its_token(
    server: Server,
) -> None:
    op, alice = await operator(server), await account(server, "alice")
    assert (await _get(server, alice, "/admin/users")).status_code == 403
    assert (await _changed(server, op, alice.uid, Operator=True))["Operator"] is True
    assert (await _get(server, alice, "/admin/users")).status_code == 200


async def test_a_demoted_operator_loses_the_console_at_once(server: Server) -> None:
    op, other = await operator(server), await operator(server, "other")
    assert (await _get(server, other, "/admin/users")).status_code == 200
    await _changed(server, op, other.uid, Operator=False)
    assert (await _get(server, other, "/admin/users")).status_code == 401  # tokens revoked
    login = await _log_in(server, other)
    token = login.json()["token"]
    async with http_client(server) as client:
        again = await client.get("/admin/users", headers={"Authorization": f"Bearer {token}"})
    assert again.status_code == 403


@pytest.mark.parametrize("body", [{"Active": False}, {"Operator": False}])
async def test_an_operator_neither_deactivates_nor_demotes_themselves(
    server: Server, body: dict[str, Any]
) -> None:
    op = await operator(server)
    answer = await _put(server, op, op.uid, body)
    assert answer.status_code == 409
    assert (await _get(server, op, "/admin/users")).status_code == 200


async def test_a_bot_cannot_be_made_an_operator(server: Server) -> None:
    op, alice = await operator(server), await account(server, "alice")
    async with http_client(server) as client:
        bot = (await client.post("/bots", json={"Name": "helper"}, headers=alice.auth)).json()
    assert (await _put(server, op, bot["UID"], {"Operator": True})).status_code == 400


@pytest.mark.parametrize("body", [{}, {"Active": "no"}, {"Operator": 1}])
async def test_a_change_that_says_nothing_clear_answers_400(
    server: Server, body: dict[str, Any]
) -> None:
    op, alice = await operator(server), await account(server, "alice")
    assert (await _put(server, op, alice.uid, body)).status_code == 400


# --- sessions and the audit log ---


async def test_logging_an_account_out_everywhere_ends_its_tokens_and_sockets(
    server: Server, clients: Clients
) -> None:
    op, alice = await operator(server), await account(server, "alice")
    ws = await clients.json("/ws", token=alice.token)
    async with http_client(server) as client:
        ended = await client.delete(f"/admin/users/{alice.uid}/sessions", headers=op.auth)
    assert ended.status_code == 204
    _, code, _ = await closed(ws.ws, within=CLOSED_WITHIN)
    assert code == 1008
    assert (await _get(server, alice, "/profile")).status_code == 401
    assert (await _log_in(server, alice)).status_code == 200  # not deactivated


async def test_every_console_action_is_in_the_server_wide_audit_log(server: Server) -> None:
    op, alice = await operator(server), await account(server, "alice")
    await _changed(server, op, alice.uid, Active=False)
    await _changed(server, op, alice.uid, Active=True)
    await _changed(server, op, alice.uid, Operator=True)
    await _changed(server, op, alice.uid, Operator=False)
    async with http_client(server) as client:
        await client.delete(f"/admin/users/{alice.uid}/sessions", headers=op.auth)
    entries = (await _get(server, op, "/audit")).json()  # newest first
    console = [e for e in entries if e["Action"].startswith("user-")]
    assert [e["Action"] for e in reversed(console)] == [
        "user-deactivate",
        "user-reactivate",
        "user-promote",
        "user-demote",
        "user-logout-everywhere",
    ]
    assert {(e["By"]["UID"], e["Target"]["UID"], e["RoomID"]) for e in console} == {
        (op.uid, alice.uid, None)
    }


# --- across instances ---


@pytest.fixture
async def postgres_url() -> AsyncIterator[str]:
    async with throwaway_postgres_schema() as url:
        yield url


async def test_deactivating_on_one_instance_closes_the_sockets_on_another_within_a_second(
    tmp_path: Path, postgres_url: str
) -> None:
    """The sweep's period is far longer than the wait: only the bus event can do it."""
    async with open_cluster(tmp_path, postgres_url, 2, revocation_sweep=600.0) as pair:
        a, b = pair
        op, alice = await operator(a.server), await account(a.server, "alice")
        async with open_clients(b.server) as on_b:
            alice_on_b = await on_b.json("/ws", token=alice.token)
            await _changed(a.server, op, alice.uid, Active=False)
            _, code, reason = await closed(alice_on_b.ws, within=CLOSED_WITHIN)
            assert (code, reason) == (1008, "account deactivated")
        refused = await _get(b.server, alice, "/profile")
        assert refused.status_code == 401


# --- rooms and the server ---


async def test_the_named_rooms_are_listed_with_members_owners_and_activity(
    server: Server, clients: Clients
) -> None:
    op, alice, bob = (
        await operator(server),
        await account(server, "alice"),
        await account(server, "bob"),
    )
    room_id = await create_room(server, alice, "ops", bob)
    await post_confirmed(await entered(clients, bob, room_id), "hello")
    async with http_client(server) as client:
        made = await client.post("/dm", headers=alice.auth, json={"UIDs": [bob.uid, op.uid]})
        assert made.status_code in (200, 201), made.text
    everything = (await _get(server, op, "/admin/rooms")).json()
    assert [room["Kind"] for room in everything["Rooms"]] == ["lobby", "group"]
    (ops,) = (await _get(server, op, "/admin/rooms?q=OP")).json()["Rooms"]
    assert (ops["RoomID"], ops["Name"], ops["Members"]) == (room_id, "ops", 2)
    assert ops["Owners"] == [{"UID": alice.uid, "Username": "alice"}]
    assert ops["LastMessageAt"] is not None and ops["Private"] is False
    assert ops["Archived"] is False


async def test_a_member_is_refused_the_rooms_and_the_server(server: Server) -> None:
    alice = await account(server, "alice")
    for path in ("/admin/rooms", "/admin/server"):
        assert (await _get(server, alice, path)).status_code == 403


async def test_the_server_shows_its_engines_instances_and_settings_without_secrets(
    server: Server, clients: Clients
) -> None:
    op = await operator(server)
    await clients.json("/ws", token=op.token)
    answer = await _get(server, op, "/admin/server")
    shown = answer.json()
    postgres = server.config.database_url is not None
    assert shown["Database"] == ("postgresql" if postgres else "sqlite")
    assert shown["Bus"] == ("postgresql" if postgres else "none")
    assert [(i["This"], i["UsersOnline"]) for i in shown["Instances"]] == [(True, 1)]
    assert shown["Connections"]["rooms"] == 1
    assert shown["Version"]
    assert shown["Settings"]["CHAT_JWT_SECRET"] == "(set)"
    assert TEST_SECRET not in answer.text


async def test_an_archived_room_is_listed_as_archived(server: Server) -> None:
    op, alice = await operator(server), await account(server, "alice")
    room_id = await create_room(server, alice, "old")
    async with http_client(server) as client:
        archived = await client.put(
            f"/room/{room_id}/archive", headers=alice.auth, json={"Archived": True}
        )
        assert archived.status_code == 200, archived.text
    (old,) = (await _get(server, op, "/admin/rooms?q=old")).json()["Rooms"]
    assert old["Archived"] is True


async def test_the_audit_log_is_filtered_by_action_and_by_user(server: Server) -> None:
    op, alice, bob = (
        await operator(server),
        await account(server, "alice"),
        await account(server, "bob"),
    )
    await _changed(server, op, alice.uid, Active=False)
    await _changed(server, op, bob.uid, Active=False)
    await _changed(server, op, bob.uid, Active=True)
    by_action = (await _get(server, op, "/audit?action=user-deactivate")).json()
    assert [e["Target"]["UID"] for e in by_action] == [bob.uid, alice.uid]
    about_bob = (await _get(server, op, f"/audit?uid={bob.uid}")).json()
    assert [e["Action"] for e in about_bob] == ["user-reactivate", "user-deactivate"]
    both = (await _get(server, op, f"/audit?uid={bob.uid}&action=user-reactivate")).json()
    assert len(both) == 1


@pytest.mark.parametrize("query", ["action=DROP", "action=" + "a" * 41, "uid=0", "room=x"])
async def test_an_audit_filter_out_of_bounds_answers_400(server: Server, query: str) -> None:
    op = await operator(server)
    assert (await _get(server, op, f"/audit?{query}")).status_code == 400


async def test_an_account_is_seen_with_its_two_factor_on_or_off(server: Server) -> None:
    op, alice = await operator(server), await account(server, "alice")
    assert (await _get(server, op, f"/admin/users/{alice.uid}")).json()["TwoFactor"] is False
    await enrol(server, alice)
    assert (await _get(server, op, f"/admin/users/{alice.uid}")).json()["TwoFactor"] is True


# --- password reset links ---


async def _reset_link(server: Server, who: Account, uid: int) -> httpx.Response:
    async with http_client(server) as client:
        return await client.post(f"/admin/users/{uid}/password-reset", headers=who.auth)


async def test_a_reset_link_an_operator_hands_over_sets_a_new_password_once(
    server: Server, clients: Clients
) -> None:
    """No SMTP server is set: the link is the operator's to hand over, never mailed."""
    op, alice = await operator(server), await account(server, "alice")
    ws = await clients.json("/ws", token=alice.token)
    made = await _reset_link(server, op, alice.uid)
    assert made.status_code == 200, made.text
    url = made.json()["URL"]
    assert url.startswith(server.http.rstrip("/") + "/#reset-password=")
    token = url.split("#reset-password=", 1)[1]
    async with http_client(server) as client:
        reset = await client.post(f"/password-reset/{token}", json={"Password": "brand-new-pw"})
        again = await client.post(f"/password-reset/{token}", json={"Password": "another-pw-1"})
        login = await client.post("/auth", json={"name": "alice", "password": "brand-new-pw"})
    assert reset.status_code == 200, reset.text
    assert again.status_code == 404
    assert login.status_code == 200, login.text
    _, code, _ = await closed(ws.ws)
    assert code == 1008
    entries = (await _get(server, op, "/audit?action=user-password-reset-link")).json()
    assert [(e["By"]["UID"], e["Target"]["UID"]) for e in entries] == [(op.uid, alice.uid)]


async def test_a_reset_link_is_refused_to_a_member_and_for_a_missing_account(
    server: Server,
) -> None:
    op, alice = await operator(server), await account(server, "alice")
    assert (await _reset_link(server, alice, alice.uid)).status_code == 403
    assert (await _reset_link(server, op, 999999)).status_code == 404
