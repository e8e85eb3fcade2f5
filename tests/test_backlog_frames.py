"""A resumed room's backlog frames: each message encoded once for the clients that resume
with it (`chat.ws.rooms._backlog_frame`, through the memo pages share,
`chat.core.message_json`, whose bound tests/test_message_json.py checks), and never a
stale frame for a changed one."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime

from chat.core import message_json
from chat.core.records import Change, Message
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
    first = rooms._backlog_frame(message)
    kept = message_json._memo[id(message)]  # encoded once, kept for the next client
    assert kept[0] is message
    assert rooms._backlog_frame(message) == first == '{"Type":"message",' + kept[1][1:]


def test_a_change_in_a_backlog_is_the_rooms_frame_of_the_change() -> None:
    change = Change(
        seq=9,
        room_id=7,
        message_id=1,
        kind="edited",
        at=datetime(2026, 11, 30, tzinfo=UTC),
        text="after",
    )
    assert rooms._backlog_frame(change) == rooms._item_frame(change)


def test_an_edited_copy_of_an_item_gets_a_frame_of_its_own() -> None:
    message = _message(3, "before")
    rooms._backlog_frame(message)
    edited = dataclasses.replace(message, body="after")
    assert json.loads(rooms._backlog_frame(edited))["Text"] == "after"
    assert json.loads(rooms._backlog_frame(message))["Text"] == "before"
