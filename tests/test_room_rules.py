"""A room's rules on a batch of new messages, in the store (`chat.store.room_rules`):
a batch with a refused or slowed sender stores nothing and says why (the writer then
stores its messages one at a time), a batch without is stored in order."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

import pytest
from support import select_rows

from chat.core.config import Config
from chat.core.errors import Forbidden, RateLimited
from chat.core.moderation_records import AuditEntry
from chat.core.outgoing import OutgoingMessage
from chat.core.records import NewMessage
from chat.store import Store, open_store
from chat.store.room_rules import HELD_SQL, PairRules, refusal

MUTED_UNTIL = datetime(2099, 1, 1, tzinfo=UTC)


async def _room_with(store: Store) -> tuple[int, int, int]:
    """A group room of an owner and a member: (room, owner, member)."""
    owner = await store.create_user("owner", "hash")
    member = await store.create_user("member", "hash")
    room = await store.create_room("rules", is_private=False, creator_id=owner.id)
    await store.add_member(room.id, member.id)
    return room.id, owner.id, member.id


async def _mute(store: Store, room_id: int, owner_id: int, user_id: int) -> None:
    audit = AuditEntry(room_id, "mute", owner_id, "owner", user_id, "member")
    await store.restrict(
        "mute", room_id, user_id, reason="", until=MUTED_UNTIL, by_id=owner_id, audit=audit
    )


async def test_a_batch_without_rules_in_force_is_stored_in_order(config: Config) -> None:
    async with open_store(config) as store:
        room, owner, member = await _room_with(store)
        rows = [
            NewMessage(room, (owner, member)[i % 2], OutgoingMessage(f"m{i}")) for i in range(6)
        ]
        added = await store.add_messages(rows)
    assert [a.message.body for a in added] == [f"m{i}" for i in range(6)]
    assert all(a.new for a in added)
    ids = [a.message.id for a in added]
    assert ids == sorted(ids)


async def test_a_batch_with_a_muted_sender_stores_none_of_it_and_says_why(
    config: Config,
) -> None:
    async with open_store(config) as store:
        room, owner, member = await _room_with(store)
        await _mute(store, room, owner, member)
        rows = [
            NewMessage(room, owner, OutgoingMessage("allowed")),
            NewMessage(room, member, OutgoingMessage("muted")),
        ]
        with pytest.raises(Forbidden, match="muted"):
            await store.add_messages(rows)
        assert await store.latest_messages(room, 10) == []
        # The writer then stores them one at a time: the owner's goes through alone.
        (added,) = await store.add_messages(rows[:1])
    assert added.new and added.message.body == "allowed"


async def test_a_batch_from_a_removed_member_is_refused(config: Config) -> None:
    async with open_store(config) as store:
        room, owner, member = await _room_with(store)
        audit = AuditEntry(room, "remove", owner, "owner", member, "member")
        await store.remove_member(room, member, audit=audit, keep_an_owner=False, by_id=owner)
        with pytest.raises(Forbidden, match="not a member"):
            await store.add_messages([NewMessage(room, member, OutgoingMessage("gone"))])


async def test_a_batch_from_a_banned_user_is_refused_even_as_a_member(config: Config) -> None:
    async with open_store(config) as store:
        room, owner, member = await _room_with(store)
        audit = AuditEntry(room, "ban", owner, "owner", member, "member")
        await store.restrict("ban", room, member, reason="", until=None, by_id=owner, audit=audit)
        # What a join racing the ban once left behind: banned, and a member again.
        await store.db.execute(
            "INSERT INTO room_members (room_id, user_id, joined_at) VALUES ($1, $2, $3)",
            room,
            member,
            store.dialect.now(),
        )
        with pytest.raises(Forbidden, match=f"you are banned from room {room}"):
            await store.add_messages([NewMessage(room, member, OutgoingMessage("back"))])
        assert await store.latest_messages(room, 10) == []


async def test_slow_mode_takes_a_member_s_first_message_and_refuses_the_next(
    config: Config,
) -> None:
    async with open_store(config) as store:
        room, owner, member = await _room_with(store)
        audit = AuditEntry(room, "settings", owner, "owner")
        await store.update_room(room, {"slow_mode_seconds": 60}, audit)
        (first,) = await store.add_messages([NewMessage(room, member, OutgoingMessage("first"))])
        with pytest.raises(RateLimited, match="slow mode"):
            await store.add_messages([NewMessage(room, member, OutgoingMessage("second"))])
        # The owner is never slowed.
        owners = [
            NewMessage(room, owner, OutgoingMessage("a")),
            NewMessage(room, owner, OutgoingMessage("b")),
        ]
        added = await store.add_messages(owners)
    assert first.new and [a.message.body for a in added] == ["a", "b"]


async def test_a_resent_batch_answers_with_the_originals(config: Config) -> None:
    async with open_store(config) as store:
        room, _owner, member = await _room_with(store)
        rows = [
            NewMessage(room, member, OutgoingMessage("once", client_msg_id=f"c{i}"))
            for i in range(3)
        ]
        first = await store.add_messages(rows)
        again = await store.add_messages(rows)
    assert [a.new for a in first] == [True] * 3
    assert [a.new for a in again] == [False] * 3
    assert [a.message for a in again] == [a.message for a in first]


async def test_the_statement_s_check_holds_back_exactly_what_the_rules_refuse_or_slow(
    postgres_config: Config,
) -> None:
    # PostgreSQL stores a batch in one statement that reads the rules and holds the batch
    # back in SQL (HELD_SQL); the decision must be the one `refusal` and `slowed` make.
    combinations = list(
        itertools.product(
            ("lobby", "group", "direct", "support"),
            (0, 30),
            (None, "member", "moderator", "owner"),
            (False, True),
            (False, True),
            (None, MUTED_UNTIL),
            (False, True),
            (False, True),
        )
    )
    values = ", ".join(
        f"({i}, '{kind}', {slow}, {'NULL' if role is None else repr(role)}, {member},"
        f" {admin}, {'NULL' if muted is None else repr(muted.isoformat())}::timestamptz,"
        f" {banned}, {archived})"
        for i, (kind, slow, role, member, admin, muted, banned, archived) in enumerate(combinations)
    )
    rows = await select_rows(
        postgres_config,
        f"SELECT i, ({HELD_SQL}) FROM (VALUES {values}) AS"
        " x(i, kind, slow_mode_seconds, role, member, is_admin, muted_until, banned, archived)"
        " ORDER BY i",
    )
    held = [bool(row[1]) for row in rows]
    expected = []
    for kind, slow, role, member, admin, muted, banned, archived in combinations:
        rules = PairRules(1, 2, kind, slow, role, member, admin, muted, banned, archived)
        expected.append(refusal(rules) is not None or rules.slowed)
    assert len(held) == len(combinations) == 1024
    assert held == expected
