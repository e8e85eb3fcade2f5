"""Two-factor authentication (`TwoFactor`), on both engines: one row per user holding
their TOTP secret (pending until confirmed), the last time-step a code was accepted at,
and their recovery codes as SHA-256 hashes (sql/*/two_factor). Each use of a code is one
conditional statement, so of two instances shown the same code only one accepts it."""

from __future__ import annotations

from collections.abc import Sequence

from chat.core.moderation_records import AuditEntry
from chat.core.two_factor import TwoFactorState
from chat.store.base import StoreBase
from chat.store.database import Connection
from chat.store.moderation import insert_audit

_STATE = "SELECT secret, enabled_at, last_step FROM two_factor WHERE user_id = $1"
_CODES_LEFT = "SELECT count(*) FROM two_factor_recovery_codes WHERE user_id = $1"
# A new enrolment replaces a pending one, never one in force.
_PENDING = """
INSERT INTO two_factor (user_id, secret, created_at, enabled_at, last_step)
VALUES ($1, $2, $3, NULL, 0)
ON CONFLICT (user_id) DO UPDATE SET secret = excluded.secret, created_at = excluded.created_at
WHERE two_factor.enabled_at IS NULL
"""
_ENABLE = """
UPDATE two_factor SET enabled_at = $3, last_step = $4
WHERE user_id = $1 AND secret = $2 AND enabled_at IS NULL
"""
_DROP_CODES = "DELETE FROM two_factor_recovery_codes WHERE user_id = $1"
_ADD_CODE = "INSERT INTO two_factor_recovery_codes (user_id, code_hash) VALUES ($1, $2)"
# Accepted once: only a step later than every one accepted before moves it.
_USE_STEP = """
UPDATE two_factor SET last_step = $2
WHERE user_id = $1 AND enabled_at IS NOT NULL AND last_step < $2
"""
_USE_CODE = "DELETE FROM two_factor_recovery_codes WHERE user_id = $1 AND code_hash = $2"
_DISABLE = "DELETE FROM two_factor WHERE user_id = $1 AND enabled_at IS NOT NULL"


async def _enable(
    conn: Connection,
    user_id: int,
    secret: str,
    now: int,
    step: int,
    code_hashes: Sequence[str],
    audit: AuditEntry,
) -> bool:
    if await conn.execute(_ENABLE, user_id, secret, now, step) != 1:
        return False  # enabled meanwhile, or another enrolment replaced this secret
    await conn.execute(_DROP_CODES, user_id)
    await conn.executemany(_ADD_CODE, [(user_id, code_hash) for code_hash in code_hashes])
    await insert_audit(conn, audit)
    return True


async def _disable(conn: Connection, user_id: int, audit: AuditEntry) -> bool:
    if await conn.execute(_DISABLE, user_id) != 1:
        return False
    await conn.execute(_DROP_CODES, user_id)
    await insert_audit(conn, audit)
    return True


class StoredTwoFactor(StoreBase):
    """`TwoFactor`."""

    async def two_factor(self, user_id: int) -> TwoFactorState | None:
        row = await self.db.fetchrow(_STATE, user_id)
        if row is None:
            return None
        codes = int(await self.db.fetchval(_CODES_LEFT, user_id))
        return TwoFactorState(
            secret=row["secret"],
            enabled=row["enabled_at"] is not None,
            last_step=int(row["last_step"]),
            recovery_codes_left=codes,
        )

    async def start_two_factor(self, user_id: int, secret: str, *, now: int) -> bool:
        return await self.db.execute(_PENDING, user_id, secret, now) == 1

    async def enable_two_factor(
        self,
        user_id: int,
        secret: str,
        *,
        now: int,
        step: int,
        code_hashes: Sequence[str],
        audit: AuditEntry,
    ) -> bool:
        return await self.db.transaction(_enable, user_id, secret, now, step, code_hashes, audit)

    async def use_totp_step(self, user_id: int, step: int) -> bool:
        return await self.db.execute(_USE_STEP, user_id, step) == 1

    async def use_recovery_code(self, user_id: int, code_hash: str) -> bool:
        return await self.db.execute(_USE_CODE, user_id, code_hash) == 1

    async def disable_two_factor(self, user_id: int, audit: AuditEntry) -> bool:
        return await self.db.transaction(_disable, user_id, audit)
