"""The stores' `Changes` role and the one stream of positions, on both
backends: changes take positions from the messages' sequence, `committed_after` reads
messages and changes merged in position order within its bounds and limit, a refused
change writes nothing."""

from __future__ import annotations

import pytest
import trio
from support import add_message, pg_query, pg_session, wait_until_true

from chat.core.config import Config
from chat.core.errors import Forbidden, NotFound
from chat.core.records import Change, Message
from chat.store import open_store


def _accept(message: Message | None) -> None:
    assert message is not None


def _refuse(message: Message | None) -> None:
    raise Forbidden("no")


async def test_changes_and_messages_share_one_sequence_of_positions(config: Config) -> None:
    async with open_store(config) as store:
        alice = await store.create_user("alice", "hash")
        first = await add_message(store, store.lobby_id, alice.id, "one")
        edit = await store.edit_message(store.lobby_id, first.id, "one!", _accept)
        second = await add_message(store, store.lobby_id, alice.id, "two")
        assert edit is not None
        assert first.id < edit.seq < second.id
        assert await store.last_position() == second.id


async def test_committed_after_merges_messages_and_changes_in_position_order(
    config: Config,
) -> None:
    async with open_store(config) as store:
        alice = await store.create_user("alice", "hash")
        first = await add_message(store, store.lobby_id, alice.id, "one")
        reacted = await store.react(
            store.lobby_id, first.id, alice.id, ":ok:", add=True, max_emoji=20, check=_accept
        )
        second = await add_message(store, store.lobby_id, alice.id, "two")
        deleted = await store.delete_message(store.lobby_id, first.id, _accept)
        assert reacted is not None and deleted is not None
        everything = await store.committed_after(0, limit=10)
        first_two = await store.committed_after(0, limit=2)
        between = await store.committed_after(first.id, before=deleted.seq, limit=10)
    positions = [item.position for item, _room in everything]
    assert positions == [first.id, second.id, deleted.seq]  # the reaction went with the deletion
    assert [item.position for item, _ in first_two] == positions[:2]
    assert [item.position for item, _ in between] == [second.id]
    assert isinstance(everything[-1][0], Change) and everything[-1][0].kind == "deleted"
    assert all(room.id == store.lobby_id for _item, room in everything)


async def test_room_changes_are_read_newest_first_within_bounds(config: Config) -> None:
    async with open_store(config) as store:
        alice = await store.create_user("alice", "hash")
        message = await add_message(store, store.lobby_id, alice.id, "v0")
        seqs = []
        for text in ("v1", "v2", "v3"):
            change = await store.edit_message(store.lobby_id, message.id, text, _accept)
            assert change is not None
            seqs.append(change.seq)
        newest = await store.room_changes(store.lobby_id, after=seqs[0], before=None, limit=10)
        one = await store.room_changes(store.lobby_id, after=0, before=seqs[2], limit=1)
    assert [c.seq for c in newest] == [seqs[2], seqs[1]]
    assert [(c.seq, c.text) for c in one] == [(seqs[1], "v2")]


async def test_a_refused_change_writes_nothing(config: Config) -> None:
    async with open_store(config) as store:
        alice = await store.create_user("alice", "hash")
        message = await add_message(store, store.lobby_id, alice.id, "as sent")
        with pytest.raises(Forbidden):
            await store.edit_message(store.lobby_id, message.id, "changed", _refuse)
        with pytest.raises(Forbidden):
            await store.delete_message(store.lobby_id, message.id, _refuse)
        (unchanged,) = await store.messages_before(store.lobby_id, None, 10)
        assert await store.room_changes(store.lobby_id, after=0, before=None, limit=10) == []
    assert (unchanged.body, unchanged.edited_at, unchanged.deleted) == ("as sent", None, False)


async def test_a_change_to_a_message_of_another_room_sees_no_message(config: Config) -> None:
    async with open_store(config) as store:
        alice = await store.create_user("alice", "hash")
        room = await store.create_room("elsewhere", is_private=False, creator_id=alice.id)
        message = await add_message(store, room.id, alice.id, "there")
        seen: list[Message | None] = []
        with pytest.raises(Forbidden):

            def check(found: Message | None) -> None:
                seen.append(found)
                raise Forbidden("no such message here")

            await store.edit_message(store.lobby_id, message.id, "x", check)
    assert seen == [None]


#: True while some session waits for a row lock on the users table.
_SOMEONE_WAITS_FOR_A_USER = (
    "SELECT EXISTS (SELECT 1 FROM pg_locks AS l JOIN pg_class AS c ON c.oid = l.relation"
    " WHERE NOT l.granted AND c.relname = 'users')"
    " OR EXISTS (SELECT 1 FROM pg_locks WHERE NOT granted AND locktype = 'transactionid')"
)


async def test_a_reaction_racing_the_deletion_of_its_user_waits_instead_of_deadlocking(
    postgres_config: Config,
) -> None:
    """Deleting a user locks them first (FOR UPDATE), then deletes their messages. A
    change locks the users it refers to before any row it writes, so the two wait for
    each other one way only: here the reaction waits, then finds its message gone (never
    PostgreSQL's deadlock error, after a second, in one of them)."""
    assert postgres_config.database_url is not None
    async with open_store(postgres_config) as store:
        bob = await store.create_user("bob", "hash")
        message = await add_message(store, store.lobby_id, bob.id, "react to me")
        outcome: list[BaseException | Change | None] = []

        def check(found: Message | None) -> None:
            if found is None:
                raise NotFound("gone")

        async def react() -> None:
            try:
                outcome.append(
                    await store.react(
                        store.lobby_id,
                        message.id,
                        bob.id,
                        "👍",
                        add=True,
                        max_emoji=20,
                        check=check,
                    )
                )
            except Exception as error:
                outcome.append(error)

        async with (
            pg_session(postgres_config.database_url) as execute,
            pg_query(postgres_config.database_url) as fetchval,
        ):
            # As `delete_user` does: the user is locked first...
            await execute("BEGIN")
            await execute(f"SELECT id FROM users WHERE id = {bob.id} FOR UPDATE")
            async with trio.open_nursery() as nursery:
                nursery.start_soon(react)
                await wait_until_true(fetchval, _SOMEONE_WAITS_FOR_A_USER)
                # ...then their messages are deleted, while the reaction waits.
                await execute(f"DELETE FROM messages WHERE sender_id = {bob.id}")
                await execute("COMMIT")
    (result,) = outcome
    assert isinstance(result, NotFound), result
