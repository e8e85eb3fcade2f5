"""The store's messages on both backends, the same behaviour: reading a message and the
pages after one (`Changes`, `History`), search (`Search`), retention and its leases
(`Retention`), and how busy the connections are (`Operations`)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import trio
from support import STEP, add_message

from chat.core.config import Config
from chat.core.moderation_records import AuditEntry
from chat.core.records import Message, PoolUsage, Room, SearchFilter, User
from chat.store import Store, open_store


def _accept(message: Message | None) -> None:
    assert message is not None


def _audit(room: Room, actor: User) -> AuditEntry:
    return AuditEntry(room.id, "settings", actor.id, actor.name)


async def _alice_and_room(store: Store) -> tuple[User, Room]:
    alice = await store.create_user("alice", "hash")
    room = await store.create_room("room", is_private=True, creator_id=alice.id)
    return alice, room


# --- a message, and the pages after one ---


async def test_a_message_is_read_as_it_is_now_in_its_own_room_only(config: Config) -> None:
    async with open_store(config) as store:
        alice, room = await _alice_and_room(store)
        message = await add_message(store, room.id, alice.id, "hello")
        await store.edit_message(room.id, message.id, "hello!", _accept)
        now = await store.message_in_room(room.id, message.id)
        assert now is not None and (now.id, now.body) == (message.id, "hello!")
        assert now.edited_at is not None
        assert await store.message_in_room(store.lobby_id, message.id) is None
        assert await store.message_in_room(room.id, message.id + 1000) is None


async def test_a_deleted_message_is_read_as_its_tombstone(config: Config) -> None:
    async with open_store(config) as store:
        alice, room = await _alice_and_room(store)
        message = await add_message(store, room.id, alice.id, "oops")
        await store.delete_message(room.id, message.id, _accept)
        tombstone = await store.message_in_room(room.id, message.id)
    assert tombstone is not None
    assert (tombstone.id, tombstone.deleted, tombstone.body) == (message.id, True, "")


async def test_messages_after_an_id_are_the_oldest_of_them_newest_first(config: Config) -> None:
    async with open_store(config) as store:
        alice, room = await _alice_and_room(store)
        sent = [await add_message(store, room.id, alice.id, f"m{n}") for n in range(5)]
        await add_message(store, store.lobby_id, alice.id, "elsewhere")
        await store.delete_message(room.id, sent[2].id, _accept)
        page = await store.messages_after(room.id, sent[0].id, 3)
        rest = await store.messages_after(room.id, sent[3].id, 3)
        none = await store.messages_after(room.id, sent[4].id, 3)
    assert [(m.id, m.deleted) for m in page] == [
        (sent[3].id, False),
        (sent[2].id, True),  # tombstones included
        (sent[1].id, False),
    ]
    assert rest == [sent[4]] and none == []


# --- search ---


def _search(user: User, *words: str) -> SearchFilter:
    return SearchFilter(user_id=user.id, admin=user.is_admin, words=words)


async def test_search_finds_a_message_as_soon_as_it_is_stored(config: Config) -> None:
    async with open_store(config) as store:
        alice, room = await _alice_and_room(store)
        first = await add_message(store, room.id, alice.id, "The Quarterly report is late")
        await add_message(store, room.id, alice.id, "nothing to see")
        second = await add_message(store, store.lobby_id, alice.id, "quarterly numbers")
        found = await store.search_messages(_search(alice, "quarterly"))
        both = await store.search_messages(_search(alice, "quarterly", "report"))
        assert found == [second, first]
        assert both == [first]
        assert await store.index_new_messages(100) <= 100
        assert await store.search_messages(_search(alice, "quarterly")) == found


async def test_search_leaves_out_deleted_messages_and_unreadable_rooms(config: Config) -> None:
    async with open_store(config) as store:
        alice, room = await _alice_and_room(store)
        bob = await store.create_user("bob", "hash")
        op = await store.create_user("op", "hash", is_admin=True)
        support = await store.support_room(alice.id, create=True)
        assert support is not None
        private = await add_message(store, room.id, alice.id, "secret plans")
        deleted = await add_message(store, store.lobby_id, alice.id, "deleted plans")
        public = await add_message(store, store.lobby_id, alice.id, "public plans")
        asked = await add_message(store, support.id, alice.id, "support plans")
        await store.delete_message(store.lobby_id, deleted.id, _accept)
        assert await store.search_messages(_search(alice, "plans")) == [asked, public, private]
        assert await store.search_messages(_search(bob, "plans")) == [public]
        assert await store.search_messages(_search(op, "plans")) == [asked, public]
        await store.add_member(room.id, bob.id)
        assert await store.search_messages(_search(bob, "plans")) == [public, private]


async def test_search_narrows_by_room_sender_short_words_and_pages_back(config: Config) -> None:
    async with open_store(config) as store:
        alice, room = await _alice_and_room(store)
        bob = await store.create_user("bob", "hash")
        await store.add_member(room.id, bob.id)
        sent = [
            await add_message(store, room.id, alice.id, "deploy on Monday"),
            await add_message(store, room.id, bob.id, "deploy on Friday"),
            await add_message(store, store.lobby_id, alice.id, "deploy at 5"),
            await add_message(store, room.id, alice.id, "deploy it"),
        ]

        async def find(**narrower: Any) -> list[int]:
            search = SearchFilter(user_id=alice.id, admin=False, words=("deploy",), **narrower)
            return [message.id for message in await store.search_messages(search)]

        assert await find(room_id=room.id) == [sent[3].id, sent[1].id, sent[0].id]
        assert await find(sender_id=bob.id) == [sent[1].id]
        assert await find(short_words=("on",)) == [sent[1].id, sent[0].id]
        assert await find(before_id=sent[2].id, limit=1) == [sent[1].id]
        assert await find(limit=2) == [sent[3].id, sent[2].id]


async def test_search_of_words_nowhere_finds_nothing(config: Config) -> None:
    async with open_store(config) as store:
        alice, room = await _alice_and_room(store)
        await add_message(store, room.id, alice.id, "something else")
        assert await store.search_messages(_search(alice, "absent")) == []


async def test_indexing_catches_up_in_batches_then_answers_less_than_asked(
    config: Config,
) -> None:
    async with open_store(config) as store:
        alice, room = await _alice_and_room(store)
        for n in range(5):
            await add_message(store, room.id, alice.id, f"message {n}")
        batches = [await store.index_new_messages(2) for _ in range(4)]
    # SQLite indexes in the caller's batches; PostgreSQL's index follows every insert.
    expected = [2, 2, 1, 0] if config.database_url is None else [0, 0, 0, 0]
    assert batches == expected


# --- retention ---


async def test_retention_rooms_page_by_id_with_their_oldest_messages(config: Config) -> None:
    async with open_store(config) as store:
        alice, room = await _alice_and_room(store)
        empty = await store.create_room("empty", is_private=False, creator_id=alice.id)
        await store.update_room(room.id, {"retention_days": 7}, _audit(room, alice))
        oldest = await add_message(store, room.id, alice.id, "first")
        await add_message(store, room.id, alice.id, "second")
        (stored,) = await store.messages_before(room.id, oldest.id + 1, 1)
        every = await store.retention_rooms(after=0, limit=10, own_only=False)
        page = await store.retention_rooms(after=every[0].room_id, limit=1, own_only=False)
        own = await store.retention_rooms(after=0, limit=10, own_only=True)
    assert [(r.room_id, r.retention_days) for r in every] == [
        (store.lobby_id, None),
        (room.id, 7),
        (empty.id, None),
    ]
    assert [r.oldest for r in every] == [None, stored.created_at, None]
    assert page == every[1:2]
    assert own == every[1:2]


async def test_expired_messages_go_oldest_first_in_batches(config: Config) -> None:
    async with open_store(config) as store:
        alice, room = await _alice_and_room(store)
        sent = [await add_message(store, room.id, alice.id, f"m{n}") for n in range(5)]
        later = datetime.now(UTC) + timedelta(minutes=1)
        first = await store.delete_expired(room.id, later, limit=3)
        second = await store.delete_expired(room.id, later, limit=3)
        left = await store.latest_messages(room.id, 10)
    assert (first.deleted, first.files, first.done, first.last_id) == (3, 0, False, sent[2].id)
    assert (second.deleted, second.done, second.last_id) == (2, True, sent[4].id)
    assert left == []


async def test_messages_created_after_the_cutoff_are_kept(config: Config) -> None:
    async with open_store(config) as store:
        alice, room = await _alice_and_room(store)
        old = await add_message(store, room.id, alice.id, "old")
        # Enough for the two creation times to differ at any engine's resolution.
        await trio.sleep(0.05)
        new = await add_message(store, room.id, alice.id, "new")
        (stored_old, stored_new) = await store.latest_messages(room.id, 10)
        cutoff = stored_old.created_at + (stored_new.created_at - stored_old.created_at) / 2
        batch = await store.delete_expired(room.id, cutoff, limit=10)
        again = await store.delete_expired(room.id, cutoff, limit=10)
        assert await store.latest_messages(room.id, 10) == [new]
    assert (batch.deleted, batch.done, batch.last_id) == (1, True, old.id)
    assert (again.deleted, again.done, again.last_id) == (0, True, 0)


async def test_a_lease_is_held_until_it_expires_or_is_released(config: Config) -> None:
    async with open_store(config) as store:
        now = datetime.now(UTC)
        until = now + timedelta(minutes=1)
        assert await store.claim_lease("retention", "a", now=now, until=until)
        assert await store.claim_lease("retention", "a", now=now, until=until)  # renewed
        assert not await store.claim_lease("retention", "b", now=now, until=until)
        assert await store.claim_lease("other", "b", now=now, until=until)
        # Once it has expired, another holder takes it.
        assert await store.claim_lease("retention", "b", now=until, until=until + timedelta(1))
        assert not await store.claim_lease("retention", "a", now=until, until=until)


async def test_a_released_lease_is_free_at_once_but_only_its_holder_releases_it(
    config: Config,
) -> None:
    async with open_store(config) as store:
        now = datetime.now(UTC)
        until = now + timedelta(minutes=1)
        assert await store.claim_lease("retention", "a", now=now, until=until)
        await store.release_lease("retention", "b")  # not b's: nothing
        assert not await store.claim_lease("retention", "b", now=now, until=until)
        await store.release_lease("retention", "a")
        assert await store.claim_lease("retention", "b", now=now, until=until)


# --- running the database ---


async def test_an_idle_pool_has_every_connection_free(config: Config) -> None:
    async with open_store(config) as store:
        await store.ping()
        assert store.pool_usage() == PoolUsage(config.db_pool_size, 0, 0)


async def test_pool_usage_counts_callers_queued_for_a_connection(config: Config) -> None:
    async with open_store(config.replace(db_pool_size=1)) as store:
        seen: list[PoolUsage] = []
        with trio.fail_after(STEP):
            async with trio.open_nursery() as nursery:
                for _ in range(5):
                    nursery.start_soon(store.ping)
                while not seen or seen[-1].waiting == 0:
                    await trio.lowlevel.checkpoint()
                    seen.append(store.pool_usage())
        assert seen[-1].size == 1 and seen[-1].in_use == 1 and seen[-1].waiting >= 1
        assert store.pool_usage() == PoolUsage(1, 0, 0)
