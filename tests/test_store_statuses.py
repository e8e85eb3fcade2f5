"""Users' statuses on both backends, the same behaviour (`Statuses`, chat/store/statuses.py):
set, replaced, cleared, left out of reads once their time has passed, and swept once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from test_store_accounts import _erase

from chat.core.config import Config
from chat.core.statuses import UserStatus
from chat.store import open_store

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def _status(
    text: str = "lunch", *, until: datetime | None = None, presence: str = "away"
) -> UserStatus:
    return UserStatus("🍔", text, presence, until, NOW)


async def test_a_status_is_set_and_read_back_as_it_was_set(config: Config) -> None:
    async with open_store(config) as store:
        alice = await store.create_user("alice", "hash")
        status = _status(until=NOW + timedelta(hours=1))
        assert await store.set_status(alice.id, status)
        assert await store.status_of(alice.id, NOW) == status


async def test_setting_a_status_again_replaces_it(config: Config) -> None:
    async with open_store(config) as store:
        alice = await store.create_user("alice", "hash")
        await store.set_status(alice.id, _status("lunch", until=NOW + timedelta(hours=1)))
        await store.set_status(alice.id, _status("meeting", presence="dnd"))
        now = await store.status_of(alice.id, NOW)
        assert now is not None
        assert (now.text, now.presence, now.until) == ("meeting", "dnd", None)


async def test_a_cleared_status_is_gone_and_clearing_none_says_so(config: Config) -> None:
    async with open_store(config) as store:
        alice = await store.create_user("alice", "hash")
        await store.set_status(alice.id, _status())
        assert await store.clear_status(alice.id)
        assert await store.status_of(alice.id, NOW) is None
        assert not await store.clear_status(alice.id)


async def test_a_status_whose_time_has_passed_is_read_as_none_before_the_sweep(
    config: Config,
) -> None:
    async with open_store(config) as store:
        alice = await store.create_user("alice", "hash")
        bob = await store.create_user("bob", "hash")
        await store.set_status(alice.id, _status(until=NOW + timedelta(minutes=5)))
        await store.set_status(bob.id, _status("forever"))
        later = NOW + timedelta(minutes=5)
        assert await store.status_of(alice.id, later) is None
        assert set(await store.statuses_in_force(later)) == {bob.id}
        assert set(await store.statuses_in_force(NOW)) == {alice.id, bob.id}


async def test_the_sweep_removes_ended_statuses_once(config: Config) -> None:
    async with open_store(config) as store:
        alice = await store.create_user("alice", "hash")
        bob = await store.create_user("bob", "hash")
        await store.set_status(alice.id, _status(until=NOW + timedelta(minutes=5)))
        await store.set_status(bob.id, _status(until=NOW + timedelta(hours=5)))
        later = NOW + timedelta(minutes=6)
        assert await store.clear_expired(later) == [alice.id]
        assert await store.clear_expired(later) == []
        assert set(await store.statuses_in_force(NOW)) == {bob.id}


async def test_an_erased_account_has_no_status_and_cannot_set_one(config: Config) -> None:
    async with open_store(config) as store:
        alice = await store.create_user("alice", "hash")
        await store.set_status(alice.id, _status())
        await _erase(store, alice.id, "alice")
        assert await store.status_of(alice.id, NOW) is None
        assert not await store.set_status(alice.id, _status())
