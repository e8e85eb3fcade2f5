"""Upgrading to changeable messages: a database made by the previous release,
with messages and replies in it, takes the message_changes migration (sqlite 0011,
postgres 0012); what it held reads as before (never edited, no reactions), can be
edited, reacted to and deleted, and positions go on after the newest message."""

from __future__ import annotations

import pytest
from support import (
    execute_sql,
    select_rows,
    store_of_the_release_before,
    user_of_the_release_before,
)

from chat.core.config import Config
from chat.core.records import Message
from chat.store import open_store

#: A database of the release before: an empty schema, migrated part of the way.
pytestmark = pytest.mark.unmigrated

#: The first migration of changeable messages, per backend.
_CHANGES = {"sqlite": 11, "postgres": 12}


def _accept(message: Message | None) -> None:
    assert message is not None


async def _previous_release(config: Config, monkeypatch: pytest.MonkeyPatch) -> tuple[int, int]:
    """A database as the release before changeable messages left it: a user, and two
    messages of the lobby, the second a reply to the first. Their ids."""
    async with store_of_the_release_before(config, monkeypatch, _CHANGES) as store:
        lobby_id = store.lobby_id
    alice_id = await user_of_the_release_before(config, "alice")
    created = "" if config.is_postgres else ", created_at"
    now = "" if config.is_postgres else ", 1700000000000"
    await execute_sql(
        config,
        f"INSERT INTO messages (room_id, sender_id, body{created}) VALUES"
        f" ({lobby_id}, {alice_id}, 'from before'{now})",
    )
    ((first,),) = await select_rows(config, "SELECT max(id) FROM messages")
    await execute_sql(
        config,
        f"INSERT INTO messages (room_id, sender_id, body, reply_to{created}) VALUES"
        f" ({lobby_id}, {alice_id}, 'a reply from before', {first}{now})",
    )
    return first, first + 1


async def test_old_messages_read_as_never_changed_after_the_upgrade(
    config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, reply = await _previous_release(config, monkeypatch)
    async with open_store(config) as store:
        assert any("message_changes" in name for name in store.applied_migrations)
        newest_first = await store.messages_before(store.lobby_id, None, 10)
    assert [(m.id, m.body, m.reply_to) for m in newest_first] == [
        (reply, "a reply from before", first),
        (first, "from before", None),
    ]
    assert all(m.edited_at is None and not m.deleted and m.reactions == () for m in newest_first)


async def test_old_messages_can_be_changed_after_the_upgrade(
    config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, reply = await _previous_release(config, monkeypatch)
    async with open_store(config) as store:
        assert await store.last_position() == reply
        edited = await store.edit_message(store.lobby_id, first, "from before, edited", _accept)
        assert edited is not None and edited.seq > reply  # after every message stored before
        (alice,) = await store.users()
        reacted = await store.react(
            store.lobby_id, reply, alice.id, "👍", add=True, max_emoji=20, check=_accept
        )
        assert reacted is not None and reacted.seq > edited.seq
        deleted = await store.delete_message(store.lobby_id, reply, _accept)
        assert deleted is not None
        assert await store.last_position() == deleted.seq
        versions = await store.message_versions(store.lobby_id, first)
    assert [v.text for v in versions or []] == ["from before", "from before, edited"]
