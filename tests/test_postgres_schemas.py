"""The test harness's recycled PostgreSQL schemas (tests/postgres_schemas.py): a schema a
test is done with comes back to the next one as the migrations left it, and one that a
test changed beyond its rows is never handed out again."""

from __future__ import annotations

from typing import Any

import trio
import trio_asyncio
from postgres_schemas import migrated_postgres_schema
from support import add_message, pg_connection, pg_session, throwaway_postgres_schema

from chat.core.config import Config
from chat.store import open_store


async def _contents(url: str) -> dict[str, Any]:
    """Every table's rows (as sorted JSON texts) and every sequence's next value."""
    async with pg_connection(url) as conn:
        fetch = trio_asyncio.aio_as_trio(conn.fetch)
        fetchval = trio_asyncio.aio_as_trio(conn.fetchval)
        contents: dict[str, Any] = {}
        for (table,) in await fetch(
            "SELECT quote_ident(tablename) FROM pg_tables WHERE schemaname = current_schema()"
        ):
            rows = await fetch(f"SELECT row_to_json(t)::text FROM {table} t")
            contents[table] = sorted(row[0] for row in rows)
        for name, value in await fetch(
            "SELECT sequencename, last_value FROM pg_sequences WHERE schemaname = current_schema()"
        ):
            contents[f"sequence {name}"] = value
        contents["schema"] = await fetchval("SELECT current_schema()")
    return contents


async def _add_user(url: str, name: str) -> int:
    async with open_store(Config(database_url=url)) as store:
        user = await store.create_user(name, "hash")
        await add_message(store, store.lobby_id, user.id, "hello")
    return user.id


async def test_a_recycled_schema_holds_what_it_held_when_first_handed_out() -> None:
    async with migrated_postgres_schema() as url:
        before = await _contents(url)
        first_id = await _add_user(url, "alice")
        assert await _contents(url) != before
    async with migrated_postgres_schema() as again:
        assert again == url  # this process's one free schema: the same
        assert await _contents(again) == before
        assert await _add_user(again, "bob") == first_id


async def test_a_recycled_schema_numbers_rows_as_a_newly_migrated_one_does() -> None:
    async with throwaway_postgres_schema() as empty:
        fresh_id = await _add_user(empty, "alice")
    async with migrated_postgres_schema() as url:
        await _add_user(url, "alice")
    async with migrated_postgres_schema() as url:
        assert await _add_user(url, "alice") == fresh_id


async def test_a_schema_whose_structure_changed_is_not_handed_out_again() -> None:
    async with migrated_postgres_schema() as url, pg_session(url) as execute:
        await execute("ALTER TABLE users ADD COLUMN nickname text")
    async with migrated_postgres_schema() as other:
        assert other != url


async def test_a_schema_another_session_holds_a_lock_in_is_not_handed_out_again() -> None:
    async with trio.open_nursery() as nursery:
        async with migrated_postgres_schema() as url:
            holding = trio.Event()
            done = trio.Event()

            async def hold() -> None:
                async with pg_session(url) as execute:
                    await execute("BEGIN; LOCK TABLE rooms IN ACCESS SHARE MODE")
                    holding.set()
                    await done.wait()

            nursery.start_soon(hold)
            await holding.wait()
        done.set()
    async with migrated_postgres_schema() as other:
        assert other != url
