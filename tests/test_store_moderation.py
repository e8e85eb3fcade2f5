"""The store's moderation and reports on both backends, the same behaviour: members'
roles, removals, bans and mutes, a room's settings, the audit log (`Moderation`), and
reports of messages (`Reports`)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from support import add_message

from chat.core.config import Config
from chat.core.errors import Forbidden, LastOwner, RoomNameTaken
from chat.core.moderation_records import AuditEntry
from chat.core.records import Room, User
from chat.store import Store, open_store

HOUR = timedelta(hours=1)


def _entry(room: Room | None, action: str, actor: User, target: User | None = None) -> AuditEntry:
    return AuditEntry(
        room_id=None if room is None else room.id,
        action=action,
        actor_id=actor.id,
        actor_name=actor.name,
        target_id=None if target is None else target.id,
        target_name=None if target is None else target.name,
        reason="because",
        details={"Role": "moderator"} if action == "role" else {},
    )


async def _owner_member_room(store: Store) -> tuple[User, User, Room]:
    owner = await store.create_user("owner", "hash")
    member = await store.create_user("member", "hash")
    room = await store.create_room("room", is_private=False, creator_id=owner.id)
    await store.add_member(room.id, member.id)
    return owner, member, room


async def _actions(store: Store, room: Room) -> list[str]:
    return [entry.action for entry in await store.audit_entries(room.id, before=None, limit=50)]


# --- roles and removals ---


async def test_member_role_is_none_for_a_non_member(config: Config) -> None:
    async with open_store(config) as store:
        owner, member, room = await _owner_member_room(store)
        stranger = await store.create_user("stranger", "hash")
        assert await store.member_role(room.id, owner.id) == "owner"
        assert await store.member_role(room.id, member.id) == "member"
        assert await store.member_role(room.id, stranger.id) is None


async def test_setting_a_role_gives_the_role_before_and_is_audited(config: Config) -> None:
    async with open_store(config) as store:
        owner, member, room = await _owner_member_room(store)
        entry = _entry(room, "role", owner, member)
        assert await store.set_member_role(room.id, member.id, "moderator", entry) == "member"
        assert await store.member_role(room.id, member.id) == "moderator"
        (logged,) = await store.audit_entries(room.id, before=None, limit=10)
    assert logged.id > 0 and logged.created_at is not None
    assert replace(logged, id=0, created_at=None) == entry


async def test_setting_the_role_of_a_non_member_does_nothing(config: Config) -> None:
    async with open_store(config) as store:
        owner, _member, room = await _owner_member_room(store)
        stranger = await store.create_user("stranger", "hash")
        entry = _entry(room, "role", owner, stranger)
        assert await store.set_member_role(room.id, stranger.id, "moderator", entry) is None
        assert await store.member_role(room.id, stranger.id) is None
        assert await _actions(store, room) == []


async def test_the_last_owner_cannot_step_down(config: Config) -> None:
    async with open_store(config) as store:
        owner, member, room = await _owner_member_room(store)
        with pytest.raises(LastOwner):
            await store.set_member_role(room.id, owner.id, "member", _entry(room, "role", owner))
        assert await store.member_role(room.id, owner.id) == "owner"
        await store.set_member_role(room.id, member.id, "owner", _entry(room, "role", owner))
        assert (
            await store.set_member_role(room.id, owner.id, "member", _entry(room, "role", owner))
            == "owner"
        )
        assert await _actions(store, room) == ["role", "role"]


async def test_removing_a_member_gives_their_departure_at_the_next_position(
    config: Config,
) -> None:
    async with open_store(config) as store:
        owner, member, room = await _owner_member_room(store)
        before = await add_message(store, room.id, owner.id, "before")
        entry = _entry(room, "remove", owner, member)
        departure = await store.remove_member(
            room.id, member.id, audit=entry, keep_an_owner=True, by_id=owner.id, reason="spam"
        )
        after = await add_message(store, room.id, owner.id, "after")
        assert departure is not None
        assert (departure.room_id, departure.user_id, departure.reason) == (
            room.id,
            member.id,
            "spam",
        )
        assert (departure.by_id, departure.by_name) == (owner.id, "owner")
        assert before.id < departure.position < after.id
        assert not await store.is_member(room.id, member.id)
        again = await store.remove_member(
            room.id, member.id, audit=entry, keep_an_owner=True, by_id=owner.id
        )
        assert again is None
        assert await _actions(store, room) == ["remove"]


async def test_departures_are_read_with_the_stream_in_position_order(config: Config) -> None:
    async with open_store(config) as store:
        owner, member, room = await _owner_member_room(store)
        first = await add_message(store, room.id, owner.id, "first")
        left = await store.remove_member(
            room.id, member.id, audit=None, keep_an_owner=True, by_id=member.id
        )
        last = await add_message(store, room.id, owner.id, "last")
        assert left is not None
        stream = await store.committed_after(first.id - 1, limit=10)
        assert [(item.position, found.id) for item, found in stream] == [
            (first.id, room.id),
            (left.position, room.id),
            (last.id, room.id),
        ]
        between = await store.committed_after(first.id, before=last.id, limit=10)
        assert [item for item, _room in between] == [left]
        assert await store.last_position() == last.id


async def test_a_departure_may_be_the_newest_position(config: Config) -> None:
    async with open_store(config) as store:
        owner, member, room = await _owner_member_room(store)
        left = await store.remove_member(
            room.id, member.id, audit=None, keep_an_owner=True, by_id=member.id
        )
        assert left is not None and await store.last_position() == left.position
        after = await add_message(store, room.id, owner.id, "after")
        assert after.id > left.position


async def test_the_last_owner_may_not_leave_others_ownerless(config: Config) -> None:
    async with open_store(config) as store:
        owner, member, room = await _owner_member_room(store)
        with pytest.raises(LastOwner):
            await store.remove_member(
                room.id, owner.id, audit=None, keep_an_owner=True, by_id=owner.id
            )
        assert await store.member_role(room.id, owner.id) == "owner"
        assert await store.last_position() == 0  # no departure was written
        # Without the promise (an operator's removal), or alone in the room, they go.
        for user in (member, owner):
            left = await store.remove_member(
                room.id, user.id, audit=None, keep_an_owner=True, by_id=user.id
            )
            assert left is not None
        assert await store.member_count(room.id) == 0
        assert await _actions(store, room) == []


# --- bans and mutes ---


async def test_a_ban_removes_the_member_and_is_in_force_until_lifted(config: Config) -> None:
    async with open_store(config) as store:
        owner, member, room = await _owner_member_room(store)
        entry = _entry(room, "ban", owner, member)
        departure = await store.restrict(
            "ban", room.id, member.id, reason="spam", until=None, by_id=owner.id, audit=entry
        )
        assert departure is not None and not await store.is_member(room.id, member.id)
        assert (departure.user_id, departure.by_id, departure.reason) == (
            member.id,
            owner.id,
            "spam",
        )
        assert await store.last_position() == departure.position
        (ban,) = await store.restrictions("ban", room.id, limit=10)
        assert (ban.room_id, ban.user_id, ban.user_name, ban.reason, ban.until) == (
            room.id,
            member.id,
            "member",
            "spam",
            None,
        )
        assert (ban.by_id, ban.by_name) == (owner.id, "owner")
        assert await store.restrictions("mute", room.id, limit=10) == []
        assert await store.lift("ban", room.id, member.id, _entry(room, "unban", owner, member))
        assert await store.restrictions("ban", room.id, limit=10) == []
        assert await _actions(store, room) == ["unban", "ban"]


async def test_a_lift_is_checked_against_the_rank_kept_when_it_was_placed(
    config: Config,
) -> None:
    async with open_store(config) as store:
        owner, member, room = await _owner_member_room(store)
        await store.restrict(
            "ban",
            room.id,
            member.id,
            reason="",
            until=None,
            by_id=owner.id,
            audit=_entry(room, "ban", owner, member),
            target_rank=3,
        )
        seen: list[int] = []

        def refuse(rank_when_placed: int) -> None:
            seen.append(rank_when_placed)
            raise Forbidden("outranked")

        with pytest.raises(Forbidden):
            await store.lift("ban", room.id, member.id, _entry(room, "unban", owner), check=refuse)
        assert seen == [3]
        assert [r.user_id for r in await store.restrictions("ban", room.id, limit=10)] == [
            member.id
        ]
        assert await _actions(store, room) == ["ban"]
        assert await store.lift(
            "ban", room.id, member.id, _entry(room, "unban", owner), check=seen.append
        )
        assert seen == [3, 3] and await store.restrictions("ban", room.id, limit=10) == []


async def test_banning_a_non_member_gives_none(config: Config) -> None:
    async with open_store(config) as store:
        owner, _member, room = await _owner_member_room(store)
        stranger = await store.create_user("stranger", "hash")
        entry = _entry(room, "ban", owner, stranger)
        departure = await store.restrict(
            "ban", room.id, stranger.id, reason="", until=None, by_id=owner.id, audit=entry
        )
        assert departure is None
        assert [r.user_id for r in await store.restrictions("ban", room.id, limit=10)] == [
            stranger.id
        ]


async def test_a_mute_keeps_the_member_and_a_new_one_replaces_it(config: Config) -> None:
    async with open_store(config) as store:
        owner, member, room = await _owner_member_room(store)
        entry = _entry(room, "mute", owner, member)
        now = datetime.now(UTC).replace(microsecond=0)
        for reason, until in (("first", now + timedelta(days=1)), ("second", now + HOUR)):
            await store.restrict(
                "mute", room.id, member.id, reason=reason, until=until, by_id=owner.id, audit=entry
            )
        assert await store.member_role(room.id, member.id) == "member"
        (mute,) = await store.restrictions("mute", room.id, user_id=member.id, limit=10)
        assert (mute.reason, mute.until) == ("second", now + HOUR)


async def test_an_expired_mute_is_not_in_force_and_lifts_nothing(config: Config) -> None:
    async with open_store(config) as store:
        owner, member, room = await _owner_member_room(store)
        past = datetime.now(UTC) - timedelta(minutes=1)
        await store.restrict(
            "mute",
            room.id,
            member.id,
            reason="",
            until=past,
            by_id=owner.id,
            audit=_entry(room, "mute", owner, member),
        )
        assert await store.restrictions("mute", room.id, limit=10) == []
        assert not await store.lift("mute", room.id, member.id, _entry(room, "unmute", owner))
        assert await _actions(store, room) == ["mute"]


async def test_restrictions_are_newest_first_one_users_or_all(config: Config) -> None:
    async with open_store(config) as store:
        owner, member, room = await _owner_member_room(store)
        others = [await store.create_user(f"user{n}", "hash") for n in range(3)]
        until = datetime.now(UTC) + HOUR  # a mute always ends (a ban may not)
        for user in [member, *others]:
            await store.restrict(
                "mute",
                room.id,
                user.id,
                reason=user.name,
                until=until,
                by_id=owner.id,
                audit=_entry(room, "mute", owner, user),
            )
        every = await store.restrictions("mute", room.id, limit=10)
        two = await store.restrictions("mute", room.id, limit=2)
        one = await store.restrictions("mute", room.id, user_id=others[0].id, limit=10)
    assert sorted(r.user_id for r in every) == sorted(u.id for u in [member, *others])
    created = [r.created_at for r in every]
    assert created == sorted(created, reverse=True)
    assert two == every[:2]
    assert [r.reason for r in one] == ["user0"]


# --- settings and the audit log ---


async def test_updating_a_room_sets_its_settings(config: Config) -> None:
    async with open_store(config) as store:
        owner, _member, room = await _owner_member_room(store)
        changes = {"name": "renamed", "topic": "news", "slow_mode_seconds": 30, "is_private": True}
        updated = await store.update_room(room.id, changes, _entry(room, "settings", owner))
        assert updated == replace(
            room, name="renamed", topic="news", slow_mode_seconds=30, is_private=True
        )
        assert await store.room_by_id(room.id) == updated
        assert await _actions(store, room) == ["settings"]


async def test_a_room_may_not_take_a_public_rooms_name(config: Config) -> None:
    async with open_store(config) as store:
        owner, _member, _room = await _owner_member_room(store)
        hidden = await store.create_room("hidden", is_private=True, creator_id=owner.id)
        with pytest.raises(RoomNameTaken):
            await store.update_room(hidden.id, {"name": "room", "is_private": False},
                                    _entry(hidden, "settings", owner))  # fmt: skip
        assert await store.room_by_id(hidden.id) == hidden
        assert await _actions(store, hidden) == []


async def test_the_audit_log_pages_back_one_room_or_every_room(config: Config) -> None:
    async with open_store(config) as store:
        owner, member, room = await _owner_member_room(store)
        other = await store.create_room("other", is_private=False, creator_id=owner.id)
        message = await add_message(store, room.id, member.id, "deleted by a moderator")
        await store.add_audit(replace(_entry(room, "delete", owner, member), message_id=message.id))
        await store.add_audit(_entry(other, "delete", owner))
        await store.add_audit(_entry(None, "operator", owner))
        await store.add_audit(_entry(room, "settings", owner))
        every = await store.audit_entries(None, before=None, limit=10)
        in_room = await store.audit_entries(room.id, before=None, limit=10)
        older = await store.audit_entries(None, before=every[1].id, limit=1)
    assert [(e.room_id, e.action) for e in every] == [
        (room.id, "settings"),
        (None, "operator"),
        (other.id, "delete"),
        (room.id, "delete"),
    ]
    assert [e.id for e in every] == sorted((e.id for e in every), reverse=True)
    assert in_room == [every[0], every[3]]
    assert every[3].message_id == message.id and every[3].details == {}
    assert older == [every[2]]


# --- reports ---


async def test_a_report_is_made_once_per_reporter_and_message(config: Config) -> None:
    async with open_store(config) as store:
        owner, member, room = await _owner_member_room(store)
        message = await add_message(store, room.id, owner.id, "rude")
        report, new = await store.add_report(room.id, message.id, member.id, "rude")
        again, new_again = await store.add_report(room.id, message.id, member.id, "other reason")
        assert new and not new_again and again == report
        assert (report.room_id, report.message, report.reporter_id, report.reporter_name) == (
            room.id,
            message,
            member.id,
            "member",
        )
        assert (report.reason, report.status, report.decided_by, report.decided_at) == (
            "rude",
            "open",
            None,
            None,
        )
        assert await store.report(report.id) == report
        assert await store.report(report.id + 1000) is None


async def test_a_messages_room_is_found_by_its_id(config: Config) -> None:
    async with open_store(config) as store:
        _owner, member, room = await _owner_member_room(store)
        message = await add_message(store, room.id, member.id, "here")
        assert await store.message_room(message.id) == room.id
        assert await store.message_room(message.id + 1000) is None


async def test_reports_page_back_by_room_and_status(config: Config) -> None:
    async with open_store(config) as store:
        owner, member, room = await _owner_member_room(store)
        other = await store.create_room("other", is_private=False, creator_id=owner.id)
        in_room = [await add_message(store, room.id, owner.id, f"m{n}") for n in range(2)]
        elsewhere = await add_message(store, other.id, owner.id, "elsewhere")
        made = [
            (await store.add_report(room.id, in_room[0].id, member.id, "a"))[0],
            (await store.add_report(other.id, elsewhere.id, member.id, "b"))[0],
            (await store.add_report(room.id, in_room[1].id, member.id, "c"))[0],
        ]
        await store.decide_report(made[0].id, "dismissed", owner.id, _entry(room, "dismiss", owner))
        every = await store.reports(None, status=None, before=None, limit=10)
        of_room = await store.reports(room.id, status=None, before=None, limit=10)
        still_open = await store.reports(None, status="open", before=None, limit=10)
        page = await store.reports(None, status=None, before=made[2].id, limit=1)
    assert [r.id for r in every] == [made[2].id, made[1].id, made[0].id]
    assert [r.id for r in of_room] == [made[2].id, made[0].id]
    assert [r.id for r in still_open] == [made[2].id, made[1].id]
    assert [r.id for r in page] == [made[1].id]


async def test_deciding_a_report_records_who_and_is_audited(config: Config) -> None:
    async with open_store(config) as store:
        owner, member, room = await _owner_member_room(store)
        message = await add_message(store, room.id, owner.id, "rude")
        report, _ = await store.add_report(room.id, message.id, member.id, "rude")
        entry = _entry(room, "resolve", owner)
        decided = await store.decide_report(report.id, "resolved", owner.id, entry)
        assert decided is not None
        assert (decided.status, decided.decided_by, decided.decided_by_name) == (
            "resolved",
            owner.id,
            "owner",
        )
        assert decided.decided_at is not None and await store.report(report.id) == decided
        assert await store.decide_report(report.id + 1000, "resolved", owner.id, entry) is None
        assert await _actions(store, room) == ["resolve"]
