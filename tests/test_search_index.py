"""The search index and the messages it does not hold yet, at the
store: SQLite indexes new messages in batches (`Search.index_new_messages`), and a search
finds a message whether or not its batch has been indexed, by its present text, once;
edits and deletions before and after indexing leave the index exact (FTS5's own
integrity check agrees). PostgreSQL's index follows every insert: the same behaviours
hold with nothing to index."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from support import add_message, execute_sql

from chat.core.config import Config
from chat.core.records import Message, SearchFilter
from chat.store import Store, open_store


def _accept(message: Message | None) -> None:
    assert message is not None


@pytest.fixture
async def store(config: Config) -> AsyncIterator[Store]:
    async with open_store(config) as opened:
        yield opened


async def found(store: Store, user_id: int, *words: str) -> list[str]:
    search = SearchFilter(user_id=user_id, admin=False, words=words, limit=100)
    return [m.body for m in await store.search_messages(search)]


async def index_all(store: Store) -> None:
    while await store.index_new_messages(1000) == 1000:
        pass


async def check_index(config: Config) -> None:
    """FTS5's integrity check of the index against the messages (SQLite): it raises if
    they disagree in any term."""
    if not config.is_postgres:
        await execute_sql(
            config,
            "INSERT INTO message_search (message_search, rank) VALUES ('integrity-check', 1)",
        )


async def test_a_message_is_found_before_and_after_it_is_indexed(
    store: Store, config: Config
) -> None:
    alice = await store.create_user("alice", "hash")
    await add_message(store, store.lobby_id, alice.id, "the fresh batch")
    assert await found(store, alice.id, "fresh") == ["the fresh batch"]
    await index_all(store)
    assert await found(store, alice.id, "fresh") == ["the fresh batch"]
    await check_index(config)


async def test_indexed_and_new_messages_come_newest_first_once_each(store: Store) -> None:
    alice = await store.create_user("alice", "hash")
    for n in range(3):
        await add_message(store, store.lobby_id, alice.id, f"release {n}")
    await index_all(store)
    for n in range(3, 6):
        await add_message(store, store.lobby_id, alice.id, f"release {n}")
    assert await found(store, alice.id, "release") == [f"release {n}" for n in range(5, -1, -1)]
    search = SearchFilter(user_id=alice.id, admin=False, words=("release",), limit=4)
    assert [m.body for m in await store.search_messages(search)] == [
        f"release {n}" for n in (5, 4, 3, 2)
    ]


async def test_new_messages_are_indexed_a_batch_at_a_time(store: Store, config: Config) -> None:
    alice = await store.create_user("alice", "hash")
    for n in range(5):
        await add_message(store, store.lobby_id, alice.id, f"batch {n}")
    indexed = [await store.index_new_messages(2) for _ in range(4)]
    if config.is_postgres:
        assert indexed == [0, 0, 0, 0]
    else:
        assert indexed == [2, 2, 1, 0]
    await check_index(config)


@pytest.mark.parametrize("indexed_first", [False, True], ids=["new", "indexed"])
async def test_an_edit_is_found_by_its_new_text_only(
    store: Store, config: Config, indexed_first: bool
) -> None:
    alice = await store.create_user("alice", "hash")
    message = await add_message(store, store.lobby_id, alice.id, "meeting on tuesday")
    if indexed_first:
        await index_all(store)
    await store.edit_message(store.lobby_id, message.id, "meeting on thursday", _accept)
    await index_all(store)
    assert await found(store, alice.id, "tuesday") == []
    assert await found(store, alice.id, "thursday") == ["meeting on thursday"]
    await check_index(config)


@pytest.mark.parametrize("indexed_first", [False, True], ids=["new", "indexed"])
async def test_a_deleted_message_is_not_found(
    store: Store, config: Config, indexed_first: bool
) -> None:
    alice = await store.create_user("alice", "hash")
    message = await add_message(store, store.lobby_id, alice.id, "secret token")
    if indexed_first:
        await index_all(store)
    await store.delete_message(store.lobby_id, message.id, _accept)
    assert await found(store, alice.id, "secret") == []
    await index_all(store)
    assert await found(store, alice.id, "secret") == []
    await check_index(config)


async def test_messages_removed_with_their_sender_leave_the_index_exact(
    store: Store, config: Config
) -> None:
    alice = await store.create_user("alice", "hash")
    bob = await store.create_user("bob", "hash")
    await add_message(store, store.lobby_id, bob.id, "bob was here")
    await index_all(store)
    await add_message(store, store.lobby_id, bob.id, "bob again")
    await execute_sql(config, f"DELETE FROM messages WHERE sender_id = {bob.id}")
    await index_all(store)
    assert await found(store, alice.id, "bob") == []
    await check_index(config)


async def skip_ids(config: Config, count: int) -> None:
    """Move the message id sequence on by `count`, as a busy chat's other rooms do."""
    if config.is_postgres:
        sql = (
            f"SELECT setval('messages_id_seq', (SELECT last_value FROM messages_id_seq) + {count})"
        )
    else:
        sql = f"UPDATE sqlite_sequence SET seq = seq + {count} WHERE name = 'messages'"
    await execute_sql(config, sql)


async def test_matches_far_apart_are_all_found_newest_first(store: Store, config: Config) -> None:
    # PostgreSQL looks in widening windows of ids: matches in the first, a later and
    # the last of them, and none in between.
    alice = await store.create_user("alice", "hash")
    sent = []
    for gap in (0, 30_000, 2_000_000):
        await skip_ids(config, gap)
        sent.append(await add_message(store, store.lobby_id, alice.id, f"far apart {gap}"))
    await index_all(store)
    newest_first = [m.id for m in reversed(sent)]
    search = SearchFilter(user_id=alice.id, admin=False, words=("apart",), limit=2)
    assert [m.id for m in await store.search_messages(search)] == newest_first[:2]
    older = SearchFilter(user_id=alice.id, admin=False, words=("apart",), before_id=newest_first[1])
    assert [m.id for m in await store.search_messages(older)] == newest_first[2:]
    everything = SearchFilter(user_id=alice.id, admin=False, words=("apart",))
    assert [m.id for m in await store.search_messages(everything)] == newest_first
