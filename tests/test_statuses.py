"""`Statuses` (chat/app/people/statuses.py) over a real store: the table is the truth.
A status written behind an instance's back (a bus event it missed) is told within a
resync; an instance that starts after a status was set ends it at its Until all the
same; an event from another instance that is not a status is ignored."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import trio

from chat.app.people.statuses import STATUS_EVENT, Statuses
from chat.bus.local import LocalBus
from chat.core.config import Config
from chat.core.records import Identity
from chat.core.statuses import UserStatus
from chat.store import open_store


def _watched(statuses: Statuses) -> list[dict[str, Any]]:
    """The frames `statuses` tells this instance's connections, as they come."""
    told: list[dict[str, Any]] = []
    statuses.tell_with(told.append)
    return told


async def _until_told(told: list[dict[str, Any]], count: int) -> None:
    with trio.fail_after(5):
        while len(told) < count:  # noqa: ASYNC110
            await trio.sleep(0.02)


def _status(text: str, *, ends_in: float | None = None) -> UserStatus:
    now = datetime.now(UTC)
    until = None if ends_in is None else now + timedelta(seconds=ends_in)
    return UserStatus("🌴", text, "away", until, now)


async def test_a_status_set_behind_an_instances_back_is_told_at_the_next_resync(
    config: Config,
) -> None:
    async with open_store(config) as store:
        alice = await store.create_user("alice", "hash")
        statuses = Statuses(store, LocalBus(), resync_s=0.2)
        told = _watched(statuses)
        # Holds the task under test; cancelled once it has told.
        async with trio.open_nursery() as tasks:
            await tasks.start(statuses.run)
            await store.set_status(alice.id, _status("missed"))  # as another instance would
            await _until_told(told, 1)
            tasks.cancel_scope.cancel()
        assert told[0]["UID"] == alice.id
        assert told[0]["Status"]["Text"] == "missed"
        assert statuses.in_force(alice.id) is not None


async def test_an_instance_started_after_a_status_was_set_ends_it_at_its_until(
    config: Config,
) -> None:
    async with open_store(config) as store:
        alice = await store.create_user("alice", "hash")
        await store.set_status(alice.id, _status("brb", ends_in=0.5))
        statuses = Statuses(store, LocalBus())
        told = _watched(statuses)
        # Holds the task under test; cancelled once it has told and swept.
        async with trio.open_nursery() as tasks:
            await tasks.start(statuses.run)
            assert statuses.in_force(alice.id) is not None  # loaded as it started
            await _until_told(told, 1)
            await trio.sleep(0.1)  # the sweep follows the telling
            tasks.cancel_scope.cancel()
        assert told == [{"Type": "status", "UID": alice.id, "Status": None}]
        assert statuses.in_force(alice.id) is None
        assert await store.statuses_in_force(datetime.now(UTC) - timedelta(hours=1)) == {}


async def test_a_malformed_status_event_is_ignored(config: Config) -> None:
    async with open_store(config) as store:
        statuses = Statuses(store, LocalBus())
        told = _watched(statuses)
        for event in (
            {"type": STATUS_EVENT, "user_id": "1", "status": None},
            {"type": STATUS_EVENT, "user_id": 1, "status": {"Emoji": 5}},
            {"type": STATUS_EVENT, "user_id": 1, "status": {"Presence": "asleep"}},
            {"type": STATUS_EVENT, "user_id": 1, "status": ["away"]},
        ):
            statuses.on_event(event)
        assert told == []
        assert statuses.in_force(1) is None


async def test_a_status_set_here_is_known_here_at_once(config: Config) -> None:
    async with open_store(config) as store:
        alice = await store.create_user("alice", "hash")
        statuses = Statuses(store, LocalBus())
        told = _watched(statuses)
        identity = Identity(alice.id, "alice", is_admin=False, token_version=0)
        await statuses.set(identity, UserStatus("", "", "dnd", None, datetime.now(UTC)))
        assert statuses.do_not_disturb(alice.id)
        await statuses.clear(identity)
        assert not statuses.do_not_disturb(alice.id)
        assert [frame["Status"] for frame in told] == [
            {"Emoji": "", "Text": "", "Presence": "dnd", "Until": None},
            None,
        ]
