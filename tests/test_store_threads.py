"""Threads in the store (both engines): a thread's root, a thread's pages and a room's
threads; a room's pages hold its main timeline, which leaves out thread replies not also
sent to the room, through the partial index of the main timeline
(sql/*/NNNN_threads.sql)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest
from support import add_message, execute_sql, select_rows, while_a_transaction_holds

from chat.core.config import Config
from chat.core.errors import InvalidInput
from chat.core.outgoing import OutgoingMessage
from chat.core.records import Message, NewMessage, Room, StoredFile, User
from chat.store import Store, open_store
from chat.store.messages import _MESSAGES_AFTER, _PAGE


def _accept(message: Message | None) -> None:
    assert message is not None


async def _a_root(store: Store) -> tuple[User, Room, Message]:
    """Alice, a room of hers, and her first message there (a thread's root to be)."""
    alice = await store.create_user("alice", "hash")
    room = await store.create_room("here", is_private=False, creator_id=alice.id)
    return alice, room, await add_message(store, room.id, alice.id, "root")


async def test_a_thread_root_is_a_visible_message_of_the_room_or_the_root_of_its_thread(
    config: Config,
) -> None:
    async with open_store(config) as store:
        alice, room, root = await _a_root(store)
        (reply,) = await store.add_messages(
            [NewMessage(room.id, alice.id, OutgoingMessage("re", thread_id=root.id))]
        )
        gone = await add_message(store, room.id, alice.id, "gone")
        await store.delete_message(room.id, gone.id, _accept)
        assert await store.thread_root(room.id, root.id) == root.id
        assert await store.thread_root(room.id, reply.message.id) == root.id
        assert await store.thread_root(store.lobby_id, root.id) is None
        assert await store.thread_root(room.id, gone.id) is None
        assert await store.thread_root(room.id, gone.id + 1) is None


async def test_a_thread_reply_to_a_root_gone_from_the_table_is_refused_with_nothing_stored(
    config: Config,
) -> None:
    async with open_store(config) as store:
        alice, room, root = await _a_root(store)
        await execute_sql(config, f"DELETE FROM messages WHERE id = {root.id}")  # retention
        try:
            await store.add_messages(
                [NewMessage(room.id, alice.id, OutgoingMessage("re", thread_id=root.id))]
            )
        except InvalidInput as error:
            assert str(error) == f"ThreadID {root.id} is not a message of room {room.id}"
        else:
            raise AssertionError("a reply in a thread whose root is gone was stored")
        assert await store.latest_messages(room.id, 10) == []


@pytest.mark.parametrize("field", ["ThreadID", "ReplyTo"])
async def test_a_message_deleted_while_an_answer_waits_for_the_positions_lock_refuses_it(
    postgres_config: Config, field: str
) -> None:
    # The answer's statement takes its snapshot before it waits for the lock the deletion
    # holds to its commit: whether the root shows is looked at after the lock.
    assert postgres_config.database_url is not None
    async with open_store(postgres_config) as store:
        alice, room, root = await _a_root(store)
        sent = (
            OutgoingMessage("re", thread_id=root.id)
            if field == "ThreadID"
            else OutgoingMessage("re", reply_to=root.id)
        )
        outcome = await while_a_transaction_holds(
            postgres_config.database_url,
            [
                "SELECT chat_lock_positions()",
                f"UPDATE messages SET deleted_at = now() WHERE id = {root.id}",
            ],
            "WITH p AS (SELECT DISTINCT",  # the batch's statement (its head: it is long)
            lambda: store.add_messages([NewMessage(room.id, alice.id, sent)]),
        )
        assert [str(error) for error in outcome if isinstance(error, InvalidInput)] == [
            f"{field} {root.id} is not a message of room {room.id}"
        ]
        stored = await select_rows(postgres_config, "SELECT id FROM messages")
        assert stored == [(root.id,)]


async def test_a_threads_pages_hold_its_root_and_replies_tombstones_included(
    config: Config,
) -> None:
    async with open_store(config) as store:
        alice, room, root = await _a_root(store)
        await add_message(store, room.id, alice.id, "elsewhere")
        replies = await store.add_messages(
            [NewMessage(room.id, alice.id, OutgoingMessage(t, thread_id=root.id)) for t in "abc"]
        )
        await store.delete_message(room.id, replies[1].message.id, _accept)
        assert await store.is_thread_root(room.id, root.id)
        assert not await store.is_thread_root(room.id, replies[0].message.id)
        newest = await store.thread_before(room.id, root.id, None, 10)
        after = await store.thread_after(room.id, root.id, root.id, 2)
        threads = await store.room_threads(room.id, 10)
    assert [(m.body, m.deleted) for m in newest] == [
        ("c", False),
        ("", True),
        ("a", False),
        ("root", False),
    ]
    assert [m.body for m in after] == ["", "a"]
    ((listed, summary),) = threads
    assert (listed.id, summary.replies, summary.participants) == (root.id, 2, (alice.id,))
    assert summary.last_reply_at == replies[2].message.created_at


async def test_a_rooms_pages_leave_out_thread_replies_not_sent_to_the_room(
    config: Config,
) -> None:
    async with open_store(config) as store:
        alice, room, root = await _a_root(store)
        await store.add_messages(
            [
                NewMessage(room.id, alice.id, OutgoingMessage("only", thread_id=root.id)),
                NewMessage(
                    room.id,
                    alice.id,
                    OutgoingMessage("both", thread_id=root.id, also_to_room=True),
                ),
            ]
        )
        await add_message(store, room.id, alice.id, "after")
        before = await store.messages_before(room.id, None, 10)
        after = await store.messages_after(room.id, 0, 10)
        latest = await store.latest_messages(room.id, 10, skip_deleted=True)
    assert [m.body for m in before] == [m.body for m in after] == ["after", "both", "root"]
    assert [m.body for m in latest] == ["root", "both", "after"]


async def test_a_rooms_pages_scan_the_main_timelines_index(config: Config) -> None:
    """A thread's replies cost the room's pages nothing: each page is a range scan of
    the partial index that holds the main timeline only."""
    async with open_store(config) as store:
        alice, room, root = await _a_root(store)
        reply = OutgoingMessage("re", thread_id=root.id)
        await store.add_messages([NewMessage(room.id, alice.id, reply)] * 300)
    await execute_sql(config, "ANALYZE")
    explain = "EXPLAIN " if config.is_postgres else "EXPLAIN QUERY PLAN "
    # Literals: the plan of these values (the newest page; the page after the first).
    for sql, arguments in (
        (_PAGE, (room.id, root.id + 1000, 0, 50)),
        (_MESSAGES_AFTER, (room.id, 0, 50)),
    ):
        for n in range(len(arguments), 0, -1):
            sql = sql.replace(f"${n}", str(arguments[n - 1]))
        plan = " ".join(str(row) for row in await select_rows(config, explain + sql))
        assert "messages_main_timeline" in plan, plan


#: A reply carrying a file is stored by PostgreSQL's transaction, any other by its one
#: statement (chat.store.message_batches): both must write the same follows, and leave
#: the same replies for their summaries to count.
WAYS = pytest.mark.parametrize("with_file", [False, True], ids=["plain", "with a file"])


async def _files(store: Store, uploader: User, with_file: bool, name: str) -> tuple[str, ...]:
    """A file of `uploader`'s to send with a reply, if `with_file`."""
    if not with_file:
        return ()
    at = datetime.now(UTC).replace(microsecond=0)
    await store.add_file(
        StoredFile(name, uploader.id, f"{name}.txt", 1, "text/plain", "ab" * 32, at)
    )
    return (name,)


@WAYS
async def test_the_follow_states_read_back_are_what_an_instance_predicts_from_a_reply(
    config: Config, with_file: bool
) -> None:
    # chat.app.people.thread_follows keeps states in memory by `follows_after`: the
    # store's own writes must agree with it.
    async with open_store(config) as store:
        alice, room, root = await _a_root(store)
        bob, carol, dave, erin = [
            await store.create_user(name, "hash") for name in ("bob", "carol", "dave", "erin")
        ]
        for user in (bob, carol, dave, erin):
            await store.add_member(room.id, user.id)
        await store.follow_thread(carol.id, room.id, root.id, following=False)
        await store.mark_thread_read(erin.id, room.id, root.id, root.id)  # a marker, no choice
        before = (await store.thread_follows([root.id]))[root.id]
        assert before.author_id == alice.id
        assert dict(before.states) == {carol.id: False, erin.id: None}
        files = await _files(store, bob, with_file, "f1")
        sent = OutgoingMessage(
            "re", thread_id=root.id, mentions=(carol.id, dave.id, erin.id), files=files
        )
        (reply,) = await store.add_messages([NewMessage(room.id, bob.id, sent)])
        after = (await store.thread_follows([root.id]))[root.id]
        assert after == before.follows_after(reply.message)
        assert after.followers == {alice.id, bob.id, dave.id, erin.id}
        assert await store.thread_follows([root.id + 1000]) == {}


@WAYS
async def test_batches_of_replies_count_every_reply_and_name_the_first_ten_repliers(
    config: Config, with_file: bool
) -> None:
    async with open_store(config) as store:
        _, room, root = await _a_root(store)
        users = [await store.create_user(f"u{n}", "hash") for n in range(12)]
        for user in users:
            await store.add_member(room.id, user.id)

        def replies(*senders: User) -> list[NewMessage]:
            sent = OutgoingMessage("re", thread_id=root.id)
            return [NewMessage(room.id, sender.id, sent) for sender in senders]

        await store.add_messages(replies(*users[:8]))
        (counted,) = await store.refresh_thread_summaries([root.id])
        later = replies(users[1], *users[8:], users[0])
        files = await _files(store, users[1], with_file, "f1")
        later[0] = replace(later[0], outgoing=replace(later[0].outgoing, files=files))
        second = await store.add_messages(later)
        (change,) = await store.refresh_thread_summaries([root.id])
        assert change.thread is not None
        assert change.thread.replies == 14
        assert change.thread.participants == tuple(user.id for user in users[:10])
        assert change.thread.last_reply_at == second[-1].message.created_at
        assert change.seq > second[-1].message.id > counted.seq
        (shown,) = await store.thread_before(room.id, root.id, root.id + 1, 1)
        assert shown.thread == change.thread


@WAYS
async def test_a_refresh_of_two_threads_changes_each_after_their_replies(
    config: Config, with_file: bool
) -> None:
    async with open_store(config) as store:
        alice, room, root = await _a_root(store)
        other = await add_message(store, room.id, alice.id, "another root")
        files = await _files(store, alice, with_file, "f1")
        rows = [
            NewMessage(room.id, alice.id, OutgoingMessage(text, thread_id=thread, files=files))
            for text, thread, files in (
                ("a", root.id, files),
                ("b", other.id, ()),
                ("c", root.id, ()),
            )
        ]
        added = await store.add_messages(rows)
        changes = await store.refresh_thread_summaries([other.id, root.id])
        assert [(c.message_id, c.thread.replies) for c in changes if c.thread] == [
            (other.id, 1),
            (root.id, 2),
        ]
        assert added[-1].message.id < changes[0].seq < changes[1].seq
