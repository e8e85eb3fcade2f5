"""Which thread an activity frame names (`chat.app.people.activity_windows`): a user told
of a room's window because a thread reply called them (they follow its thread, it names
them, or it calls the whole room, someone else sending) is told the thread's root, the
newest such reply's when several threads did; a user told of room messages only is told
no thread."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from chat.app.people.activity_windows import ActivityWindow, activity_frame
from chat.core.records import Message, Room

ROOM = Room(7, "ops", "group", False, 1, datetime(2026, 11, 27, tzinfo=UTC))
ALICE, BOB, CAT = 1, 2, 3


def _message(message_id: int, sender_id: int, **fields: Any) -> Message:
    return Message(
        message_id, ROOM.id, sender_id, "x", "text", datetime(2026, 11, 27, tzinfo=UTC), **fields
    )


def test_a_follower_told_of_a_reply_is_told_its_thread() -> None:
    window = ActivityWindow(ROOM, 0.0)
    reply = _message(11, BOB, thread_id=10)
    window.add_message(reply)
    window.add_followers(reply, frozenset({ALICE}))
    assert window.heard_by(ALICE) == (True, False)
    assert window.thread_of(ALICE) == 10


def test_the_newest_calling_reply_names_the_thread_whichever_was_found_first() -> None:
    window = ActivityWindow(ROOM, 0.0)
    newer = _message(21, BOB, thread_id=20, mentions=(ALICE,))
    older = _message(12, BOB, thread_id=10)
    window.add_message(newer)
    window.add_followers(older, frozenset({ALICE}))  # followers are found later
    assert window.thread_of(ALICE) == 20


def test_a_reply_calling_the_room_names_its_thread_to_all_but_its_sender() -> None:
    window = ActivityWindow(ROOM, 0.0)
    window.add_message(_message(11, BOB, thread_id=10, mentions_room=True))
    assert (window.thread_of(ALICE), window.thread_of(CAT), window.thread_of(BOB)) == (
        10,
        10,
        None,
    )


def test_room_messages_alone_name_no_thread_and_a_telling_forgets_threads() -> None:
    window = ActivityWindow(ROOM, 0.0)
    window.add_message(_message(11, BOB))
    assert window.heard_by(ALICE) == (True, False) and window.thread_of(ALICE) is None
    window.add_followers(_message(12, BOB, thread_id=10), frozenset({ALICE}))
    window.told(1.0)
    assert window.thread_of(ALICE) is None


def test_the_frame_carries_the_thread_only_when_there_is_one() -> None:
    def decoded(thread_id: int | None) -> object:
        frame = activity_frame(ROOM.id, 11, False, thread_id)
        return json.loads(frame[2:])  # past the two bytes of a short frame's header

    assert decoded(None) == {"Type": "activity", "RoomID": 7, "MessageID": 11, "Mention": False}
    assert decoded(10) == {
        "Type": "activity",
        "RoomID": 7,
        "MessageID": 11,
        "Mention": False,
        "ThreadID": 10,
    }
