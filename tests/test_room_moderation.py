"""Running a room: roles, leaving, removal, bans, mutes, slow mode, settings,
moderators' deletions, reports and the audit log, over HTTP and /ws, on both backends."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio
from files_support import post_files, upload
from support import (
    Account,
    Clients,
    JsonClient,
    Server,
    account,
    chat_environ,
    create_room,
    entered,
    http_client,
    run_chat,
    server_config,
    start_server,
)
from test_support import operator


async def call(
    server: Server, who: Account, method: str, path: str, body: Any = None
) -> httpx.Response:
    async with http_client(server) as client:
        return await client.request(method, path, headers=who.auth, json=body)


async def ok(server: Server, who: Account, method: str, path: str, body: Any = None) -> Any:
    response = await call(server, who, method, path, body)
    assert response.status_code in (200, 201), response.text
    return response.json()


async def refused(
    server: Server, who: Account, method: str, path: str, body: Any = None
) -> tuple[int, str]:
    response = await call(server, who, method, path, body)
    assert response.status_code >= 400, response.text
    return response.status_code, response.json()["error"]


async def receive_type(ws: JsonClient, kind: str) -> dict[str, Any]:
    """The next frame of type `kind`, skipping others (presence, activity)."""
    with trio.fail_after(5):
        while True:
            frame = await ws.receive()
            if frame.get("Type") == kind:
                return frame


async def ready(ws: JsonClient) -> JsonClient:
    """`ws` once it has had an answer (a ping's pong): a room connection handles its
    first frame once its user's rooms are indexed here (`chat.app.people.activity.ready`), and
    notices to a room's members reach the members indexed (docs/PROTOCOL.md)."""
    await ws.ws.send_message("ping")
    assert await ws.ws.get_message() == "pong"
    return ws


async def team(server: Server) -> tuple[Account, Account, Account, int]:
    """An owner, a moderator and a member of a public group room; the room's id."""
    owner, mod, member = [await account(server, n) for n in ("olga", "mo", "mel")]
    room_id = await create_room(server, owner, "ops", mod, member)
    await ok(server, owner, "PUT", f"/room/{room_id}/members/{mod.uid}", {"Role": "moderator"})
    return owner, mod, member, room_id


# --- roles ---


async def test_an_owner_makes_a_member_a_moderator_and_the_list_shows_it(server: Server) -> None:
    _owner, _mod, member, room_id = await team(server)
    members = await ok(server, member, "GET", f"/room/{room_id}/members")
    assert [(m["Username"], m["Role"]) for m in members] == [
        ("olga", "owner"),
        ("mo", "moderator"),
        ("mel", "member"),
    ]


async def test_a_role_change_reaches_every_member_s_connections(
    server: Server, clients: Clients
) -> None:
    owner, _mod, member, room_id = await team(server)
    ws = await ready(await clients.json("/ws", token=member.token))
    await ok(server, owner, "PUT", f"/room/{room_id}/members/{member.uid}", {"Role": "moderator"})
    frame = await receive_type(ws, "role")
    assert frame == {"Type": "role", "RoomID": room_id, "UID": member.uid, "Role": "moderator"}


async def test_the_last_owner_cannot_step_down(server: Server) -> None:
    owner, mod, _member, room_id = await team(server)
    path = f"/room/{room_id}/members/{owner.uid}"
    assert await refused(server, owner, "PUT", path, {"Role": "member"}) == (
        409,
        f"you are the last owner of room {room_id}: make someone else an owner first",
    )
    await ok(server, owner, "PUT", f"/room/{room_id}/members/{mod.uid}", {"Role": "owner"})
    await ok(server, owner, "PUT", path, {"Role": "member"})


async def test_a_moderator_cannot_change_roles(server: Server) -> None:
    _owner, mod, member, room_id = await team(server)
    assert await refused(
        server, mod, "PUT", f"/room/{room_id}/members/{member.uid}", {"Role": "moderator"}
    ) == (403, f"only an owner of room {room_id} may change roles")


async def test_a_role_must_be_one_of_three(server: Server) -> None:
    owner, _mod, member, room_id = await team(server)
    assert await refused(
        server, owner, "PUT", f"/room/{room_id}/members/{member.uid}", {"Role": "king"}
    ) == (400, 'field "Role" must be "owner", "moderator" or "member"')


# --- leaving and removal ---


async def test_leaving_a_room_tells_every_connection_and_takes_it_off_the_list(
    server: Server, clients: Clients
) -> None:
    _owner, _mod, member, room_id = await team(server)
    ws = await entered(clients, member, room_id)
    assert await ok(server, member, "DELETE", f"/room/{room_id}/members/me") == {"RoomID": room_id}
    frame = await receive_type(ws, "removed")
    assert frame == {
        "Type": "removed",
        "RoomID": room_id,
        "By": {"UID": member.uid, "Username": "mel"},
        "Reason": "",
    }
    assert room_id not in await ok(server, member, "GET", "/rooms")


async def test_the_lobby_and_direct_conversations_cannot_be_left(server: Server) -> None:
    alice, bob = await account(server, "alice"), await account(server, "bob")
    assert await refused(server, alice, "DELETE", "/room/1/members/me") == (
        409,
        "room 1 is the lobby: it cannot be left",
    )
    direct = (await ok(server, alice, "GET", f"/dm/{bob.uid}"))["RoomID"]
    assert await refused(server, alice, "DELETE", f"/room/{direct}/members/me") == (
        409,
        f"room {direct} is a direct conversation: it cannot be left",
    )


async def test_the_last_owner_cannot_leave_while_others_remain(server: Server) -> None:
    owner, _mod, _member, room_id = await team(server)
    assert await refused(server, owner, "DELETE", f"/room/{room_id}/members/me") == (
        409,
        f"you are the last owner of room {room_id}: make someone else an owner first",
    )


async def test_a_removed_member_leaves_the_room_at_once_and_reads_nothing_of_it(
    server: Server, clients: Clients
) -> None:
    _owner, mod, member, room_id = await team(server)
    ws = await entered(clients, member, room_id)
    body = {"Reason": "spam"}
    assert await ok(server, mod, "DELETE", f"/room/{room_id}/members/{member.uid}", body) == {
        "RoomID": room_id,
        "UID": member.uid,
    }
    frame = await receive_type(ws, "removed")
    assert frame == {
        "Type": "removed",
        "RoomID": room_id,
        "By": {"UID": mod.uid, "Username": "mo"},
        "Reason": "spam",
    }
    answer = await ws.request({"Type": "message", "Text": "still here?"})
    assert answer["Type"] == "error" and "enter a room first" in answer["Error"]
    for path in (f"/messages/{room_id}", f"/room/{room_id}/members", f"/room/{room_id}/online"):
        assert (await call(server, member, "GET", path)).status_code == 403, path
    again = await ws.request({"Type": "enter", "RoomID": room_id})
    assert again == {"Type": "error", "Error": f"you are not a member of room {room_id}"}


async def test_a_moderator_cannot_remove_another_moderator(server: Server) -> None:
    owner, mod, _member, room_id = await team(server)
    other = await account(server, "mod2")
    await ok(server, other, "PUT", "/join", {"RoomID": room_id})
    await ok(server, owner, "PUT", f"/room/{room_id}/members/{other.uid}", {"Role": "moderator"})
    assert await refused(server, mod, "DELETE", f"/room/{room_id}/members/{other.uid}") == (
        403,
        f"you cannot remove UID {other.uid}: their role in room {room_id} is as high as yours",
    )


# --- bans ---


async def test_a_banned_user_cannot_join_or_be_invited_until_the_ban_is_lifted(
    server: Server,
) -> None:
    owner, mod, member, room_id = await team(server)
    answer = await ok(server, mod, "PUT", f"/room/{room_id}/bans/{member.uid}", {"Reason": "spam"})
    assert answer == {"RoomID": room_id, "UID": member.uid, "Reason": "spam", "Until": None}
    assert await refused(server, member, "PUT", "/join", {"RoomID": room_id}) == (
        403,
        f"you are banned from room {room_id}",
    )
    invite = {"RoomID": room_id, "UID": member.uid}
    assert await refused(server, owner, "PUT", "/invite", invite) == (
        409,
        f"UID {member.uid} is banned from room {room_id}",
    )
    bans = await ok(server, mod, "GET", f"/room/{room_id}/bans")
    assert [(b["UID"], b["Reason"], b["By"]["UID"]) for b in bans] == [
        (member.uid, "spam", mod.uid)
    ]
    await ok(server, mod, "DELETE", f"/room/{room_id}/bans/{member.uid}")
    await ok(server, member, "PUT", "/join", {"RoomID": room_id})


async def test_a_ban_expires_by_itself(server: Server) -> None:
    _owner, mod, member, room_id = await team(server)
    answer = await ok(server, mod, "PUT", f"/room/{room_id}/bans/{member.uid}", {"Seconds": 1})
    until = datetime.fromisoformat(answer["Until"])
    status, error = await refused(server, member, "PUT", "/join", {"RoomID": room_id})
    assert (status, error) == (403, f"you are banned from room {room_id} until {answer['Until']}")
    await trio.sleep(max(0.0, (until - datetime.now(UTC)).total_seconds()) + 0.2)
    await ok(server, member, "PUT", "/join", {"RoomID": room_id})


async def test_a_ban_until_the_past_is_refused(server: Server) -> None:
    _owner, mod, member, room_id = await team(server)
    past = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    assert await refused(
        server, mod, "PUT", f"/room/{room_id}/bans/{member.uid}", {"Until": past}
    ) == (
        400,
        'field "Until" must be in the future',
    )


# --- mutes ---


async def test_a_muted_member_reads_but_cannot_send_edit_or_react(
    server: Server, clients: Clients
) -> None:
    _owner, mod, member, room_id = await team(server)
    ws = await entered(clients, member, room_id)
    sent = await ws.request({"Type": "message", "Text": "before"})
    assert sent["Type"] == "message"
    answer = await ok(server, mod, "PUT", f"/room/{room_id}/mutes/{member.uid}", {"Seconds": 600})
    muted = await receive_type(ws, "muted")
    assert muted["Until"] == answer["Until"] and muted["By"]["UID"] == mod.uid
    error = f"you are muted in room {room_id} until {answer['Until']}"
    refusal = await ws.request({"Type": "message", "Text": "hello?", "ClientMsgID": "m-1"})
    assert refusal == {"Type": "error", "Error": error, "ClientMsgID": "m-1"}
    edit = await ws.request({"Type": "edit", "MessageID": sent["MessageID"], "Text": "x"})
    assert edit["Error"] == error
    react = await ws.request({"Type": "react", "MessageID": sent["MessageID"], "Emoji": "👍"})
    assert react["Error"] == error
    assert await refused(server, member, "POST", f"/messages/{room_id}", {"Text": "hi"}) == (
        403,
        error,
    )
    await ok(server, mod, "DELETE", f"/room/{room_id}/mutes/{member.uid}")
    assert (await receive_type(ws, "unmuted")) == {"Type": "unmuted", "RoomID": room_id}
    assert (await ws.request({"Type": "message", "Text": "back"}))["Type"] == "message"


async def test_a_mute_needs_a_time(server: Server) -> None:
    _owner, mod, member, room_id = await team(server)
    assert await refused(server, mod, "PUT", f"/room/{room_id}/mutes/{member.uid}", {}) == (
        400,
        'field "Until" (an ISO 8601 time) or "Seconds" is required',
    )


async def test_a_moderator_muted_by_an_owner_cannot_unmute_themselves(server: Server) -> None:
    owner, mod, _member, room_id = await team(server)
    await ok(server, owner, "PUT", f"/room/{room_id}/mutes/{mod.uid}", {"Seconds": 600})
    assert await refused(server, mod, "DELETE", f"/room/{room_id}/mutes/{mod.uid}") == (
        403,
        f"you cannot unmute UID {mod.uid}: their role in room {room_id} is as high as yours",
    )
    status, error = await refused(server, mod, "POST", f"/messages/{room_id}", {"Text": "free?"})
    assert (status, error.split(" until ")[0]) == (403, f"you are muted in room {room_id}")


async def test_a_moderator_cannot_lift_the_ban_of_an_owner(server: Server) -> None:
    owner, mod, _member, room_id = await team(server)
    second = await account(server, "owen")
    await ok(server, second, "PUT", "/join", {"RoomID": room_id})
    await ok(server, owner, "PUT", f"/room/{room_id}/members/{second.uid}", {"Role": "owner"})
    op = await operator(server)
    await ok(server, op, "PUT", f"/room/{room_id}/bans/{second.uid}", {"Reason": "rogue"})
    # Out of the room now, so a member by role no more: the ban keeps the rank they had.
    assert await refused(server, mod, "DELETE", f"/room/{room_id}/bans/{second.uid}") == (
        403,
        f"you cannot unban UID {second.uid}: their role in room {room_id} is as high as yours",
    )
    assert await refused(server, second, "PUT", "/join", {"RoomID": room_id}) == (
        403,
        f"you are banned from room {room_id}",
    )
    await ok(server, op, "DELETE", f"/room/{room_id}/bans/{second.uid}")


# --- slow mode and settings ---


async def test_slow_mode_lets_a_member_send_once_per_interval_and_says_when_again(
    server: Server, clients: Clients
) -> None:
    _owner, mod, member, room_id = await team(server)
    room = await ok(server, mod, "PUT", f"/room/{room_id}/settings", {"SlowModeSeconds": 60})
    assert room["SlowModeSeconds"] == 60
    ws = await entered(clients, member, room_id)
    assert (await ws.request({"Type": "message", "Text": "one"}))["Type"] == "message"
    early = await ws.request({"Type": "message", "Text": "two"})
    assert early["Type"] == "error" and early["RetryAfter"] in range(58, 61), early
    assert early["Error"] == (
        f"slow mode: you may send again in room {room_id} in {early['RetryAfter']} s"
    )
    response = await call(server, member, "POST", f"/messages/{room_id}", {"Text": "three"})
    assert response.status_code == 429 and int(response.headers["Retry-After"]) <= 60


async def test_slow_mode_does_not_slow_moderators(server: Server, clients: Clients) -> None:
    _owner, mod, _member, room_id = await team(server)
    await ok(server, mod, "PUT", f"/room/{room_id}/settings", {"SlowModeSeconds": 60})
    for text in ("one", "two", "three"):
        await ok(server, mod, "POST", f"/messages/{room_id}", {"Text": text})


async def test_settings_changes_reach_members_wherever_they_are(
    server: Server, clients: Clients
) -> None:
    owner, _mod, member, room_id = await team(server)
    ws = await ready(await clients.json("/ws", token=member.token))  # in no room at all
    body = {"Name": "ops-oncall", "Topic": "dana this week"}
    room = await ok(server, owner, "PUT", f"/room/{room_id}/settings", body)
    frame = await receive_type(ws, "room")
    assert frame == {"Type": "room", **room}
    assert (room["Name"], room["Topic"]) == ("ops-oncall", "dana this week")


async def test_a_moderator_changes_the_topic_but_not_the_name(server: Server) -> None:
    _owner, mod, _member, room_id = await team(server)
    await ok(server, mod, "PUT", f"/room/{room_id}/settings", {"Topic": "hello"})
    assert await refused(server, mod, "PUT", f"/room/{room_id}/settings", {"Name": "x"}) == (
        403,
        f"only an owner of room {room_id} may change its name and privacy",
    )


async def test_a_private_room_may_share_a_public_room_s_name_but_not_become_public(
    server: Server,
) -> None:
    alice, bob = await account(server, "alice"), await account(server, "bob")
    await create_room(server, alice, "release")
    secret = await create_room(server, bob, "release", private=True)
    assert await refused(server, bob, "PUT", f"/room/{secret}/settings", {"IsPrivate": False}) == (
        409,
        "a public room named 'release' exists already",
    )


async def test_creating_a_room_never_reveals_a_private_room_of_that_name(server: Server) -> None:
    alice, bob = await account(server, "alice"), await account(server, "bob")
    await create_room(server, alice, "release", private=True)
    assert await create_room(server, bob, "release") > 0


# --- moderators' deletions, reports, the audit log ---


async def test_a_moderator_deletes_any_message_and_the_frame_does_not_say_who(
    server: Server, clients: Clients
) -> None:
    _owner, mod, member, room_id = await team(server)
    ws = await entered(clients, member, room_id)
    sent = await ws.request({"Type": "message", "Text": "buy cheap watches"})
    response = await call(server, mod, "DELETE", f"/messages/{room_id}/{sent['MessageID']}")
    assert response.status_code == 204, response.text
    deleted = await receive_type(ws, "deleted")
    assert deleted["MessageID"] == sent["MessageID"]
    assert "By" not in deleted and str(mod.uid) not in str(deleted.get("UID", ""))


async def test_reporting_a_message_twice_counts_once_and_moderators_decide(
    server: Server,
) -> None:
    owner, mod, member, room_id = await team(server)
    posted = await ok(server, owner, "POST", f"/messages/{room_id}", {"Text": "rude"})
    message_id = posted["MessageID"]
    first = await call(server, member, "POST", "/reports", {"MessageID": message_id, "Reason": "x"})
    second = await call(server, member, "POST", "/reports", {"MessageID": message_id})
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json()["ReportID"] == second.json()["ReportID"]
    listed = await ok(server, mod, "GET", f"/room/{room_id}/reports")
    assert [r["ReportID"] for r in listed] == [first.json()["ReportID"]]
    assert listed[0]["Message"]["Text"] == "rude" and listed[0]["Status"] == "open"
    decided = await ok(
        server, mod, "PUT", f"/reports/{first.json()['ReportID']}", {"Status": "resolved"}
    )
    assert decided["Status"] == "resolved" and decided["DecidedBy"]["UID"] == mod.uid
    assert await ok(server, mod, "GET", f"/room/{room_id}/reports") == []
    assert len(await ok(server, mod, "GET", f"/room/{room_id}/reports?status=all")) == 1


async def test_a_stranger_cannot_report_or_see_a_message(server: Server) -> None:
    owner, _mod, member, room_id = await team(server)
    secret = await create_room(server, owner, "secret", private=True)
    posted = await ok(server, owner, "POST", f"/messages/{secret}", {"Text": "hush"})
    body = {"MessageID": posted["MessageID"]}
    assert await refused(server, member, "POST", "/reports", body) == (
        404,
        f"no message {posted['MessageID']} that you may read",
    )
    assert (await call(server, member, "GET", f"/room/{room_id}/reports")).status_code == 403


async def test_the_audit_log_records_a_scripted_scenario_in_order(server: Server) -> None:
    owner, mod, member, room_id = await team(server)
    posted = await ok(server, member, "POST", f"/messages/{room_id}", {"Text": "spam"})
    report = await ok(server, owner, "POST", "/reports", {"MessageID": posted["MessageID"]})
    await ok(server, mod, "PUT", f"/room/{room_id}/mutes/{member.uid}", {"Seconds": 60})
    await ok(server, mod, "DELETE", f"/room/{room_id}/mutes/{member.uid}")
    await call(server, mod, "DELETE", f"/messages/{room_id}/{posted['MessageID']}")
    await ok(server, mod, "PUT", f"/reports/{report['ReportID']}", {"Status": "resolved"})
    await ok(server, mod, "PUT", f"/room/{room_id}/settings", {"SlowModeSeconds": 5})
    await ok(server, mod, "PUT", f"/room/{room_id}/bans/{member.uid}", {"Reason": "again"})
    await ok(server, mod, "DELETE", f"/room/{room_id}/bans/{member.uid}")
    entries = await ok(server, owner, "GET", f"/room/{room_id}/audit")
    actions = [
        (e["Action"], e["By"]["Username"], (e["Target"] or {}).get("Username")) for e in entries
    ]
    assert actions[::-1] == [
        ("role", "olga", "mo"),
        ("mute", "mo", "mel"),
        ("unmute", "mo", "mel"),
        ("delete", "mo", "mel"),
        ("report-resolved", "mo", "mel"),
        ("settings", "mo", None),
        ("ban", "mo", "mel"),
        ("unban", "mo", "mel"),
    ]
    assert entries[2]["Details"] == {"SlowModeSeconds": 5}
    assert entries[1]["Reason"] == "again"
    page = await ok(
        server, owner, "GET", f"/room/{room_id}/audit?limit=3&before={entries[2]['AuditID']}"
    )
    assert [e["AuditID"] for e in page] == [e["AuditID"] for e in entries[3:6]]
    assert (await call(server, member, "GET", f"/room/{room_id}/audit")).status_code == 403


async def test_an_operator_reads_the_whole_audit_log_and_others_may_not(server: Server) -> None:
    owner, _mod, _member, _room_id = await team(server)
    op = await operator(server)
    entries = await ok(server, op, "GET", "/audit")
    assert [e["Action"] for e in entries] == ["role"]
    assert await refused(server, owner, "GET", "/audit") == (
        403,
        "only server operators may read the whole audit log",
    )


async def test_an_operator_acts_as_an_owner_in_a_room_they_are_not_in(server: Server) -> None:
    owner, mod, member, room_id = await team(server)
    op = await operator(server)
    await ok(server, op, "PUT", f"/room/{room_id}/members/{member.uid}", {"Role": "moderator"})
    await ok(server, op, "DELETE", f"/room/{room_id}/members/{owner.uid}")
    members = await ok(server, op, "GET", f"/room/{room_id}/members")
    assert [m["UID"] for m in members] == [mod.uid, member.uid]


async def test_chat_audit_prints_the_log_newest_first(server: Server) -> None:
    _owner, mod, member, room_id = await team(server)
    await ok(server, mod, "PUT", f"/room/{room_id}/bans/{member.uid}", {"Reason": "spam"})
    printed = await run_chat("audit", "--room", str(room_id), env=chat_environ(server.config))
    assert printed.returncode == 0, printed.stderr
    lines = printed.stdout.decode().splitlines()
    assert len(lines) == 2
    assert f"room {room_id}  ban  by 'mo' (UID {mod.uid})  on 'mel' (UID {member.uid})" in lines[0]
    assert "reason 'spam'" in lines[0] and '{"Until": null}' in lines[0]
    assert "  role  by 'olga'" in lines[1]
    as_json = await run_chat("audit", "--json", "--limit", "1", env=chat_environ(server.config))
    assert [e["Action"] for e in json.loads(as_json.stdout)] == ["ban"]


async def test_reports_count_against_the_report_limit(tmp_path: Path) -> None:
    config = server_config(tmp_path, None, rate_limits=True, rate_reports="2/minute")
    async with trio.open_nursery() as nursery:
        server = await start_server(nursery, config)
        _owner, _mod, member, room_id = await team(server)
        statuses = []
        for n in range(3):
            posted = await ok(server, member, "POST", f"/messages/{room_id}", {"Text": f"m{n}"})
            response = await call(
                server, member, "POST", "/reports", {"MessageID": posted["MessageID"]}
            )
            statuses.append(response.status_code)
        assert statuses == [201, 201, 429]
        assert response.json()["error"].startswith("too many reports: try again in")
        nursery.cancel_scope.cancel()


async def test_a_removed_member_finds_nothing_of_the_room_by_search_file_or_resume(
    server: Server, clients: Clients
) -> None:
    owner, _mod, member, room_id = await team(server)
    stored = await upload(server, owner, b"minutes of the meeting", "minutes.txt", "text/plain")
    sent = await post_files(server, owner, room_id, [stored["FileID"]], "zebra crossing notes")
    message_id = sent.json()["MessageID"]
    file_path = f"/files/{stored['FileID']}/minutes.txt"
    assert (await call(server, member, "GET", file_path)).status_code == 200
    assert len(await ok(server, member, "GET", "/search?q=zebra")) == 1
    await ok(server, owner, "DELETE", f"/room/{room_id}/members/{member.uid}")
    assert await ok(server, member, "GET", "/search?q=zebra") == []
    assert (await call(server, member, "GET", file_path)).status_code == 404
    ws = await clients.json("/ws", token=member.token)
    resumed = await ws.request({"Type": "enter", "RoomID": room_id, "SinceID": message_id - 1})
    assert resumed == {"Type": "error", "Error": f"you are not a member of room {room_id}"}


async def test_every_moderator_action_is_logged_as_a_structured_line(
    server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="chat.app.rooms.moderation")
    _owner, mod, member, room_id = await team(server)
    await ok(server, mod, "PUT", f"/room/{room_id}/bans/{member.uid}", {"Reason": "spam"})
    (ban,) = [r for r in caplog.records if getattr(r, "action", None) == "ban"]
    assert (ban.event, ban.room_id, ban.uid, ban.target_uid, ban.reason) == (
        "audit",
        room_id,
        mod.uid,
        member.uid,
        "spam",
    )


async def test_a_page_limit_of_thousands_of_digits_is_a_clear_error(server: Server) -> None:
    owner, _mod, _member, room_id = await team(server)
    assert await refused(server, owner, "GET", f"/room/{room_id}/audit?limit={'9' * 5000}") == (
        400,
        "limit must be at most 100",
    )
    assert await refused(server, owner, "GET", f"/room/{room_id}/audit?limit=0") == (
        400,
        "limit must be a whole number from 1 to 100",
    )
