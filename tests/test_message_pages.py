"""Pages of a room's messages beyond "older than": ``?around=ID`` (a
page centred on a message, where a search result opens) and ``?after=ID`` (the next
messages towards the present, to scroll down from there)."""

from __future__ import annotations

from typing import Any

import pytest
from support import Account, Server, account, create_room, http_client


async def page(server: Server, user: Account, room_id: int, **params: Any) -> Any:
    async with http_client(server) as client:
        return await client.get(f"/messages/{room_id}", params=params, headers=user.auth)


async def filled_room(
    server: Server, user: Account, count: int, name: str = "history"
) -> tuple[int, list[int]]:
    """A room of `user`'s with `count` messages; their ids, oldest first."""
    room_id = await create_room(server, user, name)
    ids = []
    async with http_client(server) as client:
        for n in range(count):
            posted = await client.post(
                f"/messages/{room_id}", headers=user.auth, json={"Text": f"message {n}"}
            )
            ids.append(posted.json()["MessageID"])
    return room_id, ids


def ids_of(answer: Any) -> list[int]:
    assert answer.status_code == 200, answer.text
    return [item["MessageID"] for item in answer.json()]


async def test_around_is_the_message_amid_its_neighbours_newest_first(server: Server) -> None:
    alice = await account(server, "alice")
    room_id, ids = await filled_room(server, alice, 20)
    middle = ids[10]
    got = ids_of(await page(server, alice, room_id, around=middle, limit=6))
    assert got == [ids[12], ids[11], ids[10], ids[9], ids[8], ids[7]]


async def test_around_near_the_newest_fills_the_page_with_older_ones(server: Server) -> None:
    alice = await account(server, "alice")
    room_id, ids = await filled_room(server, alice, 10)
    got = ids_of(await page(server, alice, room_id, around=ids[-1], limit=4))
    assert got == [ids[9], ids[8], ids[7]]


async def test_around_near_the_oldest_fills_the_page_with_newer_ones(server: Server) -> None:
    alice = await account(server, "alice")
    room_id, ids = await filled_room(server, alice, 10)
    got = ids_of(await page(server, alice, room_id, around=ids[0], limit=4))
    assert got == [ids[3], ids[2], ids[1], ids[0]]


async def test_around_a_message_of_another_room_is_404(server: Server) -> None:
    alice = await account(server, "alice")
    room_id, _ = await filled_room(server, alice, 2)
    _, elsewhere = await filled_room(server, alice, 1, "elsewhere")
    answer = await page(server, alice, room_id, around=elsewhere[0])
    assert answer.status_code == 404
    assert str(elsewhere[0]) in answer.json()["error"]


async def test_around_is_for_members_only(server: Server) -> None:
    alice, bob = await account(server, "alice"), await account(server, "bob")
    room_id, ids = await filled_room(server, alice, 3)
    assert (await page(server, bob, room_id, around=ids[1])).status_code == 403


async def test_after_pages_towards_the_present(server: Server) -> None:
    alice = await account(server, "alice")
    room_id, ids = await filled_room(server, alice, 7)
    first = ids_of(await page(server, alice, room_id, after=ids[1], limit=3))
    assert first == [ids[4], ids[3], ids[2]]
    second = ids_of(await page(server, alice, room_id, after=first[0], limit=3))
    assert second == [ids[6], ids[5]]
    assert ids_of(await page(server, alice, room_id, after=ids[6])) == []


@pytest.mark.parametrize(
    "params",
    [{"around": 1, "after": 1}, {"around": 1, "last_id": 5}, {"after": 1, "last_id": 5}],
)
async def test_only_one_starting_point_is_taken(server: Server, params: dict[str, int]) -> None:
    alice = await account(server, "alice")
    room_id, _ = await filled_room(server, alice, 1)
    answer = await page(server, alice, room_id, **params)
    assert answer.status_code == 400
    assert "not several" in answer.json()["error"]


@pytest.mark.parametrize("params", [{"around": 0}, {"around": "x"}, {"after": -1}, {"limit": 101}])
async def test_bad_page_parameters_are_400(server: Server, params: dict[str, Any]) -> None:
    alice = await account(server, "alice")
    room_id, _ = await filled_room(server, alice, 1)
    assert (await page(server, alice, room_id, **params)).status_code == 400
