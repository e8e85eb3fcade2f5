"""The stores' `Pins` role, on both backends: a pin and an unpin are `pins` changes at
positions of the one stream, a room's pins are listed newest pin first with who pinned
them, pinning twice changes nothing, the limit holds, and a deleted or expired message
drops out of the list."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from support import add_message

from chat.bus.carried import decode, encode, pack
from chat.bus.interface import MAX_PAYLOAD_BYTES, Envelope
from chat.core.config import Config
from chat.core.errors import Conflict, NotFound
from chat.core.records import Change, Message
from chat.store import Store, open_store


def _accept(message: Message | None) -> None:
    assert message is not None


def _must_exist(message: Message | None) -> None:
    if message is None:
        raise NotFound("no such message")


async def _pin(store: Store, message: Message, user_id: int, *, max_pins: int = 50) -> Change:
    change = await store.set_pin(
        message.room_id, message.id, user_id, pinned=True, max_pins=max_pins, check=_accept
    )
    assert change is not None
    return change


async def _room_with_messages(store: Store, count: int) -> tuple[int, list[Message]]:
    alice = await store.create_user("alice", "hash")
    room = await store.create_room("ops", is_private=False, creator_id=alice.id)
    messages = [await add_message(store, room.id, alice.id, f"m{i}") for i in range(count)]
    return alice.id, messages


async def test_a_pin_is_a_pins_change_at_the_next_position(config: Config) -> None:
    async with open_store(config) as store:
        alice_id, (message,) = await _room_with_messages(store, 1)
        change = await _pin(store, message, alice_id)
        later = await add_message(store, message.room_id, alice_id, "after")
        changes = await store.room_changes(message.room_id, after=0, before=None, limit=10)
    assert (change.kind, change.pinned, change.message_id) == ("pins", True, message.id)
    assert message.id < change.seq < later.id
    assert [(c.seq, c.kind, c.pinned) for c in changes] == [(change.seq, "pins", True)]


async def test_an_unpin_is_a_pins_change_that_says_unpinned(config: Config) -> None:
    async with open_store(config) as store:
        alice_id, (message,) = await _room_with_messages(store, 1)
        await _pin(store, message, alice_id)
        unpinned = await store.set_pin(
            message.room_id, message.id, alice_id, pinned=False, max_pins=50, check=_accept
        )
        pins = await store.room_pins(message.room_id, limit=50)
    assert unpinned is not None and unpinned.pinned is False
    assert pins == []


async def test_pins_are_listed_newest_pin_first_with_who_pinned_them(config: Config) -> None:
    async with open_store(config) as store:
        alice_id, messages = await _room_with_messages(store, 3)
        for message in (messages[1], messages[0], messages[2]):
            await _pin(store, message, alice_id)
        pins = await store.room_pins(messages[0].room_id, limit=50)
    assert [p.message.id for p in pins] == [messages[2].id, messages[0].id, messages[1].id]
    assert {(p.pinned_by, p.pinned_by_name) for p in pins} == {(alice_id, "alice")}
    assert pins[0].message.body == "m2"
    assert abs(pins[0].pinned_at - datetime.now(UTC)) < timedelta(minutes=1)


async def test_pinning_a_pinned_message_changes_nothing(config: Config) -> None:
    async with open_store(config) as store:
        alice_id, (message,) = await _room_with_messages(store, 1)
        await _pin(store, message, alice_id)
        again = await store.set_pin(
            message.room_id, message.id, alice_id, pinned=True, max_pins=50, check=_accept
        )
        never = await store.set_pin(
            message.room_id, message.id, alice_id, pinned=False, max_pins=50, check=_accept
        )
        not_again = await store.set_pin(
            message.room_id, message.id, alice_id, pinned=False, max_pins=50, check=_accept
        )
        changes = await store.room_changes(message.room_id, after=0, before=None, limit=10)
    assert again is None and never is not None and not_again is None
    assert [c.pinned for c in changes] == [False, True]


async def test_a_room_with_max_pins_refuses_one_more(config: Config) -> None:
    async with open_store(config) as store:
        alice_id, messages = await _room_with_messages(store, 3)
        for message in messages[:2]:
            await _pin(store, message, alice_id, max_pins=2)
        with pytest.raises(Conflict, match="has 2 pinned messages already"):
            await _pin(store, messages[2], alice_id, max_pins=2)
        pins = await store.room_pins(messages[0].room_id, limit=50)
        changes = await store.room_changes(messages[0].room_id, after=0, before=None, limit=10)
    assert [p.message.id for p in pins] == [messages[1].id, messages[0].id]
    assert len(changes) == 2  # the refused pin wrote nothing


async def test_a_deleted_message_drops_out_of_the_pins(config: Config) -> None:
    async with open_store(config) as store:
        alice_id, messages = await _room_with_messages(store, 2)
        for message in messages:
            await _pin(store, message, alice_id, max_pins=2)
        await store.delete_message(messages[0].room_id, messages[0].id, _accept)
        pins = await store.room_pins(messages[0].room_id, limit=50)
        # Its place counts no more against the limit.
        third = await add_message(store, messages[0].room_id, alice_id, "third")
        await _pin(store, third, alice_id, max_pins=2)
    assert [p.message.id for p in pins] == [messages[1].id]


async def test_an_expired_message_drops_out_of_the_pins(config: Config) -> None:
    async with open_store(config) as store:
        alice_id, (message,) = await _room_with_messages(store, 1)
        await _pin(store, message, alice_id)
        await store.delete_expired(
            message.room_id, datetime.now(UTC) + timedelta(days=1), limit=100
        )
        pins = await store.room_pins(message.room_id, limit=50)
    assert pins == []


async def test_a_message_of_another_room_cannot_be_pinned(config: Config) -> None:
    async with open_store(config) as store:
        alice_id, (message,) = await _room_with_messages(store, 1)
        with pytest.raises(NotFound):
            await store.set_pin(
                store.lobby_id, message.id, alice_id, pinned=True, max_pins=50, check=_must_exist
            )
        assert await store.room_pins(store.lobby_id, limit=50) == []


async def test_pin_changes_join_the_stream_read_in_position_order(config: Config) -> None:
    async with open_store(config) as store:
        alice_id, (message,) = await _room_with_messages(store, 1)
        change = await _pin(store, message, alice_id)
        later = await add_message(store, message.room_id, alice_id, "after")
        read = await store.committed_after(0, limit=10)
        last = await store.last_position()
        after_pin = await store.committed_after(message.id, before=later.id, limit=10)
    assert [item.position for item, _ in read] == [message.id, change.seq, later.id]
    assert read[1][0] == change
    assert [item for item, _ in after_pin] == [change]
    assert last == later.id


async def test_a_carried_pin_change_equals_what_the_table_gives(config: Config) -> None:
    async with open_store(config) as store:
        alice_id, (message,) = await _room_with_messages(store, 1)
        await _pin(store, message, alice_id)
        await store.set_pin(
            message.room_id, message.id, alice_id, pinned=False, max_pins=50, check=_accept
        )
        read = await store.committed_after(message.id, limit=10)
    sender, receiver = Envelope("chat", "a"), Envelope("chat", "b")
    (payload,) = pack(read, 0, MAX_PAYLOAD_BYTES)
    event = receiver.open(sender.seal_carried(payload))
    assert event is not None
    carried = decode(event)
    assert carried is not None and carried.items == read
    assert [item.pinned for item, _ in carried.items] == [True, False]  # type: ignore[union-attr]


async def test_a_release_that_knows_no_pins_drops_a_payload_holding_one(config: Config) -> None:
    async with open_store(config) as store:
        alice_id, (message,) = await _room_with_messages(store, 1)
        await _pin(store, message, alice_id)
        ((item, room),) = await store.committed_after(message.id, limit=10)
    encoded = encode(item, room)
    # The release before decodes "m", "d", else "c" (a KeyError drops the payload, and it
    # reads the table, where it never looks for pins): a pin change is none of them.
    assert set(encoded) == {"p", "r"}
    assert decode({"items": [{**encoded, "p": {**encoded["p"], "k": "edited"}}]}) is None
