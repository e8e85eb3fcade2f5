"""What one search may cost: a phrase that repeats one trigram against messages that
repeat it too (``"a"*190 + "c"`` against messages of ``("a"*150 + "c")*26``) is answered
within the search's time limit, or stopped at it with a clear 422; a search the database
stops leaves its connection usable; and searches in flight, however costly, leave the
database's other connections to everyone else, so another user's history does not wait
behind them."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio
from support import account, http_client, server_config, start_server

from chat.core.config import Config
from chat.core.records import NewMessage, OutgoingMessage, SearchFilter
from chat.store import Store, open_store
from chat.store.database import StatementTimeout

#: A message that repeats the trigram "aaa" 3,800 times, and a phrase that repeats it
#: too and is in none of them (150 "a"s at most run together in the message).
REPEATING = ("a" * 150 + "c") * 26
PHRASE = "a" * 190 + "c"
#: The time limit every search of the server runs under (`SearchFilter`'s default).
TIME_LIMIT_S = SearchFilter(user_id=0, admin=False, words=()).time_limit_s


async def fill(store: Store, count: int) -> None:
    """`count` messages of `REPEATING` in the lobby, indexed (SQLite's batches)."""
    filler = await store.create_user("filler", "hash")
    for _ in range(count // 500):
        await store.add_messages(
            [NewMessage(store.lobby_id, filler.id, OutgoingMessage(REPEATING))] * 500
        )
    while await store.index_new_messages(5000) == 5000:
        pass


@pytest.fixture
async def costly_config(tmp_path: Path, database_url: str | None) -> Config:
    """A database of 10,000 repeating messages (a phrase of `PHRASE` against them took
    28 s on SQLite and 4.5 s on PostgreSQL with no limit), served with four connections."""
    config = server_config(tmp_path, database_url, db_pool_size=4)
    async with open_store(config) as store:
        await fill(store, 10_000)
    return config


async def test_a_phrase_repeating_a_trigram_is_answered_within_the_time_limit(
    nursery: trio.Nursery, costly_config: Config
) -> None:
    """200 within the limit (and the request's own work), or the limit's 422."""
    server = await start_server(nursery, costly_config)
    alice = await account(server, "alice")
    async with http_client(server) as client:
        started = trio.current_time()
        with trio.fail_after(30):
            answer = await client.get("/search", params={"q": PHRASE}, headers=alice.auth)
        elapsed = trio.current_time() - started
    if answer.status_code == 422:
        assert "took longer than 2 s and was stopped" in answer.json()["error"]
    else:
        assert answer.status_code == 200, answer.text
        assert answer.json() == []
        assert elapsed < TIME_LIMIT_S + 1, f"answered after {elapsed:.1f} s"


async def test_costly_searches_leave_other_users_history_to_its_connections(
    nursery: trio.Nursery, costly_config: Config
) -> None:
    """Twelve costly searches from six users at once, on a pool of four connections:
    at most two run (half the pool), so bob's GET /messages never waits for a
    connection (before, it waited for a search to finish: 28 s on SQLite, 4.5 s on
    PostgreSQL)."""
    server = await start_server(nursery, costly_config)
    users = [await account(server, f"searcher{n}") for n in range(6)]
    bob = await account(server, "bob")
    async with http_client(server) as client:
        lobby = int((await client.get("/rooms", headers=bob.auth)).json()[0])
    statuses: list[int] = []

    async def search(headers: dict[str, str]) -> None:
        async with http_client(server) as client:
            answer = await client.get("/search", params={"q": PHRASE}, headers=headers, timeout=60)
        statuses.append(answer.status_code)

    async with trio.open_nursery() as searches:
        for user in users * 2:
            searches.start_soon(search, user.auth)
        await trio.sleep(0.5)  # the searches have arrived, and taken what they may
        async with http_client(server) as client:
            started = trio.current_time()
            history = await client.get(f"/messages/{lobby}", headers=bob.auth)
            waited = trio.current_time() - started
    assert history.status_code == 200, history.text
    assert waited < TIME_LIMIT_S, f"bob waited {waited:.1f} s behind the searches"
    # Each search was answered, found nothing or was stopped at its limit, or was
    # turned away at once (the queue's bound, 503): none failed.
    assert set(statuses) <= {200, 422, 503}, statuses


async def test_a_search_stopped_at_its_time_limit_leaves_its_connection_usable(
    tmp_path: Path, database_url: str | None
) -> None:
    """On a pool of one connection: the stopped search raises `StatementTimeout`; then
    the same connection searches, writes and reads with no limit left on it."""
    config = server_config(tmp_path, database_url, db_pool_size=1)
    async with open_store(config) as store:
        await fill(store, 2000)
        alice = await store.create_user("alice", "hash")
        stopped = SearchFilter(alice.id, admin=False, words=(PHRASE,), time_limit_s=0)
        with pytest.raises(StatementTimeout):
            await store.search_messages(stopped)
        found = await store.search_messages(
            SearchFilter(alice.id, admin=False, words=("aaac",), limit=3)
        )
        assert [message.body for message in found] == [REPEATING] * 3
        bob = await store.create_user("bob", "hash")
        user = await store.user_by_id(bob.id)
        assert user is not None and user.name == "bob"
