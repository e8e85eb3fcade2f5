"""Second factors on both backends, the same behaviour (`TwoFactor`, chat/store/two_factor.py):
an enrolment pending until confirmed, a time-step accepted once, a recovery code used
once, turning it off with its audit entry, and an erased account's factor gone."""

from __future__ import annotations

from test_store_accounts import _erase

from chat.core.config import Config
from chat.core.moderation_records import AuditEntry
from chat.store import Store, open_store

NOW = 1_800_000_000


def _audit(user_id: int, action: str) -> AuditEntry:
    return AuditEntry(None, action, user_id, "alice", user_id, "alice")


async def _enabled(store: Store, user_id: int, *, step: int = 100) -> None:
    assert await store.start_two_factor(user_id, "SECRET", now=NOW)
    assert await store.enable_two_factor(
        user_id,
        "SECRET",
        now=NOW,
        step=step,
        code_hashes=["h1", "h2"],
        audit=_audit(user_id, "2fa-enable"),
    )


async def test_an_enrolment_is_pending_until_confirmed_and_then_in_force(config: Config) -> None:
    async with open_store(config) as store:
        alice = await store.create_user("alice", "hash")
        assert await store.two_factor(alice.id) is None
        assert await store.start_two_factor(alice.id, "FIRST", now=NOW)
        assert await store.start_two_factor(alice.id, "SECRET", now=NOW)  # replaces it
        pending = await store.two_factor(alice.id)
        assert pending is not None and not pending.enabled and pending.secret == "SECRET"
        await _enabled(store, alice.id)
        state = await store.two_factor(alice.id)
        assert state is not None
        assert (state.enabled, state.last_step, state.recovery_codes_left) == (True, 100, 2)
        assert not await store.start_two_factor(alice.id, "OTHER", now=NOW)  # in force


async def test_a_replaced_enrolment_cannot_be_confirmed(config: Config) -> None:
    async with open_store(config) as store:
        alice = await store.create_user("alice", "hash")
        await store.start_two_factor(alice.id, "FIRST", now=NOW)
        await store.start_two_factor(alice.id, "SECOND", now=NOW)
        confirmed = await store.enable_two_factor(
            alice.id, "FIRST", now=NOW, step=1, code_hashes=[], audit=_audit(alice.id, "x")
        )
        assert not confirmed


async def test_a_time_step_is_accepted_once_and_never_an_earlier_one(config: Config) -> None:
    async with open_store(config) as store:
        alice = await store.create_user("alice", "hash")
        await _enabled(store, alice.id, step=100)
        assert not await store.use_totp_step(alice.id, 100)  # the confirming code's
        assert await store.use_totp_step(alice.id, 101)
        assert not await store.use_totp_step(alice.id, 101)
        assert not await store.use_totp_step(alice.id, 99)


async def test_a_recovery_code_is_used_once(config: Config) -> None:
    async with open_store(config) as store:
        alice = await store.create_user("alice", "hash")
        await _enabled(store, alice.id)
        assert await store.use_recovery_code(alice.id, "h1")
        assert not await store.use_recovery_code(alice.id, "h1")
        assert not await store.use_recovery_code(alice.id, "unknown")
        state = await store.two_factor(alice.id)
        assert state is not None and state.recovery_codes_left == 1


async def test_turning_it_off_removes_it_and_writes_both_audit_entries(config: Config) -> None:
    async with open_store(config) as store:
        alice = await store.create_user("alice", "hash")
        await _enabled(store, alice.id)
        assert await store.disable_two_factor(alice.id, _audit(alice.id, "2fa-disable"))
        assert await store.two_factor(alice.id) is None
        assert not await store.use_recovery_code(alice.id, "h2")
        assert not await store.disable_two_factor(alice.id, _audit(alice.id, "2fa-disable"))
        entries = await store.audit_entries(None, before=None, limit=10)
        assert [(e.action, e.room_id, e.target_id) for e in entries] == [
            ("2fa-disable", None, alice.id),
            ("2fa-enable", None, alice.id),
        ]


async def test_a_pending_enrolment_cannot_be_turned_off_or_used(config: Config) -> None:
    async with open_store(config) as store:
        alice = await store.create_user("alice", "hash")
        await store.start_two_factor(alice.id, "SECRET", now=NOW)
        assert not await store.use_totp_step(alice.id, 5)
        assert not await store.disable_two_factor(alice.id, _audit(alice.id, "2fa-disable"))


async def test_an_erased_accounts_second_factor_is_gone(config: Config) -> None:
    async with open_store(config) as store:
        alice = await store.create_user("alice", "hash")
        await _enabled(store, alice.id)
        await _erase(store, alice.id, "alice")
        assert await store.two_factor(alice.id) is None
