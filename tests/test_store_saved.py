"""Saved messages in the store on both backends, the same behaviour (`Saved`): saving,
the list newest saved first and its pages, what drops out of it (a deletion, a removal,
a ban, retention), the bound per user, the export and the erasure."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import trio
from support import add_message

from chat.core.config import Config
from chat.core.moderation_records import AuditEntry
from chat.core.records import Message, Room, User
from chat.store import Store, open_store
from chat.store.saved_messages import Saving

MOST = 1000


def _accept(message: Message | None) -> None:
    assert message is not None


async def _page(store: Store, user_id: int, *, before: int | None = None) -> list[str]:
    saved = await store.saved_messages(user_id, admin=False, before=before, limit=10)
    return [item.message.body for item in saved]


async def test_saved_messages_are_listed_newest_saved_first_with_their_room(
    config: Config,
) -> None:
    async with open_store(config) as store:
        alice = await store.create_user("alice", "hash")
        room = await store.create_room("plans", is_private=False, creator_id=alice.id)
        first = await add_message(store, room.id, alice.id, "first")
        second = await add_message(store, store.lobby_id, alice.id, "second")
        assert await store.save_message(alice.id, second.id, admin=False, most=MOST) is Saving.SAVED
        assert await store.save_message(alice.id, first.id, admin=False, most=MOST) is Saving.SAVED
        saved = await store.saved_messages(alice.id, admin=False, before=None, limit=10)
    assert [item.message.id for item in saved] == [first.id, second.id]
    assert [(item.room_name, item.room_kind) for item in saved] == [
        ("plans", "group"),
        ("lobby", "lobby"),
    ]
    assert saved[0].message.sender_name == "alice"
    assert saved[0].saved_id > saved[1].saved_id
    assert abs(saved[0].saved_at - datetime.now(UTC)) < timedelta(minutes=1)


async def test_saving_twice_keeps_one_saving_and_its_first_time(config: Config) -> None:
    async with open_store(config) as store:
        alice = await store.create_user("alice", "hash")
        message = await add_message(store, store.lobby_id, alice.id, "hello")
        await store.save_message(alice.id, message.id, admin=False, most=MOST)
        (before,) = await store.saved_messages(alice.id, admin=False, before=None, limit=10)
        assert (
            await store.save_message(alice.id, message.id, admin=False, most=MOST) is Saving.SAVED
        )
        (after,) = await store.saved_messages(alice.id, admin=False, before=None, limit=10)
    assert after == before


async def test_the_list_is_paged_below_a_saved_id(config: Config) -> None:
    async with open_store(config) as store:
        alice = await store.create_user("alice", "hash")
        for text in ("a", "b", "c"):
            message = await add_message(store, store.lobby_id, alice.id, text)
            await store.save_message(alice.id, message.id, admin=False, most=MOST)
        first = await store.saved_messages(alice.id, admin=False, before=None, limit=2)
        rest = await _page(store, alice.id, before=first[-1].saved_id)
    assert [item.message.body for item in first] == ["c", "b"]
    assert rest == ["a"]


async def test_unsaving_takes_a_message_off_the_list(config: Config) -> None:
    async with open_store(config) as store:
        alice = await store.create_user("alice", "hash")
        kept = await add_message(store, store.lobby_id, alice.id, "kept")
        dropped = await add_message(store, store.lobby_id, alice.id, "dropped")
        for message in (kept, dropped):
            await store.save_message(alice.id, message.id, admin=False, most=MOST)
        assert await store.unsave_message(alice.id, dropped.id, admin=False)
        assert await store.unsave_message(alice.id, dropped.id, admin=False)  # again: fine
        assert await _page(store, alice.id) == ["kept"]


async def test_a_message_in_a_room_one_is_not_in_cannot_be_saved(config: Config) -> None:
    async with open_store(config) as store:
        alice = await store.create_user("alice", "hash")
        bob = await store.create_user("bob", "hash")
        room = await store.create_room("secret", is_private=True, creator_id=bob.id)
        message = await add_message(store, room.id, bob.id, "secret")
        refused = await store.save_message(alice.id, message.id, admin=False, most=MOST)
        unknown = await store.save_message(alice.id, message.id + 100, admin=False, most=MOST)
        assert await _page(store, alice.id) == []
    assert refused is Saving.NOT_FOUND
    assert unknown is Saving.NOT_FOUND


async def test_a_deleted_message_drops_out_of_the_list(config: Config) -> None:
    async with open_store(config) as store:
        alice = await store.create_user("alice", "hash")
        bob = await store.create_user("bob", "hash")
        kept = await add_message(store, store.lobby_id, bob.id, "kept")
        deleted = await add_message(store, store.lobby_id, bob.id, "deleted")
        for message in (kept, deleted):
            await store.save_message(alice.id, message.id, admin=False, most=MOST)
        await store.delete_message(store.lobby_id, deleted.id, _accept)
        assert await _page(store, alice.id) == ["kept"]
        assert await store.saved_message_ids(alice.id, admin=False) == [kept.id]
        again = await store.save_message(alice.id, deleted.id, admin=False, most=MOST)
    assert again is Saving.NOT_FOUND


async def _member_who_saved(store: Store) -> tuple[User, User, Room]:
    """An owner's room, and alice in it, who saved one of its messages (shown)."""
    owner = await store.create_user("owner", "hash")
    alice = await store.create_user("alice", "hash")
    room = await store.create_room("room", is_private=False, creator_id=owner.id)
    await store.add_member(room.id, alice.id)
    message = await add_message(store, room.id, owner.id, "in the room")
    await store.save_message(alice.id, message.id, admin=False, most=MOST)
    assert await _page(store, alice.id) == ["in the room"]
    return owner, alice, room


async def test_a_message_of_a_room_one_was_removed_from_drops_out_of_the_list(
    config: Config,
) -> None:
    async with open_store(config) as store:
        owner, alice, room = await _member_who_saved(store)
        entry = AuditEntry(room.id, "remove", owner.id, "owner", alice.id, "alice")
        await store.remove_member(
            room.id, alice.id, audit=entry, keep_an_owner=True, by_id=owner.id
        )
        assert await _page(store, alice.id) == []
        assert await store.saved_message_ids(alice.id, admin=False) == []
        # Back in the room, it shows again: the saving was kept.
        await store.add_member(room.id, alice.id)
        assert await _page(store, alice.id) == ["in the room"]


async def test_a_message_of_a_room_one_is_banned_from_drops_out_of_the_list(
    config: Config,
) -> None:
    async with open_store(config) as store:
        owner, alice, room = await _member_who_saved(store)
        entry = AuditEntry(room.id, "ban", owner.id, "owner", alice.id, "alice")
        await store.restrict(
            "ban", room.id, alice.id, reason="", until=None, by_id=owner.id, audit=entry
        )
        assert await _page(store, alice.id) == []


async def test_a_message_retention_deletes_takes_its_savings_with_it(config: Config) -> None:
    async with open_store(config) as store:
        alice = await store.create_user("alice", "hash")
        old = await add_message(store, store.lobby_id, alice.id, "old")
        await store.save_message(alice.id, old.id, admin=False, most=MOST)
        later = datetime.now(UTC) + timedelta(seconds=5)
        batch = await store.delete_expired(store.lobby_id, later, limit=10)
        assert batch.deleted == 1
        assert await store.export_saved(alice.id, after=0, limit=10) == []


async def test_a_full_list_refuses_a_save(config: Config) -> None:
    async with open_store(config) as store:
        alice = await store.create_user("alice", "hash")
        messages = [await add_message(store, store.lobby_id, alice.id, t) for t in "abc"]
        for message in messages[:2]:
            assert (
                await store.save_message(alice.id, message.id, admin=False, most=2) is Saving.SAVED
            )
        full = await store.save_message(alice.id, messages[2].id, admin=False, most=2)
        # Saving one saved already is no new place.
        again = await store.save_message(alice.id, messages[0].id, admin=False, most=2)
        assert await _page(store, alice.id) == ["b", "a"]
    assert full is Saving.FULL
    assert again is Saving.SAVED


async def test_a_full_list_forgets_what_no_longer_shows_to_make_room(config: Config) -> None:
    async with open_store(config) as store:
        alice = await store.create_user("alice", "hash")
        gone, kept, new = [await add_message(store, store.lobby_id, alice.id, t) for t in "abc"]
        for message in (gone, kept):
            await store.save_message(alice.id, message.id, admin=False, most=2)
        await store.delete_message(store.lobby_id, gone.id, _accept)
        saving = await store.save_message(alice.id, new.id, admin=False, most=2)
        exported = await store.export_saved(alice.id, after=0, limit=10)
    assert saving is Saving.SAVED
    assert [row["MessageID"] for row in exported] == [kept.id, new.id]


async def test_the_export_holds_every_saving_shown_or_not(config: Config) -> None:
    async with open_store(config) as store:
        alice = await store.create_user("alice", "hash")
        first, second = [await add_message(store, store.lobby_id, alice.id, t) for t in "ab"]
        for message in (first, second):
            await store.save_message(alice.id, message.id, admin=False, most=MOST)
        await store.delete_message(store.lobby_id, second.id, _accept)
        every = await store.export_saved(alice.id, after=0, limit=10)
        after_first = await store.export_saved(alice.id, after=every[0]["SavedID"], limit=10)
    assert [row["MessageID"] for row in every] == [first.id, second.id]
    assert [row["MessageID"] for row in after_first] == [second.id]
    assert all(datetime.fromisoformat(row["SavedAt"]) for row in every)


async def test_an_erased_account_has_no_savings_left(config: Config) -> None:
    async with open_store(config) as store:
        alice = await store.create_user("alice", "hash")
        message = await add_message(store, store.lobby_id, alice.id, "hello")
        await store.save_message(alice.id, message.id, admin=False, most=MOST)
        await store.erase_account(
            alice.id,
            name_key="alice",
            look_key="alice",
            held_until=datetime.now(UTC) + timedelta(days=1),
            password_hash="x",
        )
        assert await store.export_saved(alice.id, after=0, limit=10) == []


async def test_an_operator_may_save_a_support_threads_message(config: Config) -> None:
    async with open_store(config) as store:
        alice = await store.create_user("alice", "hash")
        operator = await store.create_user("operator", "hash")
        thread = await store.support_room(alice.id, create=True)
        assert thread is not None
        message = await add_message(store, thread.id, alice.id, "help")
        as_operator = await store.save_message(operator.id, message.id, admin=True, most=MOST)
        ids = await store.saved_message_ids(operator.id, admin=True)
    assert as_operator is Saving.SAVED
    assert ids == [message.id]


async def test_saves_at_once_never_pass_the_bound(config: Config) -> None:
    async with open_store(config) as store:
        alice = await store.create_user("alice", "hash")
        messages = [await add_message(store, store.lobby_id, alice.id, t) for t in "abcdefgh"]
        savings: list[Saving] = []

        async def save(message: Message) -> None:
            savings.append(await store.save_message(alice.id, message.id, admin=False, most=3))

        async with trio.open_nursery() as nursery:  # every save at once; ends when all have
            for message in messages:
                nursery.start_soon(save, message)
        kept = await store.export_saved(alice.id, after=0, limit=10)
    assert sorted(saving.value for saving in savings) == ["full"] * 5 + ["saved"] * 3
    assert len(kept) == 3
