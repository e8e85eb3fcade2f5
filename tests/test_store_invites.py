"""The invites' storage on both engines: one stored with its audit entry and listed with
its maker's name, a maker's dead ones dropped when they make another, a use taken with
the user's insert (none past the count or the expiry; none kept by a refused insert), and
deleting one of one's own only."""

from __future__ import annotations

import time

import pytest

from chat.core.config import Config
from chat.core.errors import NameTaken
from chat.core.invites import Invite
from chat.core.moderation_records import AuditEntry
from chat.store import Store, open_store


def _audit(action: str = "invite-create") -> AuditEntry:
    return AuditEntry(room_id=None, action=action, actor_id=1, actor_name="op")


async def _add(store: Store, maker: int, invite_id: str, uses: int = 1, **more: int) -> Invite:
    now = int(time.time())
    invite = Invite(invite_id, maker, uses, 0, (3, 5), now, more.get("expires", now + 60), "h")
    assert await store.add_invite(invite, _audit(), most=10, now=now)
    return invite


async def test_an_invite_is_listed_with_its_makers_name_and_audited(config: Config) -> None:
    async with open_store(config) as store:
        op = await store.create_user("op", "hash", is_admin=True)
        added = await _add(store, op.id, "a" * 16)
        (listed,) = await store.invites(None, limit=10)
        entries = await store.audit_entries(None, before=None, limit=10)
    assert listed.room_ids == (3, 5) and listed.created_by_name == "op"
    assert (listed.invite_id, listed.uses, listed.used) == (added.invite_id, 1, 0)
    assert [entry.action for entry in entries] == ["invite-create"]


async def test_a_use_is_taken_with_the_insert_and_none_past_the_count(config: Config) -> None:
    async with open_store(config) as store:
        op = await store.create_user("op", "hash", is_admin=True)
        await _add(store, op.id, "b" * 16, uses=1)
        now = int(time.time())
        made = await store.register_with_invite("b" * 16, "dana", "h", email=None, now=now)
        again = await store.register_with_invite("b" * 16, "erin", "h", email=None, now=now)
        invite = await store.invite("b" * 16)
    assert made is not None and made[0].name == "dana" and made[1].room_ids == (3, 5)
    assert again is None and invite is not None and invite.used == 1


async def test_no_use_is_taken_past_the_expiry(config: Config) -> None:
    async with open_store(config) as store:
        op = await store.create_user("op", "hash", is_admin=True)
        invite = await _add(store, op.id, "c" * 16, uses=5)
        later = invite.expires_at + 1
        assert (
            await store.register_with_invite("c" * 16, "dana", "h", email=None, now=later) is None
        )


async def test_a_refused_insert_keeps_the_use(config: Config) -> None:
    async with open_store(config) as store:
        op = await store.create_user("op", "hash", is_admin=True)
        await _add(store, op.id, "d" * 16, uses=1)
        now = int(time.time())
        with pytest.raises(NameTaken):
            await store.register_with_invite("d" * 16, "op", "h", email=None, now=now)
        invite = await store.invite("d" * 16)
    assert invite is not None and invite.used == 0


async def test_a_makers_spent_invites_are_dropped_when_they_make_another(config: Config) -> None:
    async with open_store(config) as store:
        op = await store.create_user("op", "hash", is_admin=True)
        await _add(store, op.id, "e" * 16, uses=1)
        await store.register_with_invite("e" * 16, "dana", "h", email=None, now=int(time.time()))
        await _add(store, op.id, "f" * 16)
        listed = [each.invite_id for each in await store.invites(op.id, limit=10)]
    assert listed == ["f" * 16]


async def test_a_member_deletes_only_their_own(config: Config) -> None:
    async with open_store(config) as store:
        op = await store.create_user("op", "hash", is_admin=True)
        alice = await store.create_user("alice", "hash")
        await _add(store, op.id, "g" * 16)
        refused = await store.delete_invite("g" * 16, alice.id, _audit("invite-delete"))
        deleted = await store.delete_invite("g" * 16, None, _audit("invite-delete"))
    assert refused is None and deleted is not None and deleted.invite_id == "g" * 16
