"""`RoomWindow` and `RecentWindows` (chat/app/history/windows.py): a room's newest messages,
kept as the table would read them by applying the stream of commits.

These test the data structure against a plain model of the table (every message, every
change applied); the server-level test, cache against the real table on both backends, is
tests/test_history_from_memory.py."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from chat.app.history.windows import RecentWindows, RoomWindow, changed, cost
from chat.core.records import Change, FileRef, Message, Reaction, Room

T0 = datetime(2026, 11, 24, tzinfo=UTC)


def room(room_id: int) -> Room:
    return Room(room_id, f"room {room_id}", "group", False, None, T0)


def message(message_id: int, body: str = "", room_id: int = 1) -> Message:
    return Message(
        id=message_id,
        room_id=room_id,
        sender_id=7,
        sender_name="alice",
        body=body or f"m{message_id}",
        created_at=T0 + timedelta(seconds=message_id),
        mentions=(3,),
        files=(FileRef("f", "a.txt", 1, "text/plain"),),
    )


def change(seq: int, message_id: int, kind: str, **fields: object) -> Change:
    return Change(
        seq=seq,
        room_id=1,
        message_id=message_id,
        kind=kind,
        at=T0 + timedelta(seconds=seq),
        **fields,  # type: ignore[arg-type]
    )


def test_an_edit_leaves_the_new_text_its_time_and_its_mentions() -> None:
    edited = changed(message(1), change(2, 1, "edited", text="new", mentions=(4,)))
    assert (edited.body, edited.edited_at, edited.mentions) == (
        "new",
        T0 + timedelta(seconds=2),
        (4,),
    )
    assert edited.files == message(1).files  # an edit keeps the files


def test_a_deletion_leaves_the_tombstone_the_table_keeps() -> None:
    gone = changed(message(1), change(2, 1, "deleted"))
    assert gone.deleted and gone.body == "" and gone.edited_at is None
    assert (gone.reactions, gone.mentions, gone.mentions_room, gone.files) == ((), (), False, ())
    assert (gone.sender_id, gone.created_at) == (7, message(1).created_at)


def test_a_reaction_change_replaces_the_whole_reaction_state() -> None:
    state = (Reaction("👍", 2, (7, 8)),)
    assert changed(message(1), change(2, 1, "reactions", reactions=state)).reactions == state


def test_an_unknown_change_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown change kind"):
        changed(message(1), change(2, 1, "moved"))


def test_a_window_read_from_a_short_room_holds_all_of_it() -> None:
    window = RoomWindow(1, [message(1), message(2)], through=2, per_room=5)
    assert window.floor == 0
    assert [m.id for m in window.latest(10, skip_deleted=False) or []] == [1, 2]


def test_a_window_of_a_long_room_cannot_answer_beyond_what_it_holds() -> None:
    window = RoomWindow(1, [message(i) for i in range(1, 11)], through=10, per_room=3)
    assert window.floor == 7
    assert [m.id for m in window.latest(3, skip_deleted=False) or []] == [8, 9, 10]
    assert window.latest(4, skip_deleted=False) is None


def test_deleted_messages_are_skipped_only_when_asked() -> None:
    window = RoomWindow(1, [message(1), message(2)], through=2, per_room=5)
    window.apply(change(3, 2, "deleted"))
    assert [m.id for m in window.latest(2, skip_deleted=True) or []] == [1]
    assert [m.id for m in window.latest(2, skip_deleted=False) or []] == [1, 2]


def test_new_messages_push_the_oldest_out_and_raise_the_floor() -> None:
    window = RoomWindow(1, [message(1), message(2)], through=2, per_room=2)
    window.apply(message(3))
    assert (window.floor, len(window)) == (1, 2)
    assert window.messages_between(0, 3) is None
    assert [m.id for m in window.messages_between(1, 3) or []] == [2, 3]


def test_a_late_commit_takes_its_place_in_id_order() -> None:
    window = RoomWindow(1, [message(1)], through=1, per_room=5)
    window.apply(message(3))
    window.apply(message(2))
    assert [m.id for m in window.latest(5, skip_deleted=False) or []] == [1, 2, 3]


def test_an_item_the_read_already_saw_changes_nothing() -> None:
    read = changed(message(1), change(2, 1, "edited", text="after"))
    window = RoomWindow(1, [read], through=1, per_room=5)
    window.apply(message(1))  # published after the read began
    window.apply(change(2, 1, "edited", text="after"))
    assert (window.latest(1, skip_deleted=False) or [])[0].body == "after"


def test_changes_are_answered_only_after_the_window_opened() -> None:
    window = RoomWindow(1, [message(1)], through=1, per_room=5)
    window.apply(change(2, 1, "edited", text="x"))
    assert [c.seq for c in window.changes_between(1, 2) or []] == [2]
    assert window.changes_between(0, 2) is None  # a change at position 1 would be unknown
    assert window.changes_between(1, 3) is None  # position 3 is not here yet


def test_expiry_drops_the_rooms_messages_up_to_the_id() -> None:
    window = RoomWindow(1, [message(i) for i in range(1, 5)], through=4, per_room=10)
    window.expired(2)
    assert [m.id for m in window.latest(10, skip_deleted=False) or []] == [3, 4]


def test_expiry_past_the_floor_leaves_a_window_holding_all_there_is() -> None:
    window = RoomWindow(1, [message(i) for i in range(1, 11)], through=10, per_room=4)
    assert window.latest(5, skip_deleted=False) is None  # 6 and older: not here
    window.expired(7)
    assert [m.id for m in window.latest(5, skip_deleted=False) or []] == [8, 9, 10]


def test_expiry_below_the_floor_leaves_the_window_unable_to_answer_further() -> None:
    window = RoomWindow(1, [message(i) for i in range(1, 11)], through=10, per_room=4)
    window.expired(3)  # 4, 5 and 6 remain in the table, not in the window
    assert window.latest(5, skip_deleted=False) is None


def test_the_least_recently_used_room_is_evicted() -> None:
    recent = RecentWindows(max_rooms=2)
    recent.open(1, [], through=0)
    recent.open(2, [], through=0)
    assert recent.window(1) is not None  # 1 is now the most recently used
    recent.open(3, [], through=0)
    assert (recent.window(2), recent.evictions) == (None, 1)
    assert recent.window(1) is not None and recent.window(3) is not None


def test_a_batch_reaches_only_the_rooms_with_a_window() -> None:
    recent = RecentWindows()
    window = recent.open(1, [], through=0)
    recent.offer([(message(1), room(1)), (message(2, room_id=2), room(2))])
    assert [m.id for m in window.latest(5, skip_deleted=False) or []] == [1]
    assert recent.window(2) is None


def test_the_memory_ceiling_evicts_the_least_recently_asked_about_rooms() -> None:
    one_room = RoomWindow(1, [message(1), message(2)], through=2).bytes
    recent = RecentWindows(max_bytes=2 * one_room)
    recent.open(1, [message(1), message(2)], through=2)
    recent.open(2, [message(1, room_id=2), message(2, room_id=2)], through=2)
    recent.window(1)  # asked about: room 2 is now the least recently used
    recent.open(3, [message(1, room_id=3), message(2, room_id=3)], through=2)
    assert (recent.window(1) is not None, recent.window(2), recent.window(3) is not None) == (
        True,
        None,
        True,
    )
    assert (recent.bytes, recent.evictions) == (2 * one_room, 1)


def test_a_window_that_grows_past_the_ceiling_evicts_older_rooms() -> None:
    recent = RecentWindows()
    recent.open(1, [message(i) for i in range(1, 6)], through=5)  # the larger, older room
    recent.open(2, [message(6, room_id=2)], through=6)
    recent.max_bytes = recent.bytes + 10  # room 2's next message takes it past the ceiling
    recent.offer([(message(7, "a longer text than before", room_id=2), room(2))])
    assert recent.window(1) is None and recent.window(2) is not None
    assert recent.bytes <= recent.max_bytes


def test_forgetting_gives_back_what_a_window_held() -> None:
    recent = RecentWindows()
    recent.open(1, [message(1)], through=1)
    recent.open(2, [message(2, room_id=2)], through=2)
    recent.forget_room(1)
    assert recent.bytes == cost(message(2, room_id=2))
    recent.forget_all()
    assert (recent.bytes, len(recent)) == (0, 0)


def test_items_published_while_the_table_was_read_are_applied_on_opening() -> None:
    recent = RecentWindows()
    # Read: message 1 as of the read; meanwhile message 2 came and 1 was edited.
    window = recent.open(
        1,
        [message(1)],
        through=1,
        then=[message(2), change(3, 1, "edited", text="new")],
        ready_at=3,
    )
    assert [m.body for m in window.latest(5, skip_deleted=False) or []] == ["new", "m2"]
    assert window.ready_at == 3


@pytest.mark.parametrize("seed", range(20))
def test_random_streams_leave_the_window_as_the_table_reads(seed: int) -> None:
    chooser = random.Random(seed)
    table: dict[int, Message] = {}
    stream: list[Message | Change] = []
    position = 0

    def commit(item: Message | Change) -> None:
        if isinstance(item, Message):
            table[item.id] = item
        else:
            table[item.message_id] = changed(table[item.message_id], item)
        stream.append(item)

    for _ in range(chooser.randrange(0, 30)):  # the room's past, before the window opens
        position += 1
        alive = [m.id for m in table.values() if not m.deleted]
        if alive and chooser.random() < 0.3:
            kind = chooser.choice(["edited", "deleted"])
            commit(change(position, chooser.choice(alive), kind, text=f"p{position}"))
        else:
            commit(message(position))
    per_room = chooser.randrange(1, 12)
    newest = sorted(table.values(), key=lambda m: m.id)[-per_room:]
    opened_at = position
    if chooser.random() < 0.5:  # opened from the messages alone: changes from now on
        window = RoomWindow(1, newest, through=position, per_room=per_room)
    else:  # and from the changes since its oldest message (chat.app.history.from_memory)
        floor = 0 if len(newest) < per_room else newest[0].id - 1
        read = [c for c in stream if isinstance(c, Change) and c.seq > floor][-per_room - 1 :]
        window = RoomWindow(
            1, newest, through=position, per_room=per_room, changes=read, changes_floor=floor
        )
        opened_at = min(opened_at, window.changes_floor)

    for _ in range(80):
        position += 1
        live = [m for m in table.values() if not m.deleted]
        roll = chooser.random()
        if roll < 0.05 and table:  # a retention pass: the oldest messages, rows and all
            up_to = chooser.choice(sorted(table))
            for gone in [i for i in table if i <= up_to]:
                del table[gone]
            window.expired(up_to)
            position -= 1  # an expiry takes no position
            continue
        if roll < 0.4 or not live:
            item: Message | Change = message(position)
        else:
            target = chooser.choice(live).id
            if roll < 0.6:
                item = change(position, target, "edited", text=f"e{position}", mentions=(5,))
            elif roll < 0.8:
                item = change(position, target, "reactions", reactions=(Reaction("🎉", 1, (9,)),))
            else:
                item = change(position, target, "deleted")
        commit(item)
        window.apply(item)

        ordered = sorted(table.values(), key=lambda m: m.id)
        count = chooser.randrange(1, 15)
        for skip in (False, True):
            answer = window.latest(count, skip_deleted=skip)
            if answer is not None:
                wanted = [m for m in ordered if not (skip and m.deleted)][-count:]
                assert answer == wanted, (seed, count, skip)
        since = chooser.randrange(0, position + 1)
        messages = window.messages_between(since, position)
        if messages is not None:
            assert messages == [m for m in ordered if m.id > since]
        changes = window.changes_between(since, position)
        if changes is not None:
            assert since >= opened_at
            assert changes == [
                c
                for c in stream
                if isinstance(c, Change) and c.seq > since and c.message_id in table
            ]
    # The window kept its bound, and can always answer for its own newest message.
    assert len(window) <= per_room
    # Its size is what it holds, however items came and went.
    held = window.latest(per_room, skip_deleted=False) or []
    kept = window.changes_between(window.changes_floor, window.through) or []
    assert window.bytes == sum(map(cost, held)) + sum(map(cost, kept))
    if table:
        assert window.latest(1, skip_deleted=False) == [table[max(table)]]


def test_thread_replies_never_push_room_messages_out_of_a_window() -> None:
    window = RoomWindow(1, [message(1), message(2)], through=2, per_room=3)
    for reply_id in range(3, 10):
        window.apply(replace(message(reply_id), thread_id=1))
    window.apply(replace(message(10), thread_id=1, also_to_room=True))
    assert window.floor == 0 and window.through == 10
    assert [m.id for m in window.latest(5, skip_deleted=False) or []] == [1, 2, 10]
    assert [m.id for m in window.messages_between(0, 10) or []] == [1, 2, 10]
