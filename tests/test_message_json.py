"""A message's JSON for pages of ``GET /messages``, kept per message object
(`chat.core.message_json`)."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime

from chat.core import message_json as memo
from chat.core import shapes
from chat.core.message_json import MEMO_SIZE, message_json, page_response
from chat.core.records import FileRef, Message, Reaction


def _message(message_id: int = 7, body: str = "grüß dich 👋") -> Message:
    return Message(
        id=message_id,
        room_id=3,
        sender_id=11,
        sender_name="zoë",
        body=body,
        created_at=datetime(2026, 11, 25, 10, 0, 0, 123000, tzinfo=UTC),
        client_msg_id="c-1",
        reply_to=5,
        reactions=(Reaction("👍", 2, (11, 12)),),
        mentions=(12,),
        files=(FileRef("f1", "a.png", 10, "image/png", 4, 3),),
    )


def test_a_messages_json_is_its_room_message_shape() -> None:
    message = _message()
    assert json.loads(message_json(message)) == shapes.room_message(message)


def test_the_same_message_is_encoded_once() -> None:
    message = _message()
    assert message_json(message) is message_json(message)


def test_a_changed_message_gets_its_own_json() -> None:
    message = _message()
    before = json.loads(message_json(message))
    edited = replace(message, body="edited", edited_at=datetime(2026, 11, 25, 11, tzinfo=UTC))
    after = json.loads(message_json(edited))
    assert (before["Text"], after["Text"]) == ("grüß dich 👋", "edited")
    assert after["EditedAt"] == "2026-11-25T11:00:00.000Z"


def test_the_memo_holds_at_most_memo_size_messages() -> None:
    kept = [_message(message_id=n) for n in range(MEMO_SIZE + 100)]
    for message in kept:
        message_json(message)
    assert len(memo._memo) <= MEMO_SIZE
    # The newest stay; their JSON is still theirs.
    assert json.loads(message_json(kept[-1]))["MessageID"] == MEMO_SIZE + 99


async def test_a_page_is_a_json_array_in_the_pages_order() -> None:
    page = [_message(message_id=9, body="newer"), _message(message_id=8, body="older")]
    response = page_response(page)
    assert response.mimetype == "application/json"
    body = json.loads(await response.get_data(as_text=True))
    assert [m["MessageID"] for m in body] == [9, 8]
    assert body == [shapes.room_message(m) for m in page]


async def test_an_empty_page_is_an_empty_array() -> None:
    assert json.loads(await page_response([]).get_data(as_text=True)) == []
