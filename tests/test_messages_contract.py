"""The `Messages` role's promises, checked against the in-memory fake
(tests/memory_messages.py) and the real stores alike, so that the fake the fast tests
use cannot drift from what the stores do."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

import pytest
from memory_messages import MemoryMessages
from support import server_config, throwaway_postgres_schema

from chat.core.errors import Gone
from chat.core.outgoing import OutgoingMessage
from chat.core.records import THREAD, Change, Message, NewMessage, Room, ThreadSummary
from chat.store import Messages, Store, open_store


class MessagesAndSummaries(Messages, Protocol):
    """`Messages`, and the `Threads` role's counting of thread summaries."""

    async def refresh_thread_summaries(self, root_ids: Sequence[int]) -> list[Change]: ...

    async def stale_threads(self, after: int) -> tuple[list[tuple[int, int]], int]: ...


@dataclass
class World:
    """A `Messages` with two users (alice, bob) and two rooms (lobby, other) it knows."""

    messages: MessagesAndSummaries
    alice: int
    bob: int
    lobby: Room
    other: Room


@pytest.fixture(params=["memory", "sqlite", "postgres"])
async def world(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[World]:
    if request.param == "memory":
        now = datetime.now(UTC)
        lobby = Room(1, "lobby", "lobby", False, None, now)
        other = Room(2, "other", "group", False, 10, now)
        yield World(MemoryMessages([lobby, other], {10: "alice", 11: "bob"}), 10, 11, lobby, other)
        return
    if request.param == "sqlite":
        async with open_store(server_config(tmp_path, None)) as store:
            yield await _populated(store)
        return
    async with (
        throwaway_postgres_schema() as url,
        open_store(server_config(tmp_path, url)) as store,
    ):
        yield await _populated(store)


async def _populated(store: Store) -> World:
    alice = await store.create_user("alice", "hash")
    bob = await store.create_user("bob", "hash")
    lobby = await store.room_by_id(store.lobby_id)
    assert lobby is not None
    other = await store.create_room("other", is_private=False, creator_id=alice.id)
    await store.add_member(other.id, bob.id)  # a group room takes its members' messages only
    return World(store, alice.id, bob.id, lobby, other)


async def test_no_message_means_last_position_zero(world: World) -> None:
    assert await world.messages.last_position() == 0


async def test_ids_increase_in_the_order_of_the_batch(world: World) -> None:
    rows = [NewMessage(world.lobby.id, world.alice, OutgoingMessage(f"m{n}")) for n in range(5)]
    added = await world.messages.add_messages(rows)
    ids = [item.message.id for item in added]
    assert ids == sorted(ids) and len(set(ids)) == 5
    assert [item.message.body for item in added] == [f"m{n}" for n in range(5)]
    assert all(item.new for item in added)
    assert await world.messages.last_position() == ids[-1]


async def test_a_stored_message_carries_its_sender_name_room_and_client_id(world: World) -> None:
    (added,) = await world.messages.add_messages(
        [NewMessage(world.other.id, world.bob, OutgoingMessage("hi", client_msg_id="c1"))]
    )
    message = added.message
    assert (message.room_id, message.sender_id, message.sender_name) == (
        world.other.id,
        world.bob,
        "bob",
    )
    assert (message.body, message.client_msg_id) == ("hi", "c1")
    assert message.created_at.tzinfo is not None


async def test_a_reply_carries_the_id_it_answers_and_reads_back_with_it(world: World) -> None:
    (original,) = await world.messages.add_messages(
        [NewMessage(world.other.id, world.bob, OutgoingMessage("q"))]
    )
    (reply,) = await world.messages.add_messages(
        [
            NewMessage(
                world.other.id, world.alice, OutgoingMessage("a", reply_to=original.message.id)
            )
        ]
    )
    assert (original.message.reply_to, reply.message.reply_to) == (None, original.message.id)
    read = await world.messages.committed_after(0, limit=10)
    assert [message.reply_to for message, _ in read] == [None, original.message.id]


async def test_a_thread_reply_carries_its_root_and_reads_back_with_it(world: World) -> None:
    (root,) = await world.messages.add_messages(
        [NewMessage(world.other.id, world.bob, OutgoingMessage("q"))]
    )
    sent = OutgoingMessage("a", thread_id=root.message.id, also_to_room=True)
    (reply,) = await world.messages.add_messages([NewMessage(world.other.id, world.alice, sent)])
    assert (reply.message.thread_id, reply.message.also_to_room) == (root.message.id, True)
    read = await world.messages.committed_after(0, limit=10)
    # (The stores also stream the root's new summary: tests/test_bus_carried.py.)
    messages = [item for item, _ in read if isinstance(item, Message)]
    assert [(m.thread_id, m.also_to_room) for m in messages] == [
        (None, False),
        (root.message.id, True),
    ]


async def test_storing_thread_replies_leaves_their_roots_summary_as_it_was(
    world: World,
) -> None:
    (root,) = await world.messages.add_messages(
        [NewMessage(world.other.id, world.bob, OutgoingMessage("q"))]
    )
    sent = OutgoingMessage("a", thread_id=root.message.id)
    (reply,) = await world.messages.add_messages([NewMessage(world.other.id, world.alice, sent)])
    assert await world.messages.last_position() == reply.message.id
    assert await world.messages.stale_threads(0) == (
        [(root.message.id, world.other.id)],
        reply.message.id,
    )


async def test_a_refresh_counts_a_threads_new_replies_once_after_them(world: World) -> None:
    (root,) = await world.messages.add_messages(
        [NewMessage(world.other.id, world.bob, OutgoingMessage("q"))]
    )
    thread = root.message.id
    rows = [
        NewMessage(world.other.id, sender, OutgoingMessage(text, thread_id=thread))
        for sender, text in ((world.alice, "a1"), (world.bob, "b1"), (world.alice, "a2"))
    ]
    added = await world.messages.add_messages(rows)
    (change,) = await world.messages.refresh_thread_summaries([thread])
    assert (change.kind, change.message_id, change.room_id) == (THREAD, thread, world.other.id)
    assert change.thread == ThreadSummary(3, added[2].message.created_at, (world.alice, world.bob))
    assert change.seq > added[2].message.id
    read = await world.messages.committed_after(root.message.id, limit=10)
    assert [item.position for item, _ in read] == [
        *(item.message.id for item in added),
        change.seq,
    ]
    assert await world.messages.last_position() == change.seq
    assert await world.messages.refresh_thread_summaries([thread]) == []
    assert await world.messages.stale_threads(0) == ([], added[2].message.id)


async def test_a_refresh_adds_later_replies_to_what_it_counted(world: World) -> None:
    (root,) = await world.messages.add_messages(
        [NewMessage(world.other.id, world.bob, OutgoingMessage("q"))]
    )
    thread = root.message.id
    first = OutgoingMessage("a1", thread_id=thread)
    await world.messages.add_messages([NewMessage(world.other.id, world.alice, first)])
    await world.messages.refresh_thread_summaries([thread])
    later = OutgoingMessage("b1", thread_id=thread)
    (reply,) = await world.messages.add_messages([NewMessage(world.other.id, world.bob, later)])
    (change,) = await world.messages.refresh_thread_summaries([thread])
    assert change.thread == ThreadSummary(2, reply.message.created_at, (world.alice, world.bob))


async def test_a_resent_client_id_gives_back_the_original_and_stores_nothing(
    world: World,
) -> None:
    (first,) = await world.messages.add_messages(
        [NewMessage(world.lobby.id, world.alice, OutgoingMessage("once", client_msg_id="c1"))]
    )
    (again,) = await world.messages.add_messages(
        [NewMessage(world.lobby.id, world.alice, OutgoingMessage("twice", client_msg_id="c1"))]
    )
    assert (again.new, again.message) == (False, first.message)
    assert await world.messages.last_position() == first.message.id


async def test_a_resend_inside_one_batch_gives_back_the_first(world: World) -> None:
    added = await world.messages.add_messages(
        [
            NewMessage(world.lobby.id, world.alice, OutgoingMessage("once", client_msg_id="c1")),
            NewMessage(world.lobby.id, world.alice, OutgoingMessage("twice", client_msg_id="c1")),
        ]
    )
    assert [item.new for item in added] == [True, False]
    assert added[1].message == added[0].message


async def test_a_client_id_is_per_sender_and_per_room(world: World) -> None:
    added = await world.messages.add_messages(
        [
            NewMessage(world.lobby.id, world.alice, OutgoingMessage("a", client_msg_id="c1")),
            NewMessage(world.lobby.id, world.bob, OutgoingMessage("b", client_msg_id="c1")),
            NewMessage(world.other.id, world.alice, OutgoingMessage("c", client_msg_id="c1")),
        ]
    )
    assert all(item.new for item in added)


async def test_a_batch_naming_an_unknown_room_raises_gone_and_stores_nothing(
    world: World,
) -> None:
    rows = [
        NewMessage(world.lobby.id, world.alice, OutgoingMessage("fine")),
        NewMessage(987654, world.alice, OutgoingMessage("into the void")),
    ]
    with pytest.raises(Gone):
        await world.messages.add_messages(rows)
    assert await world.messages.last_position() == 0


async def test_committed_after_reads_every_room_in_id_order_with_rooms(world: World) -> None:
    added = await world.messages.add_messages(
        [
            NewMessage(world.lobby.id, world.alice, OutgoingMessage("m1")),
            NewMessage(world.other.id, world.bob, OutgoingMessage("m2")),
            NewMessage(world.lobby.id, world.bob, OutgoingMessage("m3")),
        ]
    )
    ids = [item.message.id for item in added]
    page = await world.messages.committed_after(0, limit=10)
    assert [(m.id, room.id) for m, room in page] == [
        (ids[0], world.lobby.id),
        (ids[1], world.other.id),
        (ids[2], world.lobby.id),
    ]
    assert page[1][1] == world.other


async def test_committed_after_keeps_to_its_bounds_and_limit(world: World) -> None:
    added = await world.messages.add_messages(
        [NewMessage(world.lobby.id, world.alice, OutgoingMessage(f"m{n}")) for n in range(6)]
    )
    ids = [item.message.id for item in added]
    between = await world.messages.committed_after(ids[0], before=ids[4], limit=10)
    assert [m.id for m, _ in between] == ids[1:4]
    assert [m.id for m, _ in await world.messages.committed_after(ids[0], limit=2)] == ids[1:3]
    assert await world.messages.committed_after(ids[-1], limit=10) == []
