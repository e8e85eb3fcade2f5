"""Items handed to the message writer without a table read, held by position
(chat/reorder_buffer.py): what the writer may publish next, and when it must read the
table instead. The writer's use of them is covered by tests/test_message_writer.py and
the cluster tests."""

from __future__ import annotations

from datetime import UTC, datetime

from chat.app.messages import reorder_buffer
from chat.app.messages.reorder_buffer import ReorderBuffer
from chat.core.records import Message, Room

ROOM = Room(
    id=1,
    name="lobby",
    kind="lobby",
    is_private=False,
    creator_id=None,
    created_at=datetime(2026, 1, 1, tzinfo=UTC),
)


def item(position: int) -> tuple[Message, Room]:
    message = Message(position, ROOM.id, 7, "ann", f"m{position}", datetime(2026, 1, 1, tzinfo=UTC))
    return message, ROOM


def positions(run: list[tuple[Message, Room]]) -> list[int]:
    return [message.position for message, _room in run]


def test_a_run_stops_at_the_first_missing_position() -> None:
    held = ReorderBuffer()
    held.hold([item(11), item(12), item(14)], 0, published=10)
    assert positions(held.take_run(after=10)) == [11, 12]
    assert held.take_run(after=12) == []  # 13 has not come


def test_an_item_that_fills_the_gap_releases_what_waited_behind_it() -> None:
    held = ReorderBuffer()
    held.hold([item(12), item(13)], 0, published=10)
    assert held.take_run(after=10) == []
    held.hold([item(11)], 0, published=10)
    assert positions(held.take_run(after=10)) == [11, 12, 13]


def test_a_run_ends_before_the_position_asked() -> None:
    held = ReorderBuffer()
    held.hold([item(11), item(12), item(13)], 0, published=10)
    assert positions(held.take_run(after=10, before=13)) == [11, 12]
    assert positions(held.take_run(after=12)) == [13]


def test_items_already_published_are_not_held() -> None:
    held = ReorderBuffer()
    top = held.hold([item(9), item(10), item(11)], 0, published=10)
    assert top == 11
    assert positions(held.take_run(after=8)) == []  # 9 and 10 were never held
    assert positions(held.take_run(after=10)) == [11]


def test_a_read_marker_only_moves_forward() -> None:
    held = ReorderBuffer()
    assert held.hold([], 20, published=10) == 20
    held.hold([], 15, published=10)
    assert held.read_up_to == 20


def test_past_the_bound_the_rest_becomes_a_read_marker(monkeypatch) -> None:
    monkeypatch.setattr(reorder_buffer, "MAX_HELD", 3)
    held = ReorderBuffer()
    top = held.hold([item(p) for p in range(11, 17)], 0, published=10)
    assert top == 16
    assert held.read_up_to == 16  # 14-16 were not held: the table has them
    assert positions(held.take_run(after=10)) == [11, 12, 13]


def test_items_read_from_the_table_are_forgotten() -> None:
    held = ReorderBuffer()
    held.hold([item(11), item(12), item(14)], 0, published=10)
    held.drop_through(12)
    assert held.take_run(after=10) == []
    assert positions(held.take_run(after=13)) == [14]
