"""A user's status over HTTP and /ws on one server: ``PUT``/``DELETE /me/status``, its
checks, profiles carrying it, the ``status`` frame to others, presence frames carrying it,
and its end when ``Until`` passes (chat/app/people/statuses.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import trio
from support import (
    STEP,
    Account,
    Clients,
    JsonClient,
    Server,
    account,
    create_room,
    execute_sql,
    http_client,
)

from chat.core.config import Config

LOBBY = 1


def _in(seconds: float) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat()


async def _put(server: Server, user: Account, body: Any) -> tuple[int, Any]:
    async with http_client(server) as client:
        response = await client.put("/me/status", headers=user.auth, json=body)
    return response.status_code, response.json()


async def _profile_status(server: Server, user: Account, *, own: bool = False) -> Any:
    async with http_client(server) as client:
        response = await client.get("/profile" if own else f"/profile/{user.uid}")
        if own:
            response = await client.get("/profile", headers=user.auth)
    assert response.status_code == 200, response.text
    return response.json()["Status"]


async def _next_of_type(ws: JsonClient, kind: str) -> dict[str, Any]:
    with trio.fail_after(STEP):
        while True:
            frame = await ws.receive()
            if frame["Type"] == kind:
                return frame


async def test_a_status_set_is_answered_and_carried_by_both_profiles(server: Server) -> None:
    alice = await account(server, "alice")
    until = _in(3600)
    body = {"Emoji": "🌴", "Text": "On holiday", "Until": until, "Presence": "away"}
    status, answer = await _put(server, alice, body)
    assert status == 200, answer
    expected = {**body, "Until": answer["Until"]}
    assert answer == expected
    said = datetime.fromisoformat(until)
    assert abs(datetime.fromisoformat(answer["Until"]) - said) < timedelta(milliseconds=1)
    assert await _profile_status(server, alice) == expected
    assert await _profile_status(server, alice, own=True) == expected


async def test_a_known_shortcode_is_stored_as_its_emoji(server: Server) -> None:
    alice = await account(server, "alice")
    status, answer = await _put(server, alice, {"Emoji": ":palm_tree:", "Text": "away"})
    assert status == 200, answer
    assert answer["Emoji"] == "🌴"
    assert (answer["Presence"], answer["Until"]) == ("auto", None)


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ({"Emoji": ":no_such_emoji_here:"}, "not a shortcode this server knows"),
        ({"Emoji": "🌴🌴"}, "Emoji must be one emoji"),
        ({"Emoji": "x" * 500}, "Emoji must be one emoji"),
        ({"Emoji": 7}, "Emoji must be a string"),
        ({"Text": "x" * 101}, "more than 100"),
        ({"Text": "line\nbreak"}, "control or format characters"),
        ({"Text": "right\u202eleft"}, "control or format characters"),
        ({"Text": ["a"]}, "Text must be a string"),
        ({"Text": "x", "Until": "2001-01-01T00:00:00Z"}, "Until has passed"),
        ({"Text": "x", "Until": "2999-01-01T00:00:00Z"}, "more than 366 days ahead"),
        ({"Text": "x", "Until": "2030-01-01T00:00:00"}, "needs its offset"),
        ({"Text": "x", "Until": "tomorrow"}, "not an ISO time"),
        ({"Text": "x", "Until": 12}, "Until must be an ISO time"),
        ({"Text": "x", "Presence": "busy"}, 'Presence must be "auto", "away" or "dnd"'),
        ({}, "a status needs an Emoji, a Text or a Presence"),
        ({"Text": "x", "Mood": "fine"}, "a status has no field 'Mood'"),
    ],
    ids=[
        "unknown-shortcode",
        "two-emoji",
        "long-emoji",
        "emoji-number",
        "long-text",
        "newline",
        "bidi-override",
        "text-list",
        "until-past",
        "until-too-far",
        "until-no-offset",
        "until-not-a-time",
        "until-number",
        "presence-unknown",
        "empty",
        "unknown-field",
    ],
)
async def test_a_bad_status_is_refused_saying_what_is_wrong(
    server: Server, body: dict[str, Any], problem: str
) -> None:
    alice = await account(server, "alice")
    status, answer = await _put(server, alice, body)
    assert status == 400, answer
    assert problem in answer["error"]
    assert await _profile_status(server, alice) is None


async def test_setting_a_status_needs_a_token(server: Server) -> None:
    async with http_client(server) as client:
        response = await client.put("/me/status", json={"Text": "hello"})
    assert response.status_code == 401


async def test_past_ten_changes_a_minute_a_status_is_refused_with_429(server: Server) -> None:
    alice = await account(server, "alice")
    for number in range(10):
        status, answer = await _put(server, alice, {"Text": f"change {number}"})
        assert status == 200, answer
    async with http_client(server) as client:
        response = await client.delete("/me/status", headers=alice.auth)
    assert response.status_code == 429, response.text
    assert "too many status changes" in response.json()["error"]
    assert int(response.headers["Retry-After"]) > 0
    assert (await _profile_status(server, alice))["Text"] == "change 9"


async def test_a_rooms_members_carry_the_statuses_in_force(server: Server) -> None:
    alice, bob = await account(server, "alice"), await account(server, "bob")
    room_id = await create_room(server, alice, "plans", bob)
    status, said = await _put(server, bob, {"Emoji": "🌴", "Text": "On holiday"})
    assert status == 200, said
    async with http_client(server) as client:
        response = await client.get(f"/room/{room_id}/members", headers=alice.auth)
    assert response.status_code == 200, response.text
    statuses = {member["Username"]: member.get("Status") for member in response.json()}
    assert statuses == {"alice": None, "bob": said}


async def test_a_cleared_status_is_null_in_the_profile(server: Server) -> None:
    alice = await account(server, "alice")
    await _put(server, alice, {"Text": "lunch", "Presence": "dnd"})
    async with http_client(server) as client:
        response = await client.delete("/me/status", headers=alice.auth)
    assert response.status_code == 200, response.text
    assert response.json() == {"Status": None}
    assert await _profile_status(server, alice) is None


async def test_a_status_past_its_until_reads_null_before_any_sweep(
    server: Server, config: Config
) -> None:
    alice = await account(server, "alice")
    await _put(server, alice, {"Text": "lunch"})
    # Its time passes behind the server's back: no timer of the server's has seen it.
    past = "1000" if config.database_url is None else "'2001-01-01T00:00:00Z'"
    await execute_sql(config, f"UPDATE user_statuses SET until = {past}")
    assert await _profile_status(server, alice) is None


async def test_others_get_a_status_frame_when_it_is_set_and_cleared(
    server: Server, clients: Clients
) -> None:
    alice = await account(server, "alice")
    bob = await account(server, "bob")
    bobs = await clients.json("/ws", token=bob.token)
    await _put(server, alice, {"Emoji": "🍔", "Text": "lunch"})
    frame = await _next_of_type(bobs, "status")
    assert frame == {
        "Type": "status",
        "UID": alice.uid,
        "Status": {"Emoji": "🍔", "Text": "lunch", "Presence": "auto", "Until": None},
    }
    async with http_client(server) as client:
        await client.delete("/me/status", headers=alice.auth)
    assert await _next_of_type(bobs, "status") == {
        "Type": "status",
        "UID": alice.uid,
        "Status": None,
    }


async def test_a_status_ends_itself_when_until_passes_and_the_frame_says_so(
    server: Server, clients: Clients
) -> None:
    alice = await account(server, "alice")
    bob = await account(server, "bob")
    bobs = await clients.json("/ws", token=bob.token)
    await _put(server, alice, {"Text": "brb", "Until": _in(1.0)})
    assert (await _next_of_type(bobs, "status"))["Status"]["Text"] == "brb"
    ended = await _next_of_type(bobs, "status")
    assert ended == {"Type": "status", "UID": alice.uid, "Status": None}
    assert await _profile_status(server, alice) is None


async def test_presence_frames_carry_the_status_of_who_arrives(
    server: Server, clients: Clients
) -> None:
    alice = await account(server, "alice")
    bob = await account(server, "bob")
    await _put(server, alice, {"Emoji": "🌴", "Presence": "away"})
    bobs = await clients.json("/ws", token=bob.token)
    answer = await bobs.request({"Type": "enter", "RoomID": LOBBY, "Presence": True})
    assert answer["Type"] == "entered", answer
    alices = await clients.json("/ws", token=alice.token)
    await alices.request({"Type": "enter", "RoomID": LOBBY, "Presence": False})
    with trio.fail_after(STEP):
        while True:
            frame = await _next_of_type(bobs, "presence")
            if frame["UID"] == alice.uid:
                break
    assert frame["Online"] is True
    assert frame["Status"] == {"Emoji": "🌴", "Text": "", "Presence": "away", "Until": None}


async def test_a_presence_list_carries_the_statuses_of_those_present(
    server: Server, clients: Clients
) -> None:
    alice = await account(server, "alice")
    bob = await account(server, "bob")
    alices = await clients.json("/ws", token=alice.token)
    await alices.request({"Type": "enter", "RoomID": LOBBY, "Presence": False})
    await _put(server, alice, {"Text": "in a meeting", "Presence": "dnd"})
    bobs = await clients.json("/ws", token=bob.token)
    await bobs.request({"Type": "enter", "RoomID": LOBBY, "Presence": "list"})
    listed = await _next_of_type(bobs, "presence-list")
    people = {person["UID"]: person for person in listed["Users"]}
    assert people[alice.uid]["Status"]["Presence"] == "dnd"
    assert "Status" not in people[bob.uid]


async def test_the_rooms_online_list_carries_the_statuses_in_force(
    server: Server, clients: Clients
) -> None:
    alice, bob = await account(server, "alice"), await account(server, "bob")
    for user in (alice, bob):
        ws = await clients.json("/ws", token=user.token)
        await ws.request({"Type": "enter", "RoomID": LOBBY, "Presence": False})
    status, said = await _put(server, bob, {"Emoji": "🌴", "Text": "On holiday"})
    assert status == 200, said
    async with http_client(server) as client:
        response = await client.get(f"/room/{LOBBY}/online", headers=alice.auth)
    assert response.status_code == 200, response.text
    statuses = {person["Username"]: person.get("Status") for person in response.json()}
    assert statuses == {"alice": None, "bob": said}
