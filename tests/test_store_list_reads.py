"""Reads of a list of keys (one list parameter: `Dialect.is_among`) find their rows through
the index on PostgreSQL even on a table filled since its last ANALYZE, as a table is
right after an import or a burst of sign-ups: the reconnect storm's membership reads
scanned all of ``room_members`` each when they were an ``IN`` over a subquery."""

from __future__ import annotations

import json

from chat.core.config import Config
from chat.store import open_store
from chat.store.dialect import POSTGRES, SQLITE
from chat.store.rooms import _ROOMS_OF_USERS

MEMBERS = 20_000


def _plan_nodes(plan: dict) -> list[str]:
    """Every node type of an EXPLAIN (FORMAT JSON) plan, depth first."""
    nodes = [plan["Node Type"]]
    for child in plan.get("Plans", ()):
        nodes += _plan_nodes(child)
    return nodes


async def test_a_users_rooms_read_uses_the_index_on_a_table_never_analyzed(
    postgres_config: Config,
) -> None:
    async with open_store(postgres_config) as store:
        owner = await store.create_user("owner", "hash")
        room = await store.create_room("big", is_private=False, creator_id=owner.id)
        await store.db.execute(
            "INSERT INTO users (name, name_key, look_key, password_hash)"
            " SELECT 'u' || g, 'u' || g, 'u' || g, 'x' FROM generate_series(1, $1) AS g",
            MEMBERS,
        )
        await store.db.execute(
            "INSERT INTO room_members (room_id, user_id) SELECT $1, id FROM users WHERE id <> $2",
            room.id,
            owner.id,
        )
        analyzed = await store.db.fetchval(
            "SELECT last_analyze IS NOT NULL OR last_autoanalyze IS NOT NULL"
            " FROM pg_stat_user_tables WHERE relid = 'room_members'::regclass"
        )
        users = await store.db.fetchval("SELECT array_agg(id) FROM users WHERE id % 997 = 0")
        explained = await store.db.fetchval(
            "EXPLAIN (FORMAT JSON) "
            + _ROOMS_OF_USERS.format(users=POSTGRES.is_among("user_id", 1)),
            users,
        )
        rooms = await store.rooms_of_users(users)
    assert not analyzed
    nodes = _plan_nodes(json.loads(explained)[0]["Plan"])
    assert "Seq Scan" not in nodes, nodes
    assert {"Index Scan", "Index Only Scan", "Bitmap Index Scan"} & set(nodes), nodes
    assert rooms == {user: [room.id] for user in users}


def test_a_list_condition_is_an_array_on_postgresql_and_json_on_sqlite() -> None:
    assert POSTGRES.is_among("m.id", 2, "text") == "m.id = ANY($2::text[])"
    assert SQLITE.is_among("m.id", 2) == "m.id IN (SELECT value FROM json_each($2))"
