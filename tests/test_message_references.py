"""A message's room and sender: they exist when it is stored, and stay while it does.

SQLite checks them with foreign keys. PostgreSQL checks them once per statement (a batch
of messages is one statement; sql/postgres/0008_message_references_per_statement.sql),
with the same locks a foreign key takes, so the store sees the same errors either way:
these tests are the contract both backends keep.
"""

from __future__ import annotations

import sqlite3

import pytest
from support import add_message, execute_sql, while_a_transaction_holds

from chat.core.config import Config
from chat.core.errors import Gone
from chat.core.outgoing import OutgoingMessage
from chat.core.records import NewMessage
from chat.store import open_store


def foreign_key_errors() -> tuple[type[BaseException], ...]:
    """What a statement that breaks a reference raises, on either backend."""
    import asyncpg

    return (sqlite3.IntegrityError, asyncpg.ForeignKeyViolationError)


async def test_a_message_to_a_room_that_does_not_exist_is_refused_as_gone(
    config: Config,
) -> None:
    async with open_store(config) as store:
        alice = await store.create_user("alice", "hash")
        with pytest.raises(Gone):
            await add_message(store, 987654, alice.id, "into the void")
        assert await store.latest_messages(store.lobby_id, 10) == []


async def test_a_batch_with_one_unknown_sender_stores_none_of_its_messages(
    config: Config,
) -> None:
    async with open_store(config) as store:
        alice = await store.create_user("alice", "hash")
        batch = [
            NewMessage(store.lobby_id, alice.id, OutgoingMessage("fine")),
            NewMessage(store.lobby_id, 987654, OutgoingMessage("ghost")),
        ]
        with pytest.raises(Gone):
            await store.add_messages(batch)
        assert await store.latest_messages(store.lobby_id, 10) == []


async def test_a_user_who_has_messages_cannot_be_deleted_behind_the_stores_back(
    config: Config,
) -> None:
    async with open_store(config) as store:
        alice = await store.create_user("alice", "hash")
        await add_message(store, store.lobby_id, alice.id, "still here")
        with pytest.raises(foreign_key_errors()):
            await execute_sql(config, f"DELETE FROM users WHERE id = {alice.id}")
        assert await store.user_by_id(alice.id) == alice


async def test_a_room_that_has_messages_cannot_be_deleted_behind_the_stores_back(
    config: Config,
) -> None:
    async with open_store(config) as store:
        alice = await store.create_user("alice", "hash")
        room = await store.create_room("kept", is_private=False, creator_id=alice.id)
        await add_message(store, room.id, alice.id, "still here")
        with pytest.raises(foreign_key_errors()):
            await execute_sql(config, f"DELETE FROM rooms WHERE id = {room.id}")
        assert await store.room_by_id(room.id) == room


async def test_a_message_cannot_be_moved_to_a_room_that_does_not_exist(config: Config) -> None:
    async with open_store(config) as store:
        alice = await store.create_user("alice", "hash")
        message = await add_message(store, store.lobby_id, alice.id, "stays in the lobby")
        with pytest.raises(foreign_key_errors()):
            await execute_sql(
                config, f"UPDATE messages SET room_id = 987654 WHERE id = {message.id}"
            )
        assert await store.latest_messages(store.lobby_id, 10) == [message]


async def test_a_user_deleted_while_their_message_is_being_stored_goes_with_that_message(
    postgres_config: Config,
) -> None:
    # The insert locks its sender (FOR KEY SHARE) until it commits: deleting the user
    # waits for it, then deletes the message with the rest.
    assert postgres_config.database_url is not None
    async with open_store(postgres_config) as store:
        alice = await store.create_user("alice", "hash")
        insert = (
            "INSERT INTO messages (room_id, sender_id, body)"
            f" VALUES ({store.lobby_id}, {alice.id}, 'last words')"
        )
        outcome = await while_a_transaction_holds(
            postgres_config.database_url,
            [insert],
            "FROM users WHERE id = $1 FOR UPDATE",
            lambda: store.delete_user(alice.id),
        )
        assert outcome == [True]
        assert await store.latest_messages(store.lobby_id, 10) == []


async def test_a_message_from_a_user_being_deleted_waits_and_is_refused_as_gone(
    postgres_config: Config,
) -> None:
    # The other order: the delete holds the user (FOR UPDATE) first, so the insert waits
    # for it and then finds the sender gone.
    assert postgres_config.database_url is not None
    async with open_store(postgres_config) as store:
        alice = await store.create_user("alice", "hash")
        outcome = await while_a_transaction_holds(
            postgres_config.database_url,
            [
                f"SELECT id FROM users WHERE id = {alice.id} FOR UPDATE",
                f"DELETE FROM users WHERE id = {alice.id}",
            ],
            "WITH p AS (SELECT DISTINCT",  # the batch's statement (its head: it is long)
            lambda: add_message(store, store.lobby_id, alice.id, "too late"),
        )
        assert len(outcome) == 1
        assert isinstance(outcome[0], Gone)
        assert await store.latest_messages(store.lobby_id, 10) == []
