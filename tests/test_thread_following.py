"""Following threads: a reply makes its sender a follower (read up to it), and its
thread's starter and the people it mentions followers unless they chose otherwise;
anyone who may read a thread follows it or stops (``PUT``/``DELETE
/threads/{threadID}/follow``; ``GET`` says which) and moves their marker
(``PUT /threads/{threadID}/read``); ``GET /threads/unread`` lists the followed threads
of the rooms they may read now, by last activity, with the replies they have not read
and how many mention them."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from support import PASSWORD, Account, Server, account, create_room, http_client, select_rows
from test_account_erasure import erase
from test_support import operator

from chat.core.config import Config
from chat.store import open_store


@pytest.fixture
async def team(server: Server) -> tuple[dict[str, Account], int]:
    """Alice, Bob, Carol and Dave in one room; Eve outside it."""
    people = {name: await account(server, name) for name in ("alice", "bob", "carol", "dave")}
    room_id = await create_room(server, people["alice"], "team", *list(people.values())[1:])
    people["eve"] = await account(server, "eve")
    return people, room_id


async def _post(
    client: httpx.AsyncClient, who: Account, room_id: int, text: str, **fields: Any
) -> int:
    answer = await client.post(
        f"/messages/{room_id}", headers=who.auth, json={"Text": text, **fields}
    )
    assert answer.status_code == 201, answer.text
    return int(answer.json()["MessageID"])


async def _followed(client: httpx.AsyncClient, who: Account) -> dict[int, dict[str, Any]]:
    answer = await client.get("/threads/unread", headers=who.auth)
    assert answer.status_code == 200, answer.text
    return {row["ThreadID"]: row for row in answer.json()}


def _counts(row: dict[str, Any]) -> tuple[int, int]:
    return row["Unread"], row["Mentions"]


async def test_a_reply_makes_followers_of_its_sender_the_starter_and_those_it_mentions(
    server: Server, team: tuple[dict[str, Account], int]
) -> None:
    people, room_id = team
    async with http_client(server) as client:
        root = await _post(client, people["alice"], room_id, "deploy at 5?")
        reply = await _post(client, people["bob"], room_id, "ask @carol", ThreadID=root)
        alice, bob, carol, dave = [
            await _followed(client, people[name]) for name in ("alice", "bob", "carol", "dave")
        ]
    assert _counts(alice[root]) == (1, 0) and alice[root]["ReadID"] == root
    assert _counts(bob[root]) == (0, 0) and bob[root]["ReadID"] == reply
    assert _counts(carol[root]) == (1, 1)
    assert dave == {}
    assert alice[root]["RoomID"] == room_id and alice[root]["LastReplyID"] == reply


async def test_reading_moves_the_marker_forward_only(
    server: Server, team: tuple[dict[str, Account], int]
) -> None:
    people, room_id = team
    alice = people["alice"]
    async with http_client(server) as client:
        root = await _post(client, alice, room_id, "root")
        first = await _post(client, people["bob"], room_id, "one", ThreadID=root)
        second = await _post(client, people["bob"], room_id, "two", ThreadID=root)
        read = await client.put(
            f"/threads/{root}/read", headers=alice.auth, json={"MessageID": second}
        )
        back = await client.put(
            f"/threads/{root}/read", headers=alice.auth, json={"MessageID": first}
        )
        after = await _followed(client, alice)
    assert read.json() == {"ThreadID": root, "MessageID": second}
    assert back.status_code == 200 and back.json()["MessageID"] == second
    assert _counts(after[root]) == (0, 0)


async def test_unfollowing_lasts_through_mentions_until_one_replies(
    server: Server, team: tuple[dict[str, Account], int]
) -> None:
    people, room_id = team
    carol = people["carol"]
    async with http_client(server) as client:
        root = await _post(client, people["alice"], room_id, "root")
        await _post(client, people["bob"], room_id, "@carol?", ThreadID=root)
        gone = await client.delete(f"/threads/{root}/follow", headers=carol.auth)
        await _post(client, people["bob"], room_id, "@carol!", ThreadID=root)
        unfollowed = await _followed(client, carol)
        await _post(client, carol, room_id, "here", ThreadID=root)
        replied = await _followed(client, carol)
    assert gone.json() == {"ThreadID": root, "RoomID": room_id, "Following": False}
    assert unfollowed == {}
    assert _counts(replied[root]) == (0, 0)


async def test_get_follow_says_whether_the_caller_follows_any_thread_it_may_read(
    server: Server, team: tuple[dict[str, Account], int]
) -> None:
    people, room_id = team
    carol, eve = people["carol"], people["eve"]

    async def state(who: Account, thread: int) -> Any:
        answer = await client.get(f"/threads/{thread}/follow", headers=who.auth)
        return answer.json()["Following"] if answer.status_code == 200 else answer.status_code

    async with http_client(server) as client:
        root = await _post(client, people["alice"], room_id, "root")
        seen = [await state(carol, root)]
        await _post(client, people["bob"], room_id, "@carol?", ThreadID=root)
        seen.append(await state(carol, root))
        await client.delete(f"/threads/{root}/follow", headers=carol.auth)
        seen.append(await state(carol, root))
        await client.put(f"/threads/{root}/follow", headers=carol.auth)
        seen.append(await state(carol, root))
        shape = (await client.get(f"/threads/{root}/follow", headers=carol.auth)).json()
        refused = [await state(eve, root), await state(carol, 10**9)]
    assert seen == [False, True, False, True]
    assert shape == {"ThreadID": root, "RoomID": room_id, "Following": True}
    assert refused == [404, 404]


async def test_following_a_thread_counts_the_replies_after_its_newest_message(
    server: Server, team: tuple[dict[str, Account], int]
) -> None:
    people, room_id = team
    dave = people["dave"]
    async with http_client(server) as client:
        root = await _post(client, people["alice"], room_id, "root")
        await _post(client, people["bob"], room_id, "before", ThreadID=root)
        followed = await client.put(f"/threads/{root}/follow", headers=dave.auth)
        await _post(client, people["bob"], room_id, "after", ThreadID=root)
        after = await _followed(client, dave)
    assert followed.json() == {"ThreadID": root, "RoomID": room_id, "Following": True}
    assert _counts(after[root]) == (1, 0)


async def test_deleted_replies_and_ones_own_are_not_unread(
    server: Server, team: tuple[dict[str, Account], int]
) -> None:
    people, room_id = team
    alice, bob = people["alice"], people["bob"]
    async with http_client(server) as client:
        root = await _post(client, alice, room_id, "root")
        taken_back = await _post(client, bob, room_id, "oops", ThreadID=root)
        await _post(client, bob, room_id, "kept", ThreadID=root)
        await _post(client, alice, room_id, "mine", ThreadID=root)
        deleted = await client.delete(f"/messages/{room_id}/{taken_back}", headers=bob.auth)
        assert deleted.status_code in (200, 204), deleted.text
        after = await _followed(client, alice)
    # Alice's own reply moved her marker past both of Bob's.
    assert _counts(after[root]) == (0, 0)
    async with http_client(server) as client:
        await client.put(f"/threads/{root}/read", headers=alice.auth, json={"MessageID": root})
        carols = await client.put(f"/threads/{root}/follow", headers=people["carol"].auth)
        assert carols.status_code == 200
        await _post(client, bob, room_id, "new", ThreadID=root)
        again = await _followed(client, people["carol"])
    assert _counts(again[root]) == (1, 0)


async def test_a_room_left_takes_its_threads_off_the_list(
    server: Server, team: tuple[dict[str, Account], int]
) -> None:
    people, room_id = team
    bob = people["bob"]
    async with http_client(server) as client:
        root = await _post(client, people["alice"], room_id, "root")
        await _post(client, bob, room_id, "reply", ThreadID=root)
        before = await _followed(client, bob)
        left = await client.delete(f"/room/{room_id}/members/me", headers=bob.auth)
        assert left.status_code in (200, 204), left.text
        after = await _followed(client, bob)
    assert root in before and after == {}


async def test_threads_are_listed_by_last_activity(
    server: Server, team: tuple[dict[str, Account], int]
) -> None:
    people, room_id = team
    alice, bob = people["alice"], people["bob"]
    async with http_client(server) as client:
        older = await _post(client, alice, room_id, "first")
        newer = await _post(client, alice, room_id, "second")
        await _post(client, bob, room_id, "on the second", ThreadID=newer)
        await _post(client, bob, room_id, "on the first", ThreadID=older)
        await client.put(f"/threads/{newer}/follow", headers=alice.auth)
        answer = await client.get("/threads/unread?limit=1", headers=alice.auth)
    assert [row["ThreadID"] for row in answer.json()] == [older]


async def test_a_thread_the_caller_may_not_read_is_not_found(
    server: Server, team: tuple[dict[str, Account], int]
) -> None:
    people, room_id = team
    alice, eve = people["alice"], people["eve"]
    async with http_client(server) as client:
        root = await _post(client, alice, room_id, "root")
        reply = await _post(client, people["bob"], room_id, "reply", ThreadID=root)
        other = await _post(client, alice, room_id, "another root")
        answers = [
            await client.put(f"/threads/{root}/follow", headers=eve.auth),
            await client.put(f"/threads/{reply}/follow", headers=alice.auth),
            await client.put(f"/threads/{10**9}/follow", headers=alice.auth),
            await client.put(
                f"/threads/{root}/read", headers=alice.auth, json={"MessageID": other}
            ),
        ]
        bad = [
            await client.get("/threads/unread?limit=0", headers=alice.auth),
            await client.put(f"/threads/{root}/read", headers=alice.auth, json={}),
        ]
    assert [answer.status_code for answer in answers] == [404] * 4
    assert "no thread" in answers[0].json()["error"]
    assert [answer.status_code for answer in bad] == [400, 400]


async def test_an_erased_account_follows_nothing(
    config: Config, server: Server, team: tuple[dict[str, Account], int]
) -> None:
    people, room_id = team
    bob = people["bob"]
    async with http_client(server) as client:
        root = await _post(client, people["alice"], room_id, "root")
        await _post(client, bob, room_id, "reply", ThreadID=root)
    sql = f"SELECT thread_id FROM thread_follows WHERE user_id = {bob.uid}"
    assert await select_rows(config, sql) == [(root,)]
    assert (await erase(server, bob, PASSWORD)).status_code == 200
    assert await select_rows(config, sql) == []


async def test_an_operator_lists_the_support_threads_they_follow_and_no_one_else_does(
    server: Server,
) -> None:
    # Operators read every support thread without being members of its room.
    alice, eve, op = (
        await account(server, "alice"),
        await account(server, "eve"),
        await operator(server),
    )
    async with open_store(server.config) as store:
        support_room = await store.support_room(alice.uid, create=True)
    assert support_room is not None
    async with http_client(server) as client:
        root = await _post(client, alice, support_room.id, "my export fails")
        answered = await _post(client, op, support_room.id, "which file?", ThreadID=root)
        await _post(client, alice, support_room.id, "the big one", ThreadID=root)
        listed = await _followed(client, op)
        outsider = await client.put(f"/threads/{root}/follow", headers=eve.auth)
        listed_to_eve = await _followed(client, eve)
    assert listed[root]["RoomID"] == support_room.id
    assert (_counts(listed[root]), listed[root]["ReadID"]) == ((1, 0), answered)
    assert outsider.status_code == 404
    assert listed_to_eve == {}
