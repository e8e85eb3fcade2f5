"""What the bus carries between instances (`chat.bus.carried`): committed messages and
changes equal to the ones a table read gives, packed into payloads the bus takes."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from chat.bus import Envelope
from chat.bus.carried import decode, pack
from chat.core.config import Config
from chat.core.outgoing import OutgoingMessage
from chat.core.records import FileRef, Message, Room, StoredFile
from chat.store import NewMessage, open_store


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


async def test_carried_messages_and_changes_equal_what_the_table_gives(config: Config) -> None:
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
                    OutgoingMessage("answer", reply_to=first.message.id, mentions_room=True),
                ),
                NewMessage(direct.id, alice.id, OutgoingMessage("a file", files=("file-1",))),
                NewMessage(store.lobby_id, bob.id, OutgoingMessage("lobby")),
            ]
        )
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
        read = await store.committed_after(0, limit=100)
    kinds = {type(item).__name__ for item, _room in read}
    assert kinds == {"Message", "Change"} and len(read) == 7
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
