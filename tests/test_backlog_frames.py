"""A resumed room's backlog frames: each item encoded once for the clients that resume
with it (`chat.ws.rooms._backlog_frame`), and never a stale frame for a changed item."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime

from chat.core.records import Message
from chat.ws import rooms


def _message(message_id: int, body: str = "hello") -> Message:
    return Message(
        id=message_id,
        room_id=7,
        sender_id=3,
        sender_name="ann",
        body=body,
        created_at=datetime(2026, 11, 30, 12, 0, tzinfo=UTC),
    )


def test_a_backlog_frame_is_the_rooms_frame_of_the_item() -> None:
    message = _message(1)
    assert rooms._backlog_frame(message) == rooms._item_frame(message)


def test_clients_resuming_with_the_same_item_share_one_encoding() -> None:
    message = _message(2)
    assert rooms._backlog_frame(message) is rooms._backlog_frame(message)


def test_an_edited_copy_of_an_item_gets_a_frame_of_its_own() -> None:
    message = _message(3, "before")
    rooms._backlog_frame(message)
    edited = dataclasses.replace(message, body="after")
    assert json.loads(rooms._backlog_frame(edited))["Text"] == "after"
    assert json.loads(rooms._backlog_frame(message))["Text"] == "before"


def test_the_frames_kept_are_bounded() -> None:
    for message_id in range(rooms.BACKLOG_FRAMES_KEPT + 10):
        rooms._backlog_frame(_message(1000 + message_id))
    assert len(rooms._backlog_frames) == rooms.BACKLOG_FRAMES_KEPT
