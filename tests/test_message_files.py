"""Messages that carry files: ``"Files": [FileID, ...]`` on
/ws and in ``POST /messages/{roomID}``; frames and history show each file; only the
uploader attaches a file, once; a file is readable by whoever may read a message that
carries it, and by nobody else (404)."""

from __future__ import annotations

import pytest
from files_support import fetch, png, post_files, upload
from support import Clients, Server, account, create_room, entered, http_client, room_history


async def test_a_message_frame_carries_its_files(server: Server, clients: Clients) -> None:
    alice, bob = await account(server, "alice"), await account(server, "bob")
    room_id = await create_room(server, alice, "room", bob)
    image = await upload(server, alice, png(800, 400), "chart.png")
    author, reader = await entered(clients, alice, room_id), await entered(clients, bob, room_id)
    sent = await author.request({"Type": "message", "Text": "look", "Files": [image["FileID"]]})
    received = await reader.receive()
    expected = [
        {
            "FileID": image["FileID"],
            "Name": "chart.png",
            "Size": image["Size"],
            "ContentType": "image/png",
            "Width": 800,
            "Height": 400,
        }
    ]
    assert sent["Files"] == expected
    assert received["Files"] == expected


async def test_history_shows_the_files_of_a_message(server: Server, clients: Clients) -> None:
    alice = await account(server, "alice")
    room_id = await create_room(server, alice, "room")
    notes = await upload(server, alice, b"minutes\n", "minutes.txt")
    ws = await entered(clients, alice, room_id)
    await ws.request({"Type": "message", "Text": "", "Files": [notes["FileID"]]})
    (item,) = await room_history(server, alice, room_id)
    assert item["Text"] == ""
    assert item["Files"] == [
        {
            "FileID": notes["FileID"],
            "Name": "minutes.txt",
            "Size": 8,
            "ContentType": "text/plain; charset=utf-8",
        }
    ]


async def test_a_message_without_files_has_no_files_field(server: Server) -> None:
    alice = await account(server, "alice")
    room_id = await create_room(server, alice, "room")
    async with http_client(server) as client:
        posted = await client.post(f"/messages/{room_id}", headers=alice.auth, json={"Text": "hi"})
    assert "Files" not in posted.json()


async def test_a_post_carries_files_and_may_have_no_text(server: Server) -> None:
    alice = await account(server, "alice")
    room_id = await create_room(server, alice, "room")
    one = await upload(server, alice, b"1", "one")
    two = await upload(server, alice, b"2", "two")
    posted = await post_files(server, alice, room_id, [two["FileID"], one["FileID"]])
    assert posted.status_code == 201, posted.text
    assert [f["Name"] for f in posted.json()["Files"]] == ["two", "one"]


async def test_empty_text_without_files_is_still_refused(server: Server) -> None:
    alice = await account(server, "alice")
    room_id = await create_room(server, alice, "room")
    posted = await post_files(server, alice, room_id, [])
    assert posted.status_code == 400


async def test_only_the_uploader_attaches_a_file(server: Server) -> None:
    alice, mallory = await account(server, "alice"), await account(server, "mallory")
    room_id = await create_room(server, mallory, "room")
    secret = await upload(server, alice, b"secret", "secret.txt")
    posted = await post_files(server, mallory, room_id, [secret["FileID"]], "mine now")
    assert posted.status_code == 400
    assert "not a file you uploaded" in posted.json()["error"]
    unknown = await upload(server, mallory, b"x")
    other = await post_files(server, mallory, room_id, [unknown["FileID"][:-2] + "zz"], "x")
    # An unknown id is refused in the same words: nothing says whose a file is.
    assert other.json()["error"].replace(unknown["FileID"][:-2] + "zz", "ID") == posted.json()[
        "error"
    ].replace(secret["FileID"], "ID")


async def test_a_file_goes_in_one_message_only(server: Server) -> None:
    alice = await account(server, "alice")
    room_id = await create_room(server, alice, "room")
    file = await upload(server, alice, b"once")
    first = await post_files(server, alice, room_id, [file["FileID"]], "a")
    second = await post_files(server, alice, room_id, [file["FileID"]], "b")
    assert first.status_code == 201
    assert second.status_code == 400


async def test_at_most_ten_distinct_files(server: Server) -> None:
    alice = await account(server, "alice")
    room_id = await create_room(server, alice, "room")
    ids = [(await upload(server, alice, bytes([n])))["FileID"] for n in range(11)]
    async with http_client(server) as client:
        eleven = await client.post(
            f"/messages/{room_id}", headers=alice.auth, json={"Text": "x", "Files": ids}
        )
        twice = await client.post(
            f"/messages/{room_id}", headers=alice.auth, json={"Text": "x", "Files": [ids[0]] * 2}
        )
        not_strings = await client.post(
            f"/messages/{room_id}", headers=alice.auth, json={"Text": "x", "Files": [1]}
        )
    assert eleven.status_code == 400 and "at most 10" in eleven.json()["error"]
    assert twice.status_code == 400 and "twice" in twice.json()["error"]
    assert not_strings.status_code == 400


async def test_a_resend_answers_with_the_original_files(server: Server) -> None:
    alice = await account(server, "alice")
    room_id = await create_room(server, alice, "room")
    file = await upload(server, alice, b"report")
    body = {"Text": "x", "Files": [file["FileID"]], "ClientMsgID": "c-1"}
    async with http_client(server) as client:
        first = await client.post(f"/messages/{room_id}", headers=alice.auth, json=body)
        again = await client.post(f"/messages/{room_id}", headers=alice.auth, json=body)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["Files"] == first.json()["Files"]


async def test_an_unattached_file_is_its_uploaders_alone(server: Server) -> None:
    alice, bob = await account(server, "alice"), await account(server, "bob")
    file = await upload(server, alice, b"draft")
    path = f"/files/{file['FileID']}/draft"
    assert (await fetch(server, alice, path)).status_code == 200
    refused = await fetch(server, bob, path)
    assert refused.status_code == 404
    assert (await fetch(server, None, path)).status_code == 401


async def test_members_read_a_files_room_and_nobody_else(server: Server, clients: Clients) -> None:
    alice, bob = await account(server, "alice"), await account(server, "bob")
    eve = await account(server, "eve")
    room_id = await create_room(server, alice, "room", bob)
    file = await upload(server, alice, b"shared", "shared.txt")
    ws = await entered(clients, alice, room_id)
    await ws.request({"Type": "message", "Text": "here", "Files": [file["FileID"]]})
    path = f"/files/{file['FileID']}/shared.txt"
    assert (await fetch(server, bob, path)).content == b"shared"
    missing = await fetch(server, eve, f"/files/{file['FileID']}x/shared.txt")
    refused = await fetch(server, eve, path)
    assert (refused.status_code, missing.status_code) == (404, 404)
    assert refused.json()["error"].split()[:2] == missing.json()["error"].split()[:2]


async def test_a_lobby_file_is_everyones(server: Server, clients: Clients) -> None:
    alice, bob = await account(server, "alice"), await account(server, "bob")
    file = await upload(server, alice, b"for all")
    ws = await entered(clients, alice, 1)
    await ws.request({"Type": "message", "Text": "all", "Files": [file["FileID"]]})
    assert (await fetch(server, bob, f"/files/{file['FileID']}/x")).content == b"for all"


async def test_a_deleted_messages_files_are_read_by_nobody(
    server: Server, clients: Clients
) -> None:
    alice, bob = await account(server, "alice"), await account(server, "bob")
    room_id = await create_room(server, alice, "room", bob)
    file = await upload(server, alice, b"oops")
    ws = await entered(clients, alice, room_id)
    sent = await ws.request({"Type": "message", "Text": "x", "Files": [file["FileID"]]})
    await ws.request({"Type": "delete", "MessageID": sent["MessageID"]})
    for user in (alice, bob):
        assert (await fetch(server, user, f"/files/{file['FileID']}/x")).status_code == 404
    (item,) = await room_history(server, alice, room_id)
    assert "Files" not in item


async def test_files_are_served_safely(server: Server, clients: Clients) -> None:
    alice = await account(server, "alice")
    page = await upload(server, alice, b"<svg onload=alert(1)><script>x</script></svg>", "x.svg")
    image = await upload(server, alice, png(20, 20), "p.png")
    for file in (page, image):
        response = await fetch(server, alice, f"/files/{file['FileID']}/{file['Name']}")
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Content-Security-Policy"] == "sandbox"
        assert response.headers["ETag"] == f'"{file["SHA256"]}"'
        assert "private" in response.headers["Cache-Control"]
    svg = await fetch(server, alice, f"/files/{page['FileID']}/x.svg")
    assert svg.headers["Content-Type"].startswith("text/plain")
    assert svg.headers["Content-Disposition"].startswith("attachment;")
    shown = await fetch(server, alice, f"/files/{image['FileID']}/p.png")
    assert shown.headers["Content-Type"] == "image/png"
    assert shown.headers["Content-Disposition"].startswith("inline;")


async def test_ranges_and_revalidation(server: Server) -> None:
    alice = await account(server, "alice")
    data = bytes(range(100))
    file = await upload(server, alice, data, "r")
    path = f"/files/{file['FileID']}/r"
    part = await fetch(server, alice, path, {"Range": "bytes=10-19"})
    assert (part.status_code, part.content) == (206, data[10:20])
    assert part.headers["Content-Range"] == "bytes 10-19/100"
    tail = await fetch(server, alice, path, {"Range": "bytes=-5"})
    assert (tail.status_code, tail.content) == (206, data[95:])
    past = await fetch(server, alice, path, {"Range": "bytes=100-"})
    assert (past.status_code, past.headers["Content-Range"]) == (416, "bytes */100")
    same = await fetch(server, alice, path, {"If-None-Match": f'"{file["SHA256"]}"'})
    assert (same.status_code, same.content) == (304, b"")


@pytest.mark.parametrize(
    ("header", "status", "part"),
    [
        ("bytes=0-0", 206, slice(0, 1)),
        ("bytes=-1000", 206, slice(0, 100)),
        ("bytes=90-100000", 206, slice(90, 100)),
        ("bytes=5-1", 416, None),
        ("bytes=-0", 416, None),
        ("bytes=" + "9" * 5000 + "-", 416, None),
        ("bytes=0-" + "9" * 5000, 206, slice(0, 100)),
        ("bytes=-" + "9" * 5000, 206, slice(0, 100)),
        ("bytes=0-1,5-6", 200, slice(0, 100)),
        ("items=0-1", 200, slice(0, 100)),
        ("bytes=\u0661-\u0662", 200, slice(0, 100)),
    ],
    ids=[
        "first-byte",
        "suffix-past-start",
        "end-past-end",
        "reversed",
        "empty-suffix",
        "start-of-5000-digits",
        "end-of-5000-digits",
        "suffix-of-5000-digits",
        "two-ranges",
        "other-unit",
        "arabic-digits",
    ],
)
async def test_odd_ranges_get_a_part_the_whole_or_416(
    server: Server, header: str, status: int, part: slice | None
) -> None:
    """Numbers past any file's size, even of thousands of digits (found by
    tests/test_fuzz.py: those were a 500), several ranges, other units and digits."""
    alice = await account(server, "alice")
    data = bytes(range(100))
    file = await upload(server, alice, data, "r")
    response = await fetch(
        server, alice, f"/files/{file['FileID']}/r", {"Range": header.encode("utf-8")}
    )
    assert response.status_code == status
    if part is None:
        assert response.headers["Content-Range"] == "bytes */100"
        assert "100 bytes" in response.json()["error"]
    else:
        assert response.content == data[part]


async def test_a_unicode_name_is_given_to_the_browser(server: Server) -> None:
    alice = await account(server, "alice")
    file = await upload(server, alice, b"x", "отчёт 2026.txt")
    response = await fetch(server, alice, f"/files/{file['FileID']}/x")
    disposition = response.headers["Content-Disposition"]
    assert "filename*=UTF-8''%D0%BE%D1%82%D1%87%D1%91%D1%82%202026.txt" in disposition
