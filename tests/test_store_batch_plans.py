"""PostgreSQL plans the batch insert once per connection, not once per batch: with the
tables full, a custom plan of the insert (rules, resend check, mentions) took longer to
make than the insert takes to run, and batches of a few messages, a quiet chat's usual,
never looked dear enough for PostgreSQL to settle on its generic plan
(`chat.store.message_batches.PLANNED_ROWS`)."""

from __future__ import annotations

from typing import Any

from chat.core.config import Config
from chat.core.outgoing import OutgoingMessage
from chat.core.records import NewMessage
from chat.store import open_store
from chat.store.message_batches import _INSERT_CLEAR_MESSAGES, insert_arrays

#: Rows already in the tables: enough that a custom plan looks cheaper than the generic.
STORED = 50_000
BATCHES = 12


async def test_batches_of_one_message_settle_on_the_generic_plan(
    postgres_config: Config,
) -> None:
    async with open_store(postgres_config) as store:
        alice = await store.create_user("alice", "hash")
        # Other users too: the insert reads its senders' rows.
        others = "SELECT 'user' || g, '' FROM generate_series(1, $1) AS g"
        await store.db.execute("INSERT INTO users (name, password_hash) " + others, STORED // 10)
        await store.db.execute(
            "INSERT INTO messages (room_id, sender_id, body)"
            " SELECT $1, $2, 'stored ' || g FROM generate_series(1, $3) AS g",
            store.lobby_id,
            alice.id,
            STORED,
        )
        await store.db.execute("ANALYZE messages, users")  # this schema's alone

        async def batches_then_plans(conn: Any) -> Any:
            # One operation, so every batch runs on the one connection whose prepared
            # statements are then read.
            for n in range(BATCHES):
                row = NewMessage(store.lobby_id, alice.id, OutgoingMessage(f"batch {n}"))
                (added,) = await insert_arrays(conn, [row])
                assert added.new and added.message.body == f"batch {n}"
            return await conn.fetchrow(
                "SELECT generic_plans, custom_plans FROM pg_prepared_statements"
                " WHERE statement = $1",
                _INSERT_CLEAR_MESSAGES,
            )

        plans = await store.db.run(batches_then_plans)
        stored = await store.db.fetchval("SELECT count(*) FROM messages WHERE body LIKE 'batch %'")
    assert stored == BATCHES  # the padding stored nothing
    assert plans["custom_plans"] <= 5, dict(plans)
    assert plans["generic_plans"] >= BATCHES - 5, dict(plans)
