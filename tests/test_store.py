"""The storage interface: both backends, the same behaviour."""

from __future__ import annotations

import secrets
import sqlite3
from datetime import UTC, datetime, timedelta

import pytest
import trio
from support import STEP, add_message, pg_query, pg_session, wait_for_a_waiter_on_the_id_lock

from chat.core.config import Config
from chat.core.errors import EmailTaken, Gone, NameTaken, RoomNameTaken
from chat.core.outgoing import OutgoingMessage
from chat.core.records import Message, NewMessage, Room, User
from chat.core.session_records import TokenState
from chat.store import Store, open_store
from chat.store.migrations import load_migrations


async def test_a_new_database_has_exactly_one_lobby(config: Config) -> None:
    async with open_store(config) as store:
        assert isinstance(store.lobby_id, int)
        assert await store.latest_messages(store.lobby_id, 10) == []


async def test_users_are_found_by_name_and_by_id(config: Config) -> None:
    async with open_store(config) as store:
        created = await store.create_user("alice", "hash", email="a@example.com", is_admin=True)
        assert await store.user_by_name("alice") == created
        assert await store.user_by_id(created.id) == created
        assert created.is_admin and created.email == "a@example.com"
        assert await store.user_by_name("Alice") is None  # names are case-sensitive
        assert await store.user_by_id(created.id + 1000) is None


async def test_a_duplicate_name_raises_name_taken(config: Config) -> None:
    async with open_store(config) as store:
        await store.create_user("alice", "hash")
        with pytest.raises(NameTaken):
            await store.create_user("alice", "other")


async def test_a_name_sharing_a_key_raises_name_taken_naming_the_holder(config: Config) -> None:
    async with open_store(config) as store:
        await store.create_user("alice", "hash")
        bob = await store.create_user("bob", "hash")
        with pytest.raises(NameTaken, match="'Alice' is already taken: it looks like 'alice'"):
            await store.create_user("Alice", "hash")
        with pytest.raises(NameTaken, match="'aIice' is already taken: it looks like 'alice'"):
            await store.rename_user(bob.id, "aIice")


async def test_a_user_is_found_by_a_name_that_differs_only_in_case(config: Config) -> None:
    async with open_store(config) as store:
        alice = await store.create_user("alice", "hash")
        assert await store.user_like_name("ALICE") == alice
        assert await store.user_like_name("alicia") is None


async def test_a_duplicate_email_raises_email_taken(config: Config) -> None:
    async with open_store(config) as store:
        await store.create_user("alice", "hash", email="same@example.com")
        with pytest.raises(EmailTaken):
            await store.create_user("bob", "hash", email="same@example.com")
        await store.create_user("carol", "hash")  # no e-mail at all is fine, repeatedly
        await store.create_user("dave", "hash")


async def test_latest_messages_are_the_newest_n_oldest_first(config: Config) -> None:
    async with open_store(config) as store:
        alice = await store.create_user("alice", "hash")
        bob = await store.create_user("bob", "hash")
        sent = [
            await add_message(store, store.lobby_id, (alice if i % 2 else bob).id, f"m{i}")
            for i in range(7)
        ]
        latest = await store.latest_messages(store.lobby_id, 3)
    assert [m.body for m in latest] == ["m4", "m5", "m6"]
    assert latest == sent[4:]
    assert [m.sender_name for m in latest] == ["bob", "alice", "bob"]
    assert sent[0].created_at <= sent[-1].created_at


async def test_a_message_from_an_unknown_user_is_refused_as_gone(config: Config) -> None:
    async with open_store(config) as store:
        with pytest.raises(Gone, match="no longer exists"):
            await add_message(store, store.lobby_id, 12345, "ghost")


@pytest.mark.unmigrated
async def test_reopening_applies_no_migration_twice(config: Config) -> None:
    backend = "sqlite" if config.database_url is None else "postgres"
    every_migration = [f"{m.version:04d}_{m.name}" for m in load_migrations(backend)]
    assert every_migration[:2] == ["0001_initial", "0002_direct_rooms"]
    async with open_store(config) as store:
        assert store.applied_migrations == every_migration
        await store.create_user("alice", "hash")
    async with open_store(config) as store:
        assert store.applied_migrations == []
        assert await store.user_by_name("alice") is not None


async def test_sqlite_runs_in_wal_mode_and_records_its_schema_version(tmp_path) -> None:
    config = Config(data_dir=tmp_path)
    async with open_store(config) as store:
        await store.ping()
    conn = sqlite3.connect(config.sqlite_path)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        versions = conn.execute("SELECT version FROM schema_version ORDER BY version").fetchall()
        assert versions == [(m.version,) for m in load_migrations("sqlite")]
    finally:
        conn.close()


async def test_a_cancelled_postgres_query_leaves_the_pool_usable(postgres_config: Config) -> None:
    config = postgres_config.replace(db_pool_size=2)
    # Marked, so that only this test's sleeps are counted (other suites may share the server).
    sleep = f"SELECT pg_sleep(30) -- {secrets.token_hex(8)}"
    async with open_store(config) as store:
        for _ in range(3):  # more cancellations than connections
            with trio.move_on_after(0.2) as scope:
                await store.db.fetchval(sleep)
            assert scope.cancelled_caught
        # Every pooled connection still answers, at once.
        with trio.fail_after(STEP):
            async with trio.open_nursery() as nursery:
                for _ in range(4):
                    nursery.start_soon(store.ping)
        # The sleeps were cancelled on the server rather than left running for 30 s. (A
        # cancel request is its own connection, so the server may take a moment.)
        with trio.fail_after(STEP):
            while await store.db.fetchval(  # noqa: ASYNC110 (polling another process)
                "SELECT count(*) FROM pg_stat_activity WHERE query = $1 AND state = 'active'",
                sleep,
            ):
                await trio.sleep(0.05)


async def test_postgres_callers_queue_fairly_behind_the_pool(postgres_config: Config) -> None:
    config = postgres_config.replace(db_pool_size=4)
    callers, rounds = 50, 5
    completed = 0
    done_at: list[int] = []  # how many queries had completed when each caller finished
    async with open_store(config) as store:

        async def caller() -> None:
            nonlocal completed
            for _ in range(rounds):
                await store.ping()
                completed += 1
            done_at.append(completed)

        with trio.fail_after(STEP):
            async with trio.open_nursery() as nursery:
                for _ in range(callers):
                    nursery.start_soon(caller)
    # First come, first served: every caller's query waits behind everyone's earlier
    # ones, so nobody finishes all its rounds before the others are well into their
    # last round. (asyncpg's pool alone lets some callers finish before most started.)
    # The pool's width of queries runs at once, so allow that much overlap.
    slack = 2 * config.db_pool_size
    assert min(done_at) >= (rounds - 1) * callers - slack, sorted(done_at)[:5]


async def test_renaming_keeps_names_unique(config: Config) -> None:
    async with open_store(config) as store:
        alice = await store.create_user("alice", "hash", email="alice@example.com")
        await store.create_user("bob", "hash")
        renamed = await store.rename_user(alice.id, "alicia")
        assert (renamed.id, renamed.name) == (alice.id, "alicia")
        assert await store.user_by_email("alice@example.com") == renamed
        with pytest.raises(NameTaken):
            await store.rename_user(alice.id, "bob")


async def test_a_new_user_has_token_version_0(config: Config) -> None:
    async with open_store(config) as store:
        alice = await store.create_user("alice", "hash")
        assert alice.token_version == 0
        assert await store.user_by_id(alice.id) == alice


async def test_changing_the_password_replaces_the_hash_and_raises_the_token_version(
    config: Config,
) -> None:
    async with open_store(config) as store:
        alice = await store.create_user("alice", "old-hash")
        changed = await store.change_password(alice.id, "old-hash", "new-hash")
        assert changed is not None
        assert (changed.password_hash, changed.token_version) == ("new-hash", 1)
        assert await store.user_by_id(alice.id) == changed


async def test_a_password_change_from_a_hash_that_is_no_longer_current_changes_nothing(
    config: Config,
) -> None:
    async with open_store(config) as store:
        alice = await store.create_user("alice", "old-hash")
        await store.change_password(alice.id, "old-hash", "first-hash")
        assert await store.change_password(alice.id, "old-hash", "second-hash") is None
        assert await store.change_password(alice.id + 1000, "old-hash", "hash") is None
        current = await store.user_by_id(alice.id)
        assert current is not None
        assert (current.password_hash, current.token_version) == ("first-hash", 1)


async def test_revoking_tokens_raises_the_token_version_each_time(config: Config) -> None:
    async with open_store(config) as store:
        alice = await store.create_user("alice", "hash")
        assert await store.revoke_tokens(alice.id) == 1
        assert await store.revoke_tokens(alice.id) == 2
        stored = await store.user_by_id(alice.id)
        assert stored is not None and stored.token_version == 2
        with pytest.raises(Gone):
            await store.revoke_tokens(alice.id + 1000)


async def test_token_states_read_many_users_at_once_and_leave_out_missing_ones(
    config: Config,
) -> None:
    async with open_store(config) as store:
        alice = await store.create_user("alice", "hash")
        bob = await store.create_user("bob", "hash")
        await store.revoke_tokens(bob.id)
        # Far more ids than SQLite takes parameters in one statement (999 in old builds).
        missing = range(bob.id + 1, bob.id + 5000)
        states = await store.token_states([alice.id, bob.id, *missing])
        assert states == {alice.id: TokenState(0, True), bob.id: TokenState(1, True)}
        assert await store.token_states([]) == {}


async def test_a_new_room_has_its_creator_as_its_only_member(config: Config) -> None:
    async with open_store(config) as store:
        owner = await store.create_user("owner", "hash")
        other = await store.create_user("other", "hash")
        room = await store.create_room("general", is_private=True, creator_id=owner.id)
        assert (room.name, room.kind, room.is_private, room.creator_id) == (
            "general",
            "group",
            True,
            owner.id,
        )
        assert await store.room_by_id(room.id) == room
        assert await store.is_member(room.id, owner.id)
        assert not await store.is_member(room.id, other.id)
        with pytest.raises(RoomNameTaken):
            await store.create_room("general", is_private=False, creator_id=other.id)
            await store.create_room("general", is_private=False, creator_id=owner.id)


async def owner_other_room_and_dm(store: Store) -> tuple[User, User, Room, Room]:
    """Two users, a private room of the first's, and their direct conversation."""
    owner = await store.create_user("owner", "hash")
    other = await store.create_user("other", "hash")
    room = await store.create_room("general", is_private=True, creator_id=owner.id)
    dm = await store.direct_room(owner.id, other.id, create=True)
    assert dm is not None
    return owner, other, room, dm


async def test_a_room_and_a_users_membership_are_read_together(config: Config) -> None:
    async with open_store(config) as store:
        owner, other, room, dm = await owner_other_room_and_dm(store)
        assert await store.room_for_member(room.id, owner.id) == (room, True)
        assert await store.room_for_member(room.id, other.id) == (room, False)
        assert await store.room_for_member(dm.id, other.id) == (dm, True)
        assert await store.room_for_member(room.id + dm.id + 1000, owner.id) == (None, False)


async def test_many_rooms_and_memberships_are_read_in_one_call(config: Config) -> None:
    async with open_store(config) as store:
        owner, other, room, dm = await owner_other_room_and_dm(store)
        missing = room.id + dm.id + 1000
        pairs = [(room.id, owner.id), (room.id, other.id), (dm.id, other.id), (missing, owner.id)]
        found = await store.rooms_for_members(pairs)
        # The same answers as one read each; a room that does not exist is left out.
        assert found == {
            (room.id, owner.id): (room, True),
            (room.id, other.id): (room, False),
            (dm.id, other.id): (dm, True),
        }
        assert await store.rooms_for_members([]) == {}


async def test_many_users_and_their_rooms_are_read_in_one_call(config: Config) -> None:
    async with open_store(config) as store:
        alice = await store.create_user("alice", "hash")
        bob = await store.create_user("bob", "hash")
        loner = await store.create_user("loner", "hash")
        gone = await store.create_user("gone", "hash")
        held = datetime.now(UTC) + timedelta(days=30)
        await store.erase_account(
            gone.id, name_key="gone", look_key="gone", held_until=held, password_hash="-"
        )
        first = await store.create_room("a", is_private=False, creator_id=alice.id)
        second = await store.create_room("b", is_private=False, creator_id=bob.id)
        await store.add_member(first.id, bob.id)
        unknown = loner.id + 1000
        # Unknown and erased users are left out; a user asked for twice is there once.
        assert await store.users_by_ids([bob.id, alice.id, unknown, gone.id, bob.id]) == {
            alice.id: alice,
            bob.id: bob,
        }
        assert await store.users_by_ids([]) == {}
        assert await store.rooms_of_users([alice.id, bob.id, loner.id, unknown]) == {
            alice.id: [first.id],
            bob.id: [first.id, second.id],
        }


async def test_a_private_room_s_name_never_collides(config: Config) -> None:
    async with open_store(config) as store:
        owner = await store.create_user("owner", "hash")
        other = await store.create_user("other", "hash")
        private = await store.create_room("release", is_private=True, creator_id=owner.id)
        public = await store.create_room("release", is_private=False, creator_id=other.id)
        again = await store.create_room("release", is_private=True, creator_id=other.id)
        assert len({private.id, public.id, again.id}) == 3


async def test_adding_a_member_twice_is_harmless(config: Config) -> None:
    async with open_store(config) as store:
        owner = await store.create_user("owner", "hash")
        guest = await store.create_user("guest", "hash")
        first = await store.create_room("a", is_private=False, creator_id=owner.id)
        second = await store.create_room("b", is_private=False, creator_id=owner.id)
        for room in (second, first, first):
            await store.add_member(room.id, guest.id)
        assert await store.rooms_of(guest.id) == [first.id, second.id]


async def test_a_message_is_of_its_own_room_only(config: Config) -> None:
    async with open_store(config) as store:
        alice = await store.create_user("alice", "hash")
        room = await store.create_room("here", is_private=False, creator_id=alice.id)
        message = await add_message(store, room.id, alice.id, "hi")
        assert await store.thread_root(room.id, message.id) == message.id
        assert await store.thread_root(store.lobby_id, message.id) is None
        assert await store.thread_root(room.id, message.id + 1) is None


async def test_room_members_come_a_page_at_a_time_by_uid(config: Config) -> None:
    async with open_store(config) as store:
        users = [await store.create_user(f"user{i}", "hash") for i in range(5)]
        room = await store.create_room("crowd", is_private=False, creator_id=users[0].id)
        elsewhere = await store.create_room("other", is_private=False, creator_id=users[1].id)
        for user in reversed(users[1:]):
            await store.add_member(room.id, user.id)
        every = [(user.id, user.name, "owner" if user is users[0] else "member") for user in users]
        first = await store.room_members(room.id, after=0, limit=3)
        rest = await store.room_members(room.id, after=first[-1][0], limit=3)
        assert (first, rest) == (every[:3], every[3:])
        assert await store.room_members(elsewhere.id, after=0, limit=10) == [
            (users[1].id, users[1].name, "owner")
        ]


async def test_a_pair_has_one_direct_room_even_when_created_concurrently(config: Config) -> None:
    async with open_store(config) as store:
        alice = await store.create_user("alice", "hash")
        bob = await store.create_user("bob", "hash")
        rooms = []

        async def get(a: int, b: int) -> None:
            rooms.append(await store.direct_room(a, b, create=True))

        async with trio.open_nursery() as nursery:
            for i in range(10):
                nursery.start_soon(get, *((alice.id, bob.id) if i % 2 else (bob.id, alice.id)))
        assert len({room.id for room in rooms}) == 1
        room = rooms[0]
        assert (room.kind, room.is_private, room.pair) == ("direct", True, (alice.id, bob.id))
        assert await store.is_member(room.id, alice.id) and await store.is_member(room.id, bob.id)
        assert await store.room_by_id(room.id) == room


async def test_a_direct_room_is_only_created_when_asked(config: Config) -> None:
    async with open_store(config) as store:
        alice = await store.create_user("alice", "hash")
        bob = await store.create_user("bob", "hash")
        assert await store.direct_room(alice.id, bob.id, create=False) is None
        assert await store.rooms_of(alice.id) == []  # (the lobby is not a membership)
        made = await store.direct_room(alice.id, bob.id, create=True)
        assert await store.direct_room(bob.id, alice.id, create=False) == made


async def test_pages_of_messages_go_back_from_an_id(config: Config) -> None:
    async with open_store(config) as store:
        alice = await store.create_user("alice", "hash")
        room = await store.create_room("r", is_private=False, creator_id=alice.id)
        other = await store.create_room("s", is_private=False, creator_id=alice.id)
        sent = [await add_message(store, room.id, alice.id, f"m{i}") for i in range(5)]
        await add_message(store, other.id, alice.id, "elsewhere")
        newest = await store.messages_before(room.id, None, 2)
        older = await store.messages_before(room.id, newest[-1].id, 10)
    assert [m.body for m in newest] == ["m4", "m3"]
    assert [m.body for m in older] == ["m2", "m1", "m0"]
    assert older[0] == sent[2]


async def test_a_user_has_one_support_thread_created_on_demand(config: Config) -> None:
    async with open_store(config) as store:
        user = await store.create_user("user", "hash")
        assert await store.support_room(user.id, create=False) is None
        rooms = []

        async def get() -> None:
            rooms.append(await store.support_room(user.id, create=True))

        async with trio.open_nursery() as nursery:
            for _ in range(6):
                nursery.start_soon(get)
        assert len({room.id for room in rooms}) == 1
        room = rooms[0]
        assert (room.kind, room.is_private, room.creator_id) == ("support", True, user.id)
        assert await store.support_room(user.id, create=False) == room
        assert await store.is_member(room.id, user.id)


async def test_waiting_support_threads_are_those_whose_user_spoke_last(config: Config) -> None:
    async with open_store(config) as store:
        op = await store.create_user("op", "hash", is_admin=True)
        alice = await store.create_user("alice", "hash")
        bob = await store.create_user("bob", "hash")
        carol = await store.create_user("carol", "hash")
        alice_room = await store.support_room(alice.id, create=True)
        bob_room = await store.support_room(bob.id, create=True)
        await store.support_room(carol.id, create=True)  # empty: not waiting
        await add_message(store, bob_room.id, bob.id, "bob asks")
        await add_message(store, alice_room.id, alice.id, "alice asks")
        await add_message(store, alice_room.id, op.id, "answered")
        await add_message(store, alice_room.id, alice.id, "alice again")
        await add_message(store, bob_room.id, op.id, "bob answered")
        waiting = await store.waiting_support_threads(10)
        assert [(w.room.id, w.user_name, w.last_message.body) for w in waiting] == [
            (alice_room.id, "alice", "alice again"),
        ]
        assert waiting[0].last_message.sender_id == alice.id


# --- what several instances and idempotent sends need ---


async def test_a_resent_client_msg_id_stores_nothing_and_returns_the_original(
    config: Config,
) -> None:
    async with open_store(config) as store:
        alice = await store.create_user("alice", "hash")
        (first,) = await store.add_messages(
            [NewMessage(store.lobby_id, alice.id, OutgoingMessage("hi", "c1"))]
        )
        (again,) = await store.add_messages(
            [NewMessage(store.lobby_id, alice.id, OutgoingMessage("hi!", "c1"))]
        )
        stored = await store.latest_messages(store.lobby_id, 10)
    assert first.new and not again.new
    assert again.message == first.message and first.message.client_msg_id == "c1"
    assert stored == [first.message]


async def test_a_resend_takes_no_position_so_the_stream_has_no_gap(config: Config) -> None:
    async with open_store(config) as store:
        alice = await store.create_user("alice", "hash")
        lobby = store.lobby_id
        (first,) = await store.add_messages(
            [NewMessage(lobby, alice.id, OutgoingMessage("hi", "c1"))]
        )
        await store.add_messages([NewMessage(lobby, alice.id, OutgoingMessage("hi", "c1"))])
        (after,) = await store.add_messages([NewMessage(lobby, alice.id, OutgoingMessage("next"))])
    assert after.message.id == first.message.id + 1


async def test_a_batch_may_hold_a_message_and_its_resend(config: Config) -> None:
    async with open_store(config) as store:
        alice = await store.create_user("alice", "hash")
        lobby = store.lobby_id
        added = await store.add_messages(
            [
                NewMessage(lobby, alice.id, OutgoingMessage("a", "same")),
                NewMessage(lobby, alice.id, OutgoingMessage("plain")),
                NewMessage(lobby, alice.id, OutgoingMessage("a", "same")),
                NewMessage(lobby, alice.id, OutgoingMessage("b", "other")),
            ]
        )
    assert [item.new for item in added] == [True, True, False, True]
    assert added[2].message == added[0].message
    ids = [item.message.id for item in added if item.new]
    assert ids == sorted(ids)


async def test_client_msg_ids_are_per_sender_and_per_room(config: Config) -> None:
    async with open_store(config) as store:
        alice = await store.create_user("alice", "hash")
        bob = await store.create_user("bob", "hash")
        room = await store.create_room("r", is_private=False, creator_id=alice.id)
        added = await store.add_messages(
            [
                NewMessage(store.lobby_id, alice.id, OutgoingMessage("x", "id")),
                NewMessage(store.lobby_id, bob.id, OutgoingMessage("x", "id")),
                NewMessage(room.id, alice.id, OutgoingMessage("x", "id")),
            ]
        )
    assert all(item.new for item in added)


async def test_committed_after_reads_every_rooms_messages_with_their_rooms(
    config: Config,
) -> None:
    async with open_store(config) as store:
        alice = await store.create_user("alice", "hash")
        bob = await store.create_user("bob", "hash")
        assert await store.last_position() == 0
        direct = await store.direct_room(alice.id, bob.id, create=True)
        assert direct is not None
        before = await add_message(store, store.lobby_id, alice.id, "before")
        rows = [
            NewMessage(store.lobby_id, alice.id, OutgoingMessage("in the lobby")),
            NewMessage(direct.id, bob.id, OutgoingMessage("direct")),
            NewMessage(store.lobby_id, bob.id, OutgoingMessage("lobby again")),
        ]
        added = [item.message for item in await store.add_messages(rows)]
        everything = await store.committed_after(before.id, limit=10)
        first_two = await store.committed_after(before.id, limit=2)
        bounded = await store.committed_after(before.id, before=added[2].id, limit=10)
        assert await store.last_position() == added[-1].id
    assert [message for message, _room in everything] == added
    assert [room.kind for _message, room in everything] == ["lobby", "direct", "lobby"]
    assert everything[1][1] == direct
    assert [message.body for message, _room in first_two] == ["in the lobby", "direct"]
    assert [message.body for message, _room in bounded] == ["in the lobby", "direct"]


async def test_a_page_may_stop_after_an_id(config: Config) -> None:
    async with open_store(config) as store:
        alice = await store.create_user("alice", "hash")
        sent = [await add_message(store, store.lobby_id, alice.id, f"m{i}") for i in range(6)]
        page = await store.messages_before(store.lobby_id, sent[5].id, 10, after_id=sent[1].id)
    assert page == sent[2:5][::-1]


async def test_postgres_ids_commit_in_id_order(postgres_config: Config) -> None:
    """A transaction that took message ids holds the id lock until it ends, so another
    insert waits for it and takes higher ids: ids commit in the order they were taken."""
    assert postgres_config.database_url is not None
    async with open_store(postgres_config) as store:
        alice = await store.create_user("alice", "hash")
        url = postgres_config.database_url
        async with pg_session(url) as execute, pg_query(url) as query:
            await execute("BEGIN")
            await execute(
                "INSERT INTO messages (room_id, sender_id, body)"
                f" VALUES ({store.lobby_id}, {alice.id}, 'first')"
            )
            async with trio.open_nursery() as nursery:
                later: list[Message] = []

                async def insert_later() -> None:
                    later.append(await add_message(store, store.lobby_id, alice.id, "second"))

                nursery.start_soon(insert_later)
                await wait_for_a_waiter_on_the_id_lock(query)
                assert later == []
                await execute("COMMIT")
        stored = await store.latest_messages(store.lobby_id, 10)
    assert [m.body for m in stored] == ["first", "second"]
    assert stored[0].id < stored[1].id
