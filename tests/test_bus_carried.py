"""What the bus carries between instances (`chat.bus.carried`): committed messages and
changes equal to the ones a table read gives, packed into payloads the bus takes."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import trio
from support import account, entered, open_clients, start_server
from test_metrics import Samples, scrape, value

from chat.bus.carried import Payload, decode, encode, pack
from chat.bus.interface import MAX_PAYLOAD_BYTES, Envelope
from chat.bus.postgres import EVENTS_CHANNEL
from chat.core.config import Config
from chat.core.outgoing import OutgoingMessage
from chat.core.records import (
    Change,
    EditedMentions,
    FileRef,
    Message,
    NewMessage,
    Reaction,
    Room,
    StoredFile,
)
from chat.store import open_store
from chat.store.postgres import PostgresStore


def _roundtrip(items: list) -> list:
    """`items` carried: packed, sealed, opened by another instance, decoded."""
    sender, receiver = Envelope("chat", "a"), Envelope("chat", "b")
    out = []
    for payload in pack(items, 0, 7900):
        event = receiver.open(sender.seal_carried(payload))
        assert event is not None and event["type"] == "carried"
        carried = decode(event)
        assert carried is not None
        out.extend(carried.items)
    return out


def _allow(_message: object) -> None:
    """A change's check that lets everything through."""


async def test_carried_messages_changes_and_departures_equal_what_the_table_gives(
    config: Config,
) -> None:
    async with open_store(config) as store:
        alice = await store.create_user("alice", "hash")
        bob = await store.create_user("bob", "hash")
        group = await store.create_room("ops", is_private=True, creator_id=alice.id)
        await store.add_member(group.id, alice.id)
        await store.add_member(group.id, bob.id)
        direct = await store.direct_room(alice.id, bob.id, create=True)
        assert direct is not None
        await store.add_file(
            StoredFile(
                "file-1",
                alice.id,
                "plan.png",
                123,
                "image/png",
                "ab" * 32,
                datetime.now(UTC),
                width=40,
                height=30,
                thumbnail_type="image/png",
            )
        )
        (first,) = await store.add_messages(
            [
                NewMessage(
                    group.id, alice.id, OutgoingMessage("hé @bob ✓", "c-1", mentions=(bob.id,))
                )
            ]
        )
        await store.add_messages(
            [
                NewMessage(
                    group.id,
                    bob.id,
                    OutgoingMessage(
                        "answer",
                        reply_to=first.message.id,
                        mentions_room=True,
                        thread_id=first.message.id,
                        also_to_room=True,
                    ),
                ),
                NewMessage(direct.id, alice.id, OutgoingMessage("a file", files=("file-1",))),
                NewMessage(store.lobby_id, bob.id, OutgoingMessage("lobby")),
            ]
        )
        await store.refresh_thread_summaries([first.message.id])
        await store.edit_message(
            group.id,
            first.message.id,
            "edited @bob",
            _allow,
            mentions=(bob.id,),
            mentions_room=True,
        )
        await store.react(
            group.id, first.message.id, bob.id, "👍", add=True, max_emoji=20, check=_allow
        )
        await store.delete_message(store.lobby_id, first.message.id + 3, _allow)
        await store.remove_member(
            group.id, bob.id, audit=None, keep_an_owner=False, by_id=alice.id, reason="é spam"
        )
        read = await store.committed_after(0, limit=100)
    kinds = {type(item).__name__ for item, _room in read}
    assert kinds == {"Message", "Change", "Departure"} and len(read) == 9
    (thread,) = [item for item, _room in read if isinstance(item, Change) and item.thread]
    assert (thread.kind, thread.message_id, thread.thread.replies) == (
        "thread",
        first.message.id,
        1,
    )
    assert any(isinstance(item, Message) and item.files for item, _room in read)
    assert _roundtrip(read) == read


def _message(position: int, body: str) -> tuple[Message, Room]:
    at = datetime(2026, 11, 24, 12, 0, 0, 123456, tzinfo=UTC)
    room = Room(1, None, "lobby", False, None, at)
    return Message(position, 1, 7, "alice", body, at, files=(FileRef("f", "n", 1, "t"),)), room


def test_items_are_split_across_payloads_that_each_fit_the_bus() -> None:
    items = [_message(position, "x" * 500) for position in range(1, 61)]
    payloads = pack(items, 0, 7900)
    sealed = [Envelope("c" * 32, "i" * 12).seal_carried(payload) for payload in payloads]
    assert len(payloads) > 1
    assert all(len(text) <= 7900 for text in sealed)
    assert all(json.loads(text)["event"]["type"] == "carried" for text in sealed)
    assert _roundtrip(items) == items


def test_each_item_keeps_its_own_room_when_the_room_changes_within_a_payload() -> None:
    # Items of one room share its decoded fields only while the fields are the same.
    (first, room), (second, _) = _message(1, "before"), _message(2, "after")
    renamed = Room(room.id, "renamed", "group", True, 7, room.created_at)
    items = [(first, room), (second, renamed), (_message(3, "again")[0], room)]
    assert len(pack(items, 0, 7900)) == 1
    assert _roundtrip(items) == items


def test_an_item_too_large_for_the_bus_becomes_a_read_marker() -> None:
    small, large = _message(1, "hi"), _message(2, "\u00e9" * 2000)  # 6 bytes each, escaped
    payloads = pack([small, large], 0, 7900)
    assert len(payloads) == 1
    assert payloads[0].read == 2 and len(payloads[0].texts) == 1
    opened = Envelope("chat", "b").open(Envelope("chat", "a").seal_carried(payloads[0]))
    assert opened is not None
    carried = decode(opened)
    assert carried is not None and carried.read == 2 and carried.items == [small]


def test_a_malformed_payload_decodes_to_nothing() -> None:
    assert decode({"type": "carried", "items": [{"m": [1, 2]}]}) is None
    assert decode({"type": "carried", "items": [{"c": "x", "r": []}]}) is None
    assert decode({"type": "carried"}) is None


def test_nothing_to_carry_packs_no_payload() -> None:
    assert pack([], 0, 7900) == []
    (marker,) = pack([], 9, 7900)
    assert marker.read == 9 and marker.texts == []


async def test_a_notification_refused_after_the_commit_leaves_the_messages_committed(
    postgres_config: Config,
) -> None:
    def too_long(added: list) -> list[tuple[str, str]]:
        return [("chat_events", "x" * 9000)]  # NOTIFY refuses 8000 bytes and more

    def broken(added: list) -> list[tuple[str, str]]:
        raise RuntimeError("a bug in packing")

    async with open_store(postgres_config) as store:
        alice = await store.create_user("alice", "hash")
        first = await store.add_messages(
            [NewMessage(store.lobby_id, alice.id, OutgoingMessage("a"))], notify=too_long
        )
        second = await store.add_messages(
            [NewMessage(store.lobby_id, alice.id, OutgoingMessage("b"))], notify=broken
        )
        stored = await store.latest_messages(store.lobby_id, 10)
    assert [m.body for m in stored] == ["a", "b"]
    assert [first[0].message, second[0].message] == stored


def test_an_instance_ignores_its_own_payloads_heard_back_and_other_chats() -> None:
    (payload,) = pack([_message(1, "hi")], 0, 7900)
    mine, other_instance = Envelope("chat", "a"), Envelope("chat", "b")
    other_chat = Envelope("another", "c")
    sealed = mine.seal_carried(payload)
    assert mine.open(sealed) is None
    assert other_chat.open(sealed) is None
    assert other_instance.open(sealed) is not None
    assert mine.open(other_instance.seal({"type": "x"})) == {"type": "x"}


# --- named fields: instances one version apart ---


def _change(position: int) -> tuple[Change, Room]:
    at = datetime(2026, 11, 24, 12, 0, 0, 123456, tzinfo=UTC)
    room = Room(2, "ops", "group", True, 7, at)
    newly = EditedMentions(7, (9,), room=True, before=(8,))
    reactions = (Reaction("👍", 2, (7, 9)),)
    change = Change(position, 2, 1, "edited", at, "hi @bob", reactions, (9,), True, newly)
    return change, room


def _carried(*items: dict[str, Any]) -> dict[str, Any]:
    """The event a payload of `items` (as `encode` made them, perhaps changed) opens to."""
    payload = Payload([json.dumps(item, separators=(",", ":")) for item in items])
    event = Envelope("chat", "b").open(Envelope("chat", "newer").seal_carried(payload))
    assert event is not None
    return event


def test_fields_a_newer_instance_carries_that_this_one_does_not_know_are_ignored() -> None:
    message, room = _message(1, "from the next version")
    change, group = _change(2)
    newer_message, newer_change = encode(message, room), encode(change, group)
    newer_message["m"]["zz"] = "a field of the next version"
    newer_message["m"]["f"][0]["zz"] = [1, 2]  # of a file
    newer_message["r"]["zz"] = {"nested": True}  # of a room
    newer_message["zz"] = None  # of the item itself
    newer_change["c"]["zz"] = 3
    newer_change["c"]["w"]["zz"] = 4  # of who an edit newly mentions
    newer_change["c"]["x"][0]["zz"] = 5  # of a reaction
    carried = decode({**_carried(newer_message, newer_change), "zz": "of the event"})
    assert carried is not None
    assert carried.items == [(message, room), (change, group)]


def test_a_field_an_older_instance_does_not_carry_takes_its_default() -> None:
    at = datetime(2026, 11, 24, 12, 0, 0, 123456, tzinfo=UTC)
    room = Room(3, None, "direct", True, None, at, pair=(7, 9))
    message = Message(
        1,
        3,
        7,
        "alice",
        "hi",
        at,
        "c-1",
        reply_to=41,
        mentions=(9,),
        thread_id=40,
        also_to_room=True,
    )
    older = encode(message, room)
    # As if this version had no ClientMsgID, replies, mentions, threads.
    for key in ("k", "p", "m", "h", "o"):
        del older["m"][key]
    del older["r"]["u"]  # nor the pair of a direct room
    carried = decode(_carried(older))
    assert carried is not None
    ((decoded, decoded_room),) = carried.items
    assert decoded == Message(1, 3, 7, "alice", "hi", at)
    assert decoded_room == Room(3, None, "direct", True, None, at)


def test_a_field_at_its_default_is_left_out_of_the_payload() -> None:
    message, room = _message(1, "plain")
    encoded = encode(replace(message, files=()), room)
    # Only what a plain lobby message says: no nulls, no empty lists, no false flags.
    assert set(encoded["m"]) == {"i", "r", "s", "n", "b", "t"}
    assert set(encoded["r"]) == {"i", "n", "k", "t"}


def test_a_required_field_missing_or_an_item_of_an_unknown_kind_decodes_to_nothing() -> None:
    message, room = _message(1, "hi")
    for key in ("i", "b", "t"):
        broken = encode(message, room)
        del broken["m"][key]
        assert decode(_carried(broken)) is None, key
    assert decode(_carried({"poll": {"i": 1}, "r": encode(message, room)["r"]})) is None
    assert decode(_carried({"m": {**encode(message, room)["m"], "i": "one"}})) is None


def test_payloads_of_named_fields_still_fit_the_bus_with_the_longest_ids_and_marker() -> None:
    # A chat's id is 32 hex digits, an instance's 12; a read marker up to 19 digits.
    items = [_message(position, "é" * (position % 700)) for position in range(1, 400)]
    items += [_change(position) for position in range(400, 500)]
    payloads = pack(items, 2**63 - 1, MAX_PAYLOAD_BYTES)
    sealed = [Envelope("c" * 32, "0" * 12).seal_carried(payload) for payload in payloads]
    assert len(payloads) > 10
    assert max(len(text) for text in sealed) <= MAX_PAYLOAD_BYTES
    assert _roundtrip(items) == items


async def test_a_message_carried_with_fields_this_version_does_not_know_reaches_subscribers(
    nursery: trio.Nursery, postgres_config: Config
) -> None:
    server = await start_server(nursery, postgres_config)
    alice = await account(server, "alice")
    async with open_store(postgres_config) as store, open_clients(server) as clients:
        assert isinstance(store, PostgresStore)
        ws = await entered(clients, alice, store.lobby_id)
        lobby = await store.room_by_id(store.lobby_id)
        assert lobby is not None
        # The next position, carried by a newer instance: nothing in the table, so only
        # the payload can deliver it.
        position = await store.last_position() + 1
        at = datetime.now(UTC)
        newer = encode(Message(position, lobby.id, alice.uid, "alice", "from v+1", at), lobby)
        newer["m"]["zz"] = "a field of the next version"
        newer["r"]["zz"] = 1
        before = await scrape(server)
        envelope = Envelope(store.cluster_id, "a-newer-instance")
        payload = Payload([json.dumps(newer, separators=(",", ":"))])
        await store.notify(EVENTS_CHANNEL, envelope.seal_carried(payload))
        frame = await ws.receive()
        after = await scrape(server)
    assert (frame["Type"], frame["MessageID"], frame["Text"]) == ("message", position, "from v+1")
    assert value(after, CARRIED_ITEMS, direction="in") == 1
    assert _table_reads(after) == _table_reads(before)  # it came from the payload


CARRIED_ITEMS = "chat_bus_carried_items_total"


def _table_reads(samples: Samples) -> float:
    return sum(v for (name, _labels), v in samples.items() if name == "chat_bus_table_reads_total")
