"""What the account screen sets over HTTP: a display name (``PUT /profile``), carried by the
room protocol's message frames and history, and an avatar (``PUT /profile/avatar``, cropped
to a square through the files' path; ``DELETE /profile/avatar``)."""

from __future__ import annotations

import io

import pytest
from files_support import StorageUnderTest, png
from PIL import Image
from support import (
    PASSWORD,
    Account,
    Server,
    account,
    entered,
    http_client,
    open_clients,
    post_confirmed,
    room_history,
)

from chat.app.people.avatars import AVATAR_EDGE, MAX_AVATAR_BYTES

LOBBY = 1


async def set_display_name(server: Server, user: Account, value: object) -> dict:
    async with http_client(server) as client:
        response = await client.put("/profile", headers=user.auth, json={"DisplayName": value})
    return {"status": response.status_code, **response.json()}


# --- display names ---


async def test_a_display_name_is_in_the_profile_others_see(server: Server) -> None:
    alice = await account(server, "alice")
    answer = await set_display_name(server, alice, "Alice Liddell")
    assert (answer["status"], answer["DisplayName"]) == (200, "Alice Liddell")
    async with http_client(server) as client:
        public = (await client.get(f"/profile/{alice.uid}")).json()
    assert (public["Username"], public["DisplayName"]) == ("alice", "Alice Liddell")


async def test_an_empty_or_null_display_name_clears_it(server: Server) -> None:
    alice = await account(server, "alice")
    await set_display_name(server, alice, "Alice Liddell")
    assert (await set_display_name(server, alice, ""))["DisplayName"] is None
    await set_display_name(server, alice, "Alice Liddell")
    assert (await set_display_name(server, alice, None))["DisplayName"] is None


@pytest.mark.parametrize(
    "value,problem",
    [
        ("x" * 65, "at most 64 characters"),
        ("two  spaces", "two spaces in a row"),
        ("zero\u200bwidth", "invisible characters"),
        ("Admin", "reserved"),
        (5, "must be a string or null"),
    ],
)
async def test_a_bad_display_name_is_refused_with_400_saying_why(
    server: Server, value: object, problem: str
) -> None:
    alice = await account(server, "alice")
    answer = await set_display_name(server, alice, value)
    assert answer["status"] == 400
    assert problem in answer["error"]


async def test_a_body_without_display_name_is_refused_with_400(server: Server) -> None:
    alice = await account(server, "alice")
    async with http_client(server) as client:
        response = await client.put("/profile", headers=alice.auth, json={})
    assert response.status_code == 400
    assert "DisplayName is required" in response.json()["error"]


async def test_a_display_name_like_another_users_login_name_is_409(server: Server) -> None:
    alice = await account(server, "alice")
    await account(server, "bob")
    answer = await set_display_name(server, alice, "B\u041eB")  # a Cyrillic O
    assert answer["status"] == 409
    assert "'bob'" in answer["error"]


async def test_a_new_account_named_like_a_display_name_is_409(server: Server) -> None:
    alice = await account(server, "alice")
    await set_display_name(server, alice, "Queen")
    async with http_client(server) as client:
        response = await client.post(
            "/register",
            json={"Username": "queen", "Email": "q@example.com", "Password": PASSWORD},
        )
    assert response.status_code == 409
    assert "'alice''s display name" in response.json()["error"]


async def test_new_message_frames_and_history_carry_the_display_name(server: Server) -> None:
    alice = await account(server, "alice")
    bob = await account(server, "bob")
    async with open_clients(server) as clients:
        alices = await entered(clients, alice, LOBBY)
        bobs = await entered(clients, bob, LOBBY)
        await post_confirmed(alices, "before")
        assert "DisplayName" not in await bobs.receive()
        await set_display_name(server, alice, "Alice Liddell")
        await post_confirmed(alices, "after")
        frame = await bobs.receive()
    assert (frame["Username"], frame["DisplayName"]) == ("alice", "Alice Liddell")
    history = await room_history(server, bob, LOBBY)
    assert {m["Text"]: m.get("DisplayName") for m in history} == {
        "before": "Alice Liddell",
        "after": "Alice Liddell",
    }


# --- avatars ---


async def put_avatar(server: Server, user: Account, body: bytes) -> dict:
    async with http_client(server) as client:
        response = await client.put("/profile/avatar", headers=user.auth, content=body)
    return {"status": response.status_code, **response.json()}


async def test_an_avatar_is_cropped_to_a_square_and_served_at_the_profiles_url(
    server: Server,
) -> None:
    alice = await account(server, "alice")
    answer = await put_avatar(server, alice, png(900, 300))
    assert answer["status"] == 200, answer
    url = answer["AvatarURL"]
    assert url.startswith(f"/avatars/{alice.uid}/")
    async with http_client(server) as client:
        public = (await client.get(f"/profile/{alice.uid}")).json()
        served = await client.get(url)
    assert public["AvatarURL"] == url
    assert served.status_code == 200
    assert served.headers["Content-Type"] == "image/jpeg"
    assert Image.open(io.BytesIO(served.content)).size == (AVATAR_EDGE, AVATAR_EDGE)


async def test_message_frames_and_history_carry_the_senders_avatar(server: Server) -> None:
    alice = await account(server, "alice")
    bob = await account(server, "bob")
    url = (await put_avatar(server, alice, png(200, 200)))["AvatarURL"]
    async with open_clients(server) as clients:
        alices = await entered(clients, alice, LOBBY)
        bobs = await entered(clients, bob, LOBBY)
        await post_confirmed(alices, "with a picture")
        frame = await bobs.receive()
        await post_confirmed(bobs, "without one")
    assert frame["AvatarURL"] == url
    history = await room_history(server, bob, LOBBY)
    assert {m["Text"]: m.get("AvatarURL") for m in history} == {
        "with a picture": url,
        "without one": None,
    }


async def test_a_replaced_or_removed_avatar_is_no_longer_served(server: Server) -> None:
    alice = await account(server, "alice")
    first = (await put_avatar(server, alice, png(200, 200, (1, 2, 3))))["AvatarURL"]
    second = (await put_avatar(server, alice, png(200, 200, (200, 2, 3))))["AvatarURL"]
    assert first != second
    async with http_client(server) as client:
        assert (await client.get(first)).status_code == 404
        removed = await client.delete("/profile/avatar", headers=alice.auth)
        assert removed.status_code == 200
        assert removed.json()["AvatarURL"] is None
        assert (await client.get(second)).status_code == 404


@pytest.mark.parametrize(
    "body,problem",
    [
        (b"just some text, not a picture", "this is text/plain"),
        (b"%PDF-1.7 not an image", "this is application/pdf"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 100, "could not be read"),
    ],
    ids=["text", "pdf", "broken-png"],
)
async def test_an_avatar_that_is_not_an_image_is_refused_saying_so(
    server: Server, body: bytes, problem: str
) -> None:
    alice = await account(server, "alice")
    answer = await put_avatar(server, alice, body)
    assert answer["status"] == 400
    assert answer["error"].startswith("an avatar must be a PNG, JPEG, GIF or WebP image")
    assert problem in answer["error"]


async def test_an_avatar_past_the_size_bound_is_413(server: Server) -> None:
    alice = await account(server, "alice")
    answer = await put_avatar(server, alice, b"\xff\xd8\xff" + b"\x00" * MAX_AVATAR_BYTES)
    assert answer["status"] == 413
    assert "too large for an avatar" in answer["error"]


async def stored_avatars(server: Server) -> list[str]:
    keys = await StorageUnderTest("directory").keys(server.config)
    return [key for key in keys if key.startswith("avatar-")]


async def test_only_the_current_avatar_is_kept_and_none_after_an_erasure(
    server: Server,
) -> None:
    alice = await account(server, "alice")
    await put_avatar(server, alice, png(200, 200, (1, 2, 3)))
    second = (await put_avatar(server, alice, png(200, 200, (200, 2, 3))))["AvatarURL"]
    assert await stored_avatars(server) == [second.rsplit("/", 1)[1]]
    async with http_client(server) as client:
        erased = await client.request(
            "DELETE", "/me", headers=alice.auth, json={"Password": PASSWORD}
        )
    assert erased.status_code == 200, erased.text
    assert await stored_avatars(server) == []
