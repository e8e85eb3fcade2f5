"""The store's rooms on both backends, the same behaviour: a user's room list, the
directory, notification levels, read markers and unread counts, mentions' candidates,
member counts and support threads (`Rooms`, `Support`)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import trio
from support import add_message

from chat.core.config import Config
from chat.core.moderation_records import AuditEntry
from chat.core.names import name_key
from chat.core.outgoing import OutgoingMessage
from chat.core.records import NewMessage, PublicRoom, RoomDetails
from chat.store import open_store


async def test_room_details_list_the_lobby_then_the_users_rooms_by_id(config: Config) -> None:
    async with open_store(config) as store:
        alice = await store.create_user("alice", "hash")
        bob = await store.create_user("bob", "hash")
        lobby = await store.room_by_id(store.lobby_id)
        theirs = await store.create_room("theirs", is_private=False, creator_id=bob.id)
        mine = await store.create_room("mine", is_private=True, creator_id=alice.id)
        await store.add_member(theirs.id, alice.id)
        dm = await store.direct_room(bob.id, alice.id, create=True)
        await store.create_room("elsewhere", is_private=False, creator_id=bob.id)
        await store.set_notification_level(alice.id, theirs.id, "mentions")
        await store.set_notification_level(bob.id, mine.id, "none")  # not alice's
        details = await store.room_details(alice.id, store.lobby_id)
    assert lobby is not None and dm is not None
    assert details == [
        RoomDetails(lobby, None),
        RoomDetails(theirs, None, "mentions", "member"),
        RoomDetails(mine, None, None, "owner"),
        RoomDetails(dm, ("alice", "bob"), None, "member"),
    ]


async def test_adding_a_member_is_idempotent_and_refused_while_a_ban_is_in_force(
    config: Config,
) -> None:
    async with open_store(config) as store:
        owner = await store.create_user("owner", "hash")
        tom = await store.create_user("tom", "hash")
        room = await store.create_room("room", is_private=False, creator_id=owner.id)
        assert await store.add_member(room.id, tom.id)
        assert await store.add_member(room.id, tom.id)  # a member already: fine
        audit = AuditEntry(room.id, "ban", owner.id, "owner", tom.id, "tom")
        until = datetime.now(UTC) + timedelta(seconds=1)
        await store.restrict(
            "ban", room.id, tom.id, reason="", until=until, by_id=owner.id, audit=audit
        )
        assert not await store.add_member(room.id, tom.id)
        assert not await store.is_member(room.id, tom.id)
        await trio.sleep((until - datetime.now(UTC)).total_seconds() + 0.05)
        assert await store.add_member(room.id, tom.id)  # the ban has ended
        assert await store.is_member(room.id, tom.id)


async def test_room_details_of_a_user_in_no_room_is_the_lobby(config: Config) -> None:
    async with open_store(config) as store:
        alice = await store.create_user("alice", "hash")
        details = await store.room_details(alice.id, store.lobby_id)
    assert [(d.room.id, d.room.kind, d.role) for d in details] == [
        (store.lobby_id, "lobby", "member")
    ]


async def test_public_rooms_are_listed_the_most_members_first(config: Config) -> None:
    async with open_store(config) as store:
        users = [await store.create_user(f"user{n}", "hash") for n in range(3)]
        small = await store.create_room("small", is_private=False, creator_id=users[0].id)
        large = await store.create_room("large", is_private=False, creator_id=users[0].id)
        await store.create_room("hidden", is_private=True, creator_id=users[0].id)
        await store.direct_room(users[0].id, users[1].id, create=True)
        for user in users[1:]:
            await store.add_member(large.id, user.id)
        every = await store.public_rooms(10)
        first = await store.public_rooms(1)
    assert every == [PublicRoom(large.id, "large", 3), PublicRoom(small.id, "small", 1)]
    assert first == every[:1]


async def test_public_rooms_with_as_many_members_go_by_latest_message(config: Config) -> None:
    async with open_store(config) as store:
        alice = await store.create_user("alice", "hash")
        quiet = await store.create_room("a-quiet", is_private=False, creator_id=alice.id)
        older = await store.create_room("b-older", is_private=False, creator_id=alice.id)
        newer = await store.create_room("c-newer", is_private=False, creator_id=alice.id)
        await add_message(store, older.id, alice.id, "first")
        await add_message(store, newer.id, alice.id, "second")
        listed = await store.public_rooms(10)
    assert [room.id for room in listed] == [newer.id, older.id, quiet.id]


async def test_no_public_room_gives_an_empty_directory(config: Config) -> None:
    async with open_store(config) as store:
        alice = await store.create_user("alice", "hash")
        await store.create_room("hidden", is_private=True, creator_id=alice.id)
        assert await store.public_rooms(10) == []


async def test_a_notification_level_is_set_replaced_and_per_room(config: Config) -> None:
    async with open_store(config) as store:
        alice = await store.create_user("alice", "hash")
        room = await store.create_room("room", is_private=False, creator_id=alice.id)
        assert await store.notification_level(alice.id, room.id) is None
        await store.set_notification_level(alice.id, room.id, "none")
        await store.set_notification_level(alice.id, room.id, "all")
        assert await store.notification_level(alice.id, room.id) == "all"
        assert await store.notification_level(alice.id, store.lobby_id) is None


async def test_a_read_marker_moves_forward_only(config: Config) -> None:
    async with open_store(config) as store:
        alice = await store.create_user("alice", "hash")
        first = await add_message(store, store.lobby_id, alice.id, "one")
        second = await add_message(store, store.lobby_id, alice.id, "two")
        assert await store.mark_read(alice.id, store.lobby_id, first.id) == first.id
        assert await store.mark_read(alice.id, store.lobby_id, second.id) == second.id
        assert await store.mark_read(alice.id, store.lobby_id, first.id) == second.id


async def test_marking_a_message_of_another_room_read_gives_none(config: Config) -> None:
    async with open_store(config) as store:
        alice = await store.create_user("alice", "hash")
        room = await store.create_room("room", is_private=False, creator_id=alice.id)
        elsewhere = await add_message(store, room.id, alice.id, "there")
        assert await store.mark_read(alice.id, store.lobby_id, elsewhere.id) is None
        assert await store.mark_read(alice.id, store.lobby_id, elsewhere.id + 100) is None
        assert await store.export_read_markers(alice.id, after=0, limit=10) == []


async def test_unread_counts_are_others_messages_after_the_marker(config: Config) -> None:
    async with open_store(config) as store:
        alice = await store.create_user("alice", "hash")
        bob = await store.create_user("bob", "hash")
        room = await store.create_room("room", is_private=False, creator_id=bob.id)
        await store.add_member(room.id, alice.id)
        await store.create_room("not hers", is_private=False, creator_id=bob.id)
        read = await add_message(store, store.lobby_id, bob.id, "read")
        await add_message(store, store.lobby_id, bob.id, "unread")
        await add_message(store, store.lobby_id, alice.id, "her own")
        await store.add_messages(
            [
                NewMessage(room.id, bob.id, OutgoingMessage("@alice", mentions=(alice.id,))),
                NewMessage(room.id, bob.id, OutgoingMessage("@room", mentions_room=True)),
                NewMessage(room.id, bob.id, OutgoingMessage("plain")),
            ]
        )
        await store.mark_read(alice.id, store.lobby_id, read.id)
        counts = await store.unread_counts(alice.id, store.lobby_id)
    assert counts == [(store.lobby_id, 1, 0), (room.id, 3, 2)]


async def test_deleted_messages_are_not_unread(config: Config) -> None:
    async with open_store(config) as store:
        alice = await store.create_user("alice", "hash")
        bob = await store.create_user("bob", "hash")
        message = await add_message(store, store.lobby_id, bob.id, "oops")
        await store.delete_message(store.lobby_id, message.id, lambda found: None)
        assert await store.unread_counts(alice.id, store.lobby_id) == [(store.lobby_id, 0, 0)]


async def test_mention_candidates_say_who_may_read_the_room(config: Config) -> None:
    async with open_store(config) as store:
        alice = await store.create_user("alice", "hash")
        bob = await store.create_user("Bob", "hash")
        op = await store.create_user("op", "hash", is_admin=True)
        room = await store.create_room("room", is_private=True, creator_id=alice.id)
        support = await store.support_room(alice.id, create=True)
        assert support is not None
        keys = [name_key("alice"), name_key("bob"), name_key("op"), name_key("nobody")]
        in_room = await store.mention_candidates(room.id, keys)
        in_support = await store.mention_candidates(support.id, keys)
    assert sorted(in_room) == sorted(
        [(name_key("alice"), alice.id, True), (name_key("bob"), bob.id, False),
         (name_key("op"), op.id, False)]
    )  # fmt: skip
    assert sorted(in_support) == sorted(
        [(name_key("alice"), alice.id, True), (name_key("bob"), bob.id, False),
         (name_key("op"), op.id, True)]
    )  # fmt: skip


async def test_mention_candidates_of_unknown_keys_are_none(config: Config) -> None:
    async with open_store(config) as store:
        await store.create_user("alice", "hash")
        assert await store.mention_candidates(store.lobby_id, [name_key("nobody")]) == []


async def test_member_count_is_the_rooms_members_and_every_user_for_the_lobby(
    config: Config,
) -> None:
    async with open_store(config) as store:
        users = [await store.create_user(f"user{n}", "hash") for n in range(3)]
        room = await store.create_room("room", is_private=False, creator_id=users[0].id)
        await store.add_member(room.id, users[1].id)
        assert await store.member_count(room.id) == 2
        assert await store.member_count(store.lobby_id) == 3


async def test_the_latest_support_user_is_of_the_newest_message_from_them_or_the_operator(
    config: Config,
) -> None:
    async with open_store(config) as store:
        op = await store.create_user("op", "hash", is_admin=True)
        other_op = await store.create_user("other-op", "hash", is_admin=True)
        alice = await store.create_user("alice", "hash")
        bob = await store.create_user("bob", "hash")
        alice_room = await store.support_room(alice.id, create=True)
        bob_room = await store.support_room(bob.id, create=True)
        assert alice_room is not None and bob_room is not None
        assert await store.latest_support_user(op.id) is None
        await add_message(store, alice_room.id, alice.id, "help")
        assert await store.latest_support_user(op.id) == alice.id
        await add_message(store, bob_room.id, bob.id, "help me too")
        assert await store.latest_support_user(op.id) == bob.id
        await add_message(store, alice_room.id, op.id, "answered")
        assert await store.latest_support_user(op.id) == alice.id
        await add_message(store, bob_room.id, other_op.id, "another operator's")
        assert await store.latest_support_user(op.id) == alice.id
        assert await store.latest_support_user(other_op.id) == bob.id
