"""The built-in commands typed in the composer (``/me``, ``/topic``, ``/invite``,
``/leave``, ``/mute``, ``/status``, ``/help``): each does what its HTTP route does, under
the same rules, and answers its caller alone; an unknown ``/word`` is not posted, and
``//`` or ``/ `` posts the text as it is."""

from __future__ import annotations

from command_receiver import config_fixture, next_of, register, site_fixture  # noqa: F401
from support import Clients, JsonClient, Server, account, entered, http_client
from test_room_moderation import call, ok, team


async def _run(ws: JsonClient, text: str) -> str:
    """Send `text` as a command; the ephemeral answer's text (after the acknowledgement)."""
    await ws.send({"Type": "message", "Text": text})
    ack = await next_of(ws, "command")
    assert ack["Command"] == text.split()[0].lower()
    told = await next_of(ws, "ephemeral")
    answer: str = told["Text"]
    return answer


async def test_me_is_posted_as_an_action(server: Server, clients: Clients) -> None:
    _owner, _mod, member, room_id = await team(server)
    ws = await entered(clients, member, room_id)
    await ws.send({"Type": "message", "Text": "/me waves"})
    assert (await next_of(ws, "message"))["Text"] == "/me waves"


async def test_topic_sets_the_rooms_topic_for_a_moderator(server: Server, clients: Clients) -> None:
    _owner, mod, _member, room_id = await team(server)
    ws = await entered(clients, mod, room_id)
    assert await _run(ws, "/topic release on friday") == "topic changed"
    room = await ok(server, mod, "GET", f"/room/{room_id}")
    assert room["Topic"] == "release on friday"


async def test_topic_from_a_plain_member_is_refused_to_them_alone(
    server: Server, clients: Clients
) -> None:
    _owner, _mod, member, room_id = await team(server)
    ws = await entered(clients, member, room_id)
    told = await _run(ws, "/topic mine now")
    assert told == f"only a moderator or owner of room {room_id} may change its topic and slow mode"


async def test_invite_adds_a_user_by_name(server: Server, clients: Clients) -> None:
    _owner, mod, _member, room_id = await team(server)
    dana = await account(server, "dana")
    ws = await entered(clients, mod, room_id)
    assert await _run(ws, "/invite @dana") == "invited @dana"
    members = await ok(server, mod, "GET", f"/room/{room_id}/members")
    assert dana.uid in [m["UID"] for m in members]


async def test_invite_of_an_unknown_user_is_told(server: Server, clients: Clients) -> None:
    _owner, mod, _member, room_id = await team(server)
    ws = await entered(clients, mod, room_id)
    assert await _run(ws, "/invite @nobody") == "no user @nobody"


async def test_leave_takes_the_caller_out_of_the_room(server: Server, clients: Clients) -> None:
    _owner, _mod, member, room_id = await team(server)
    ws = await entered(clients, member, room_id)
    await ws.send({"Type": "message", "Text": "/leave"})
    assert (await next_of(ws, "command"))["Command"] == "/leave"
    members = await ok(server, _owner, "GET", f"/room/{room_id}/members")
    assert member.uid not in [m["UID"] for m in members]


async def test_mute_mutes_a_member_for_the_time_given(server: Server, clients: Clients) -> None:
    _owner, mod, member, room_id = await team(server)
    ws = await entered(clients, mod, room_id)
    assert await _run(ws, "/mute @mel 10m too loud") == "muted @mel for 10m"
    mutes = await ok(server, mod, "GET", f"/room/{room_id}/mutes")
    assert [(m["UID"], m["Reason"]) for m in mutes] == [(member.uid, "too loud")]


async def test_mute_with_a_bad_duration_is_told(server: Server, clients: Clients) -> None:
    _owner, mod, _member, room_id = await team(server)
    ws = await entered(clients, mod, room_id)
    assert (await _run(ws, "/mute @mel soon")).startswith("not a duration")


async def test_status_sets_and_clears_the_callers_status(server: Server, clients: Clients) -> None:
    _owner, _mod, member, room_id = await team(server)
    ws = await entered(clients, member, room_id)
    assert await _run(ws, "/status in a meeting") == "status set"
    profile = await ok(server, member, "GET", "/profile")
    assert profile["Status"]["Text"] == "in a meeting"
    assert await _run(ws, "/status") == "status cleared"
    assert (await ok(server, member, "GET", "/profile")).get("Status") is None


async def test_help_lists_the_built_ins_and_the_rooms_commands(
    server: Server, clients: Clients
) -> None:
    _owner, mod, member, room_id = await team(server)
    await register(server, mod, room_id, "https://example.com/x")
    ws = await entered(clients, member, room_id)
    told = await _run(ws, "/help")
    assert "/me <text>" in told
    assert "/deploy: ship a build" in told


async def test_an_unknown_command_is_not_posted_and_is_told(
    server: Server, clients: Clients
) -> None:
    owner, _mod, member, room_id = await team(server)
    ws = await entered(clients, member, room_id)
    assert await _run(ws, "/shrug") == "unknown command /shrug; /help lists them"
    async with http_client(server) as client:
        page = (await client.get(f"/messages/{room_id}", headers=owner.auth)).json()
    assert page == []


async def test_double_slash_and_slash_space_post_the_text_as_it_is(
    server: Server, clients: Clients
) -> None:
    _owner, _mod, member, room_id = await team(server)
    ws = await entered(clients, member, room_id)
    for text in ("//shrug", "/ shrug", "/usr/bin is full"):
        await ws.send({"Type": "message", "Text": text})
        assert (await next_of(ws, "message"))["Text"] == text


async def test_a_built_in_over_http_answers_in_the_202(server: Server) -> None:
    _owner, _mod, member, room_id = await team(server)
    answer = await call(server, member, "POST", f"/messages/{room_id}", {"Text": "/nope"})
    assert (answer.status_code, answer.json()["Text"]) == (
        202,
        "unknown command /nope; /help lists them",
    )


async def test_an_ephemeral_answer_is_not_seen_by_another_member(
    server: Server, clients: Clients
) -> None:
    owner, _mod, member, room_id = await team(server)
    other = await entered(clients, owner, room_id)
    ws = await entered(clients, member, room_id)
    await _run(ws, "/help")
    await ws.send({"Type": "message", "Text": "visible"})
    assert (await other.receive())["Text"] == "visible"


async def test_me_alone_is_answered_with_its_usage(server: Server, clients: Clients) -> None:
    _owner, _mod, member, room_id = await team(server)
    ws = await entered(clients, member, room_id)
    assert await _run(ws, "/me") == "usage: /me <text>"
