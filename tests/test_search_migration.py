"""Upgrading to search: a database the previous release filled takes the search
migration (sqlite 0017, postgres 0018), and the messages it already held are found, by
their present text (an edit made before the upgrade included, a tombstone never)."""

from __future__ import annotations

import pytest
from support import execute_sql, store_of_the_release_before, user_of_the_release_before

from chat.core.config import Config
from chat.core.records import SearchFilter
from chat.store import open_store

#: A database of the release before: an empty schema, migrated part of the way.
pytestmark = pytest.mark.unmigrated

#: The search migration, per backend.
_SEARCH = {"sqlite": 17, "postgres": 18}


async def test_messages_stored_before_the_upgrade_are_found(
    config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with store_of_the_release_before(config, monkeypatch, _SEARCH) as store:
        lobby_id = store.lobby_id
    alice_id = await user_of_the_release_before(config, "alice")
    created = "" if config.is_postgres else ", created_at"
    now = "" if config.is_postgres else ", 1700000000000"
    for body in ("kept from before", "edited from before", "deleted from before"):
        await execute_sql(
            config,
            f"INSERT INTO messages (room_id, sender_id, body{created}) VALUES"
            f" ({lobby_id}, {alice_id}, '{body}'{now})",
        )
    await execute_sql(config, "UPDATE messages SET body = 'changed text' WHERE body LIKE 'edited%'")
    deleted = "now()" if config.is_postgres else "1700000000001"
    await execute_sql(
        config, f"UPDATE messages SET body = '', deleted_at = {deleted} WHERE body LIKE 'deleted%'"
    )

    async with open_store(config) as store:
        assert any("search" in name for name in store.applied_migrations)
        found = await store.search_messages(
            SearchFilter(user_id=alice_id, admin=False, words=("before",))
        )
        changed = await store.search_messages(
            SearchFilter(user_id=alice_id, admin=False, words=("changed",))
        )
    assert [m.body for m in found] == ["kept from before"]
    assert [m.body for m in changed] == ["changed text"]
