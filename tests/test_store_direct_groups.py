"""The store's group direct conversations on both backends, the same behaviour: one room
per set of people, made once however many ask at once, found by its members as they are
now (`DirectGroups`, chat/store/direct_groups.py)."""

from __future__ import annotations

import trio

from chat.core.config import Config
from chat.core.records import Addition, User
from chat.store import Store, open_store


async def _people(store: Store, *names: str) -> list[User]:
    return [await store.create_user(name, "hash") for name in names]


async def test_a_set_of_people_has_one_group_room_whoever_asks_and_in_any_order(
    config: Config,
) -> None:
    async with open_store(config) as store:
        ann, bob, cat = await _people(store, "ann", "bob", "cat")
        assert await store.group_direct_room(
            [ann.id, bob.id, cat.id], creator_id=ann.id, create=False
        ) == (None, False)
        made, created = await store.group_direct_room(
            [cat.id, ann.id, bob.id, bob.id], creator_id=ann.id, create=True
        )
        again, created_again = await store.group_direct_room(
            [bob.id, cat.id, ann.id], creator_id=cat.id, create=True
        )
        assert made is not None and created and not created_again
        assert again == made
        assert (made.kind, made.is_private, made.pair, made.name) == ("direct", True, None, None)
        assert made.is_group_direct
        assert await store.room_by_id(made.id) == made
        members = await store.room_members(made.id, after=0, limit=10)
        assert members == [(u.id, u.name, "member") for u in (ann, bob, cat)]  # no owner


async def test_two_creators_of_one_set_at_once_get_one_room(config: Config) -> None:
    async with open_store(config) as store:
        people = [u.id for u in await _people(store, "ann", "bob", "cat", "dan")]
        rooms = []

        async def make(creator: int) -> None:
            room, _ = await store.group_direct_room(people, creator_id=creator, create=True)
            rooms.append(room)

        async with trio.open_nursery() as nursery:
            for i in range(8):
                nursery.start_soon(make, people[i % 4])
        assert len({room.id for room in rooms if room is not None}) == 1
        assert len(rooms) == 8


async def test_a_person_added_makes_the_room_the_conversation_of_the_new_set(
    config: Config,
) -> None:
    async with open_store(config) as store:
        ann, bob, cat, dan = await _people(store, "ann", "bob", "cat", "dan")
        room, _ = await store.group_direct_room(
            [ann.id, bob.id, cat.id], creator_id=ann.id, create=True
        )
        assert room is not None
        assert await store.add_to_group_direct(room.id, dan.id, most=10) is Addition.ADDED
        assert await store.add_to_group_direct(room.id, dan.id, most=10) is Addition.MEMBER
        four = [ann.id, bob.id, cat.id, dan.id]
        assert await store.group_direct_room(four, creator_id=ann.id, create=False) == (room, False)
        three = [ann.id, bob.id, cat.id]
        assert await store.group_direct_room(three, creator_id=ann.id, create=False) == (
            None,
            False,
        )


async def test_a_full_group_room_takes_nobody_more(config: Config) -> None:
    async with open_store(config) as store:
        ann, bob, cat, dan = await _people(store, "ann", "bob", "cat", "dan")
        room, _ = await store.group_direct_room(
            [ann.id, bob.id, cat.id], creator_id=ann.id, create=True
        )
        assert room is not None
        assert await store.add_to_group_direct(room.id, dan.id, most=3) is Addition.FULL
        assert not await store.is_member(room.id, dan.id)


async def test_additions_at_once_to_the_last_place_add_one(config: Config) -> None:
    async with open_store(config) as store:
        ann, bob, cat, *others = await _people(store, "ann", "bob", "cat", *"defghijk")
        room, _ = await store.group_direct_room(
            [ann.id, bob.id, cat.id], creator_id=ann.id, create=True
        )
        assert room is not None
        added = []

        async def add(user_id: int) -> None:
            added.append(await store.add_to_group_direct(room.id, user_id, most=4))

        async with trio.open_nursery() as nursery:
            for other in others:
                nursery.start_soon(add, other.id)
        assert sorted(outcome.value for outcome in added) == ["added"] + ["full"] * 7
        assert len(await store.room_members(room.id, after=0, limit=20)) == 4


async def test_only_a_group_room_takes_people_this_way(config: Config) -> None:
    async with open_store(config) as store:
        ann, bob, cat = await _people(store, "ann", "bob", "cat")
        pair = await store.direct_room(ann.id, bob.id, create=True)
        group = await store.create_room("group", is_private=True, creator_id=ann.id)
        assert pair is not None and not pair.is_group_direct
        for room in (pair, group):
            assert await store.add_to_group_direct(room.id, cat.id, most=10) is Addition.NOT_A_GROUP
            assert not await store.is_member(room.id, cat.id)


async def test_a_member_who_leaves_makes_the_room_the_conversation_of_those_left(
    config: Config,
) -> None:
    async with open_store(config) as store:
        ann, bob, cat, dan = await _people(store, "ann", "bob", "cat", "dan")
        room, _ = await store.group_direct_room(
            [ann.id, bob.id, cat.id, dan.id], creator_id=ann.id, create=True
        )
        assert room is not None
        await store.remove_member(room.id, dan.id, audit=None, keep_an_owner=True, by_id=dan.id)
        three = [ann.id, bob.id, cat.id]
        assert await store.group_direct_room(three, creator_id=ann.id, create=False) == (
            room,
            False,
        )


async def test_a_set_another_room_holds_already_keeps_answering_with_that_room(
    config: Config,
) -> None:
    async with open_store(config) as store:
        ann, bob, cat, dan = await _people(store, "ann", "bob", "cat", "dan")
        three = [ann.id, bob.id, cat.id]
        first, _ = await store.group_direct_room(three, creator_id=ann.id, create=True)
        second, _ = await store.group_direct_room([*three, dan.id], creator_id=ann.id, create=True)
        assert first is not None and second is not None
        await store.remove_member(second.id, dan.id, audit=None, keep_an_owner=True, by_id=dan.id)
        assert await store.group_direct_room(three, creator_id=ann.id, create=False) == (
            first,
            False,
        )
        # The first one's set changes: the second, whose set it was too, does not take it.
        await store.remove_member(first.id, cat.id, audit=None, keep_an_owner=True, by_id=cat.id)
        assert await store.group_direct_room(three, creator_id=ann.id, create=False) == (
            None,
            False,
        )
        assert await store.add_to_group_direct(first.id, cat.id, most=10) is Addition.ADDED
        assert await store.group_direct_room(three, creator_id=ann.id, create=False) == (
            first,
            False,
        )


async def test_group_rooms_members_are_listed_by_room_with_their_names(config: Config) -> None:
    async with open_store(config) as store:
        ann, bob, cat, dan = await _people(store, "ann", "bob", "cat", "dan")
        one, _ = await store.group_direct_room(
            [ann.id, bob.id, cat.id], creator_id=ann.id, create=True
        )
        two, _ = await store.group_direct_room(
            [ann.id, bob.id, dan.id], creator_id=ann.id, create=True
        )
        assert one is not None and two is not None
        assert await store.group_direct_members([one.id, two.id]) == {
            one.id: [(ann.id, "ann"), (bob.id, "bob"), (cat.id, "cat")],
            two.id: [(ann.id, "ann"), (bob.id, "bob"), (dan.id, "dan")],
        }
        assert await store.group_direct_members([]) == {}
