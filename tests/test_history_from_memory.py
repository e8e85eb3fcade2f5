"""History from memory (chat/app/history/from_memory.py): whatever is done to a
room's messages (posts, edits, deletions, reactions, renames, erasures), an answer from
a room's window is the answer the table gives.

The table's answer comes from the same server: the first page of ``GET /messages`` is
answered from memory when the room's window holds it, while a page "before" an id past
every message (`PAST_EVERY_ID`) is always read from the table. The two are compared
once the instance has caught up (`_same_pages`: every commit reaches every instance a
moment after it is confirmed). The metrics show that memory did answer, so the
comparisons are not vacuous.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio
from cluster import open_cluster
from support import (
    PASSWORD,
    STEP,
    Account,
    Clients,
    JsonClient,
    Server,
    account,
    answer_past_early_frames,
    chat_environ,
    create_room,
    http_client,
    open_clients,
    postgres_url_or_skip,
    run_chat,
    server_config,
    start_server,
    throwaway_postgres_schema,
)
from test_metrics import scrape, value

from chat.app.history.from_memory import ERASURE_CHECK_S
from chat.core.config import Config

LOBBY = 1
#: An id above every message: a page before it is read from the table.
PAST_EVERY_ID = 2**53
EMOJI = "👍"


class Team:
    """Users acting at random on some rooms, each request through one of `servers`."""

    def __init__(self, servers: list[Server], users: list[Account], rooms: list[int], seed: int):
        self.servers = servers
        self.users = users
        self.rooms = rooms
        self.chooser = random.Random(seed)
        self.sent: list[tuple[int, int, Account]] = []  # (room, message id, author)
        self.erased: set[int] = set()
        self.renames = 0

    def _server(self) -> Server:
        return self.chooser.choice(self.servers)

    def _living(self) -> list[Account]:
        return [user for user in self.users if user.uid not in self.erased]

    async def act(self, client: httpx.AsyncClient) -> None:
        """One random action, confirmed by its answer."""
        roll = self.chooser.random()
        base = self._server().http
        mine = [(r, m, a) for r, m, a in self.sent if a.uid not in self.erased]
        if roll < 0.45 or not mine:
            user, room = self.chooser.choice(self._living()), self.chooser.choice(self.rooms)
            answer = await client.post(
                f"{base}/messages/{room}", headers=user.auth, json={"Text": f"m{len(self.sent)}"}
            )
            assert answer.status_code == 201, answer.text
            self.sent.append((room, answer.json()["MessageID"], user))
        elif roll < 0.6:
            room, message_id, author = self.chooser.choice(mine)
            answer = await client.patch(
                f"{base}/messages/{room}/{message_id}",
                headers=author.auth,
                json={"Text": f"edited {self.chooser.random():.6f}"},
            )
            assert answer.status_code in (200, 404), answer.text  # 404: a tombstone
        elif roll < 0.7:
            room, message_id, author = self.chooser.choice(mine)
            answer = await client.delete(
                f"{base}/messages/{room}/{message_id}", headers=author.auth
            )
            assert answer.status_code in (204, 404), answer.text
        elif roll < 0.9:
            room, message_id, _author = self.chooser.choice(self.sent)
            user = self.chooser.choice(self._living())
            url = f"{base}/messages/{room}/{message_id}/reactions/{EMOJI}"
            method = client.put if self.chooser.random() < 0.7 else client.delete
            answer = await method(url, headers=user.auth)
            assert answer.status_code in (200, 404), answer.text  # 404: a tombstone
        elif roll < 0.97:
            user = self.chooser.choice(self._living())
            self.renames += 1
            answer = await client.put(
                f"{base}/change-name",
                headers=user.auth,
                json={"NewName": f"{user.name[:8]}x{self.renames}"},
            )
            assert answer.status_code == 200, answer.text
        elif len(self._living()) > 2:
            user = self.chooser.choice(self._living())
            answer = await client.request(
                "DELETE", f"{base}/me", headers=user.auth, json={"Password": PASSWORD}
            )
            assert answer.status_code == 200, answer.text
            self.erased.add(user.uid)


async def _page(
    client: httpx.AsyncClient, server: Server, user: Account, room: int, **params: Any
) -> Any:
    answer = await client.get(f"{server.http}/messages/{room}", params=params, headers=user.auth)
    assert answer.status_code == 200, answer.text
    return answer.json()


async def _same_pages(
    client: httpx.AsyncClient, server: Server, user: Account, room: int, limit: int
) -> None:
    """The first page (from memory once the window is there) is the table's page, once
    the server has caught up: asked again until they agree, for at most `STEP` s."""
    with trio.move_on_after(STEP):
        while True:
            cached = await _page(client, server, user, room, limit=limit)
            table = await _page(client, server, user, room, limit=limit, last_id=PAST_EVERY_ID)
            if cached == table:
                return
            await trio.sleep(0.02)
    assert cached == table, f"room {room}, limit {limit} on {server.http}"


async def _play(team: Team, steps: int, reader: Account) -> None:
    async with http_client(team.servers[0]) as client:
        for _ in range(steps):
            await team.act(client)
            limit = team.chooser.randrange(1, 60)
            for server in team.servers:
                for room in team.rooms:
                    await _same_pages(client, server, reader, room, limit)


async def _memory_answered(server: Server) -> float:
    return value(
        await scrape(server), "chat_history_cache_answers_total", kind="page", source="memory"
    )


@pytest.mark.parametrize("seed", [1, 2])
async def test_first_pages_from_memory_are_the_tables_through_random_changes(
    server: Server, seed: int
) -> None:
    reader = await account(server, "reader")
    users = [await account(server, name) for name in ("alice", "bob", "carol", "dave")]
    room = await create_room(server, users[0], "team", reader, *users[1:])
    team = Team([server], users, [LOBBY, room], seed)
    await _play(team, 60, reader)
    assert await _memory_answered(server) > 0


def _pages_of(full: list[dict[str, Any]], kind: str, at: int, limit: int) -> list[dict[str, Any]]:
    """A page as the table answers it, cut from `full` (every message of the room,
    newest first): older than `at`, newer than `at`, or around `at` (docs/PROTOCOL.md)."""
    if kind == "last_id":
        return [m for m in full if m["MessageID"] < at][:limit]
    if kind == "after":
        return [m for m in full if m["MessageID"] > at][-limit:]
    through = [m for m in full if m["MessageID"] <= at][: limit // 2 + 1]
    newer = [m for m in full if m["MessageID"] > at]
    return [*newer[max(0, len(newer) - (limit - len(through))) :], *through]


async def _same_pages_anywhere(
    client: httpx.AsyncClient, server: Server, user: Account, room: int, chooser: random.Random
) -> None:
    """A page older than, newer than or around a message (or an id between messages),
    from memory once the window is there, is the table's, once the server has caught up:
    cut from the room's whole history, read from the table (fewer than 100 messages)."""
    kind = chooser.choice(["last_id", "after", "around"])
    limit = chooser.randrange(1, 30)
    full = await _page(client, server, user, room, limit=100, last_id=PAST_EVERY_ID)
    assert len(full) < 100, "the room's whole history must fit in one page"
    ids = [m["MessageID"] for m in full]
    at = chooser.choice([*ids, ids[0] + 1, max(1, ids[-1] - 1)] if ids else [1])
    with trio.move_on_after(STEP):
        while True:
            answer = await client.get(
                f"{server.http}/messages/{room}",
                params={kind: at, "limit": limit},
                headers=user.auth,
            )
            wanted = _pages_of(full, kind, at, limit)
            if kind == "around" and at not in ids:
                if answer.status_code == 404:
                    return
            elif answer.status_code == 200 and answer.json() == wanted:
                return
            await trio.sleep(0.02)
            full = await _page(client, server, user, room, limit=100, last_id=PAST_EVERY_ID)
            ids = [m["MessageID"] for m in full]
    if kind == "around" and at not in ids:  # no such message: the table says 404
        assert answer.status_code == 404, f"room {room}, around={at}: {answer.text}"
        return
    assert answer.status_code == 200, answer.text
    assert answer.json() == wanted, f"room {room}, {kind}={at}, limit {limit}"


@pytest.mark.parametrize("seed", [5, 6])
async def test_older_newer_and_around_pages_from_memory_are_the_tables(
    server: Server, seed: int
) -> None:
    reader = await account(server, "reader")
    users = [await account(server, name) for name in ("alice", "bob", "carol")]
    room = await create_room(server, users[0], "team", reader, *users[1:])
    team = Team([server], users, [LOBBY, room], seed)
    async with http_client(server) as client:
        for _ in range(60):
            await team.act(client)
            for each in team.rooms:
                for _ in range(2):
                    await _same_pages_anywhere(client, server, reader, each, team.chooser)
    samples = await scrape(server)
    for kind in ("older", "newer", "around"):
        answered = value(samples, "chat_history_cache_answers_total", kind=kind, source="memory")
        assert answered > 0, kind


async def _same_entered_pages(
    client: httpx.AsyncClient, ws: JsonClient, server: Server, user: Account, room: int, limit: int
) -> None:
    """The page an ``enter`` carries (from memory once the window is there) is the
    table's page, once the server has caught up: entered again until they agree."""
    enter = {"Type": "enter", "RoomID": room, "Page": limit, "Presence": False}
    with trio.move_on_after(STEP):
        while True:
            await ws.send(enter)
            frame = await ws.receive()
            while frame["Type"] != "entered":  # the live frames of the room left
                assert frame["Type"] != "error", frame
                frame = await ws.receive()
            entered = frame["Messages"]
            table = await _page(client, server, user, room, limit=limit, last_id=PAST_EVERY_ID)
            if entered == table:
                return
            await trio.sleep(0.02)
    assert entered == table, f"room {room}, limit {limit}"


@pytest.mark.parametrize("seed", [3, 4])
async def test_pages_entered_with_from_memory_are_the_tables_through_random_changes(
    nursery: trio.Nursery, config: Config, seed: int
) -> None:
    # Rate limits off: the reader enters a room (with its page) after every action.
    server = await start_server(nursery, config.replace(rate_limits=False))
    reader = await account(server, "reader")
    users = [await account(server, name) for name in ("alice", "bob", "carol")]
    room = await create_room(server, users[0], "team", reader, *users[1:])
    team = Team([server], users, [LOBBY, room], seed)
    async with open_clients(server) as clients, http_client(server) as client:
        ws = await clients.json("/ws", token=reader.token)
        for _ in range(50):
            await team.act(client)
            limit = team.chooser.randrange(1, 60)
            for each in team.rooms:
                await _same_entered_pages(client, ws, server, reader, each, limit)
    answered = value(
        await scrape(server), "chat_history_cache_answers_total", kind="enter", source="memory"
    )
    assert answered > 0


async def test_with_the_cache_off_every_page_is_read_from_the_table(
    nursery: trio.Nursery, config: Config
) -> None:
    server = await start_server(nursery, config.replace(history_cache_mb=0))
    reader = await account(server, "reader")
    async with http_client(server) as client:
        for n in range(3):
            url = f"{server.http}/messages/{LOBBY}"
            await client.post(url, headers=reader.auth, json={"Text": f"{n}"})
        await _same_pages(client, server, reader, LOBBY, 2)
    samples = await scrape(server)
    answers = "chat_history_cache_answers_total"
    assert value(samples, answers, kind="page", source="memory") == 0
    assert value(samples, answers, kind="page", source="table") > 0


async def test_a_talker_history_from_memory_skips_tombstones_as_the_table_does(
    server: Server,
) -> None:
    alice = await account(server, "alice")
    async with http_client(server) as client:
        ids = []
        for n in range(6):
            posted = await client.post(
                f"{server.http}/messages/{LOBBY}", headers=alice.auth, json={"Text": f"t{n}"}
            )
            ids.append(posted.json()["MessageID"])
        for gone in (ids[2], ids[4]):
            await client.delete(f"{server.http}/messages/{LOBBY}/{gone}", headers=alice.auth)
    async with open_clients(server) as clients:
        talker = await clients.talker(token=alice.token, name="alice")
        # The first may open the window, which then fills while the server answers from
        # the table (on a busy machine, for a few answers more): every answer is the
        # same, and one from memory comes within `STEP`.
        from_memory = 0.0
        with trio.fail_after(STEP):
            while not from_memory:
                await talker.say("history 3")
                frames = [await talker.receive() for _ in range(3)]
                assert [frame["message"] for frame in frames] == ["t1", "t3", "t5"]
                from_memory = value(
                    await scrape(server),
                    "chat_history_cache_answers_total",
                    kind="history",
                    source="memory",
                )


async def test_two_instances_answer_from_memory_what_the_table_holds(tmp_path: Path) -> None:
    postgres_url_or_skip()
    async with throwaway_postgres_schema() as url, open_cluster(tmp_path, url, 2) as instances:
        servers = [instance.server for instance in instances]
        reader = await account(servers[0], "reader")
        users = [await account(servers[n % 2], name) for n, name in enumerate(("ann", "ben", "cy"))]
        room = await create_room(servers[1], users[0], "team", reader, *users[1:])
        team = Team(servers, users, [LOBBY, room], seed=7)
        with trio.fail_after(120):
            await _play(team, 40, reader)
        for server in servers:
            assert await _memory_answered(server) > 0


async def _backlog(clients: Clients, user: Account, room: int, since: int) -> list[Any]:
    """What a resume from `since` sends after ``entered`` (the room is quiet meanwhile):
    every frame before the answer to a ``ping`` sent after it, which is handled once the
    enter is, backlog and all (a connection's frames are handled in order). A moment's
    silence as the end was not enough on a busy machine."""
    ws = await clients.json("/ws", token=user.token)
    entered = await answer_past_early_frames(
        ws, {"Type": "enter", "RoomID": room, "SinceID": since, "Presence": False}
    )
    assert entered["Type"] == "entered", entered
    await ws.ws.send_message("ping")
    frames = []
    with trio.fail_after(STEP):
        while (message := await ws.ws.get_message()) != "pong":
            frames.append(json.loads(message))
    await ws.ws.aclose()
    return frames


async def test_a_resume_from_memory_sends_what_one_from_the_table_sends(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    postgres_url_or_skip()
    async with throwaway_postgres_schema() as url:
        cached = await start_server(nursery, server_config(tmp_path / "a", url))
        table = await start_server(nursery, server_config(tmp_path / "b", url, history_cache_mb=0))
        reader = await account(cached, "reader")
        users = [await account(cached, name) for name in ("ann", "ben", "cy")]
        room = await create_room(cached, users[0], "team", reader, *users[1:])
        team = Team([cached], users, [room], seed=11)
        async with http_client(cached) as client:
            for _ in range(5):
                await team.act(client)
            # The window opens here: resumes from after this point can come from it.
            await _same_pages(client, cached, reader, room, 10)
            async with open_clients(cached) as on_cached, open_clients(table) as on_table:
                for _ in range(8):
                    for _ in range(5):
                        await team.act(client)
                    if len(team.sent) < 8:
                        continue
                    # Messages came after it, so the backlog is not empty.
                    since = team.chooser.choice(team.sent[5:-2])[1]
                    with trio.fail_after(STEP):
                        while True:
                            wanted = await _backlog(on_table, reader, room, since)
                            got = await _backlog(on_cached, reader, room, since)
                            if got == wanted:
                                break
                    assert wanted, "a resume with nothing to send proves nothing"
        answers = "chat_history_cache_answers_total"
        assert value(await scrape(cached), answers, kind="resume", source="memory") > 0


async def test_an_erasure_made_without_a_server_reaches_the_windows(
    server: Server, config: Config
) -> None:
    reader, leaving = await account(server, "reader"), await account(server, "leaving")
    async with http_client(server) as client:
        for n in range(3):
            url = f"{server.http}/messages/{LOBBY}"
            await client.post(url, headers=leaving.auth, json={"Text": f"from leaving {n}"})
        await _same_pages(client, server, reader, LOBBY, 5)  # the lobby's window is open
        names = {item["Username"] for item in await _page(client, server, reader, LOBBY)}
        assert "leaving" in names, names
        # `chat user delete` erases from a process of its own, with no bus to tell.
        erased = await run_chat(
            "user", "delete", "--erase", "--yes", "leaving", env=chat_environ(config)
        )
        assert erased.returncode == 0, erased.stderr
        with trio.fail_after(ERASURE_CHECK_S + STEP):
            # Polling the server: nothing in this process to wait on.
            while "leaving" in {  # noqa: ASYNC110
                item["Username"] for item in await _page(client, server, reader, LOBBY)
            }:
                await trio.sleep(0.1)
        await _same_pages(client, server, reader, LOBBY, 5)


async def test_a_rename_drops_the_windows_and_the_next_page_shows_the_new_name(
    server: Server,
) -> None:
    alice = await account(server, "alice")
    async with http_client(server) as client:
        url = f"{server.http}/messages/{LOBBY}"
        await client.post(url, headers=alice.auth, json={"Text": "before the rename"})
        await _same_pages(client, server, alice, LOBBY, 5)  # the lobby's window is open
        renamed = await client.put(
            f"{server.http}/change-name", headers=alice.auth, json={"NewName": "alicia"}
        )
        assert renamed.status_code == 200, renamed.text
        page = await _page(client, server, alice, LOBBY, limit=5)
    assert [item["Username"] for item in page] == ["alicia"]
    samples = await scrape(server)
    assert value(samples, "chat_history_cache_dropped_total", why="names") == 1
