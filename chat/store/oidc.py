"""Single sign-on (`OidcLinks`), on both engines: the sign-ins begun and not yet finished
(`oidc_logins`, one use each) and the accounts providers' subjects sign in to
(`oidc_identities`, by issuer and ``sub``)."""

from __future__ import annotations

from chat.core.oidc import PendingLogin
from chat.core.records import User
from chat.store.accounts import user_from_row
from chat.store.base import StoreBase
from chat.store.database import Connection

_LOGIN_COLUMNS = "state_hash, provider, browser_hash, nonce, verifier, expires_at"
_SWEEP = "DELETE FROM oidc_logins WHERE expires_at <= $1"
_BEGIN = f"INSERT INTO oidc_logins ({_LOGIN_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6)"
_TAKE = f"DELETE FROM oidc_logins WHERE state_hash = $1 RETURNING {_LOGIN_COLUMNS}"
_LINKED = (
    "SELECT u.* FROM oidc_identities AS i JOIN users AS u ON u.id = i.user_id"
    " WHERE i.issuer = $1 AND i.subject = $2"
)
_LINK = "INSERT INTO oidc_identities (issuer, subject, user_id, created_at) VALUES ($1, $2, $3, $4)"


async def _begin(conn: Connection, row: tuple[str, str, str, str, str, int], now: int) -> None:
    async with conn.transaction():
        # The expired ones go as new ones come: the table holds the last minutes' only.
        await conn.execute(_SWEEP, now)
        await conn.execute(_BEGIN, *row)


class StoredOidc(StoreBase):
    """`OidcLinks`."""

    async def begin_oidc_login(self, login: PendingLogin, *, now: int) -> None:
        row = (
            login.state_hash,
            login.provider,
            login.browser_hash,
            login.nonce,
            login.verifier,
            login.expires_at,
        )
        await self.db.run(_begin, row, now)

    async def take_oidc_login(self, state_hash: str) -> PendingLogin | None:
        row = await self.db.fetchrow(_TAKE, state_hash)
        if row is None:
            return None
        return PendingLogin(
            state_hash=row["state_hash"],
            provider=row["provider"],
            browser_hash=row["browser_hash"],
            nonce=row["nonce"],
            verifier=row["verifier"],
            expires_at=int(row["expires_at"]),
        )

    async def oidc_user(self, issuer: str, subject: str) -> User | None:
        return user_from_row(await self.db.fetchrow(_LINKED, issuer, subject), self.dialect)

    async def link_oidc(self, issuer: str, subject: str, user_id: int, *, now: int) -> None:
        await self.db.execute(_LINK, issuer, subject, user_id, now)
