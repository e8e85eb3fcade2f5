"""Personal access tokens (`ApiTokens`), on both engines: one row each, the secret's
SHA-256 only (chat/core/api_tokens.py); revoking one deletes its row."""

from __future__ import annotations

from collections.abc import Collection

from chat.core.api_tokens import ApiToken
from chat.store.base import StoreBase
from chat.store.database import Connection, Row

_COLUMNS = "id, user_id, name, scopes, secret_hash, created_at, expires_at"
_COUNT_OF_USER = "SELECT count(*) FROM api_tokens WHERE user_id = $1"
_INSERT = f"INSERT INTO api_tokens ({_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)"
_BY_ID = f"SELECT {_COLUMNS} FROM api_tokens WHERE id = $1"
_OF_USERS = f"SELECT {_COLUMNS} FROM api_tokens WHERE {{ids}} ORDER BY created_at DESC, id"
_DELETE_OWN = "DELETE FROM api_tokens WHERE id = $1 AND {ids} RETURNING user_id"
#: Which of the tokens $1 (a list) stand at $2 (not revoked, not expired).
_STANDING = "SELECT id FROM api_tokens WHERE {ids} AND (expires_at IS NULL OR expires_at > $2)"


def _token(row: Row) -> ApiToken:
    return ApiToken(
        token_id=row["id"],
        user_id=row["user_id"],
        name=row["name"],
        scopes=frozenset(row["scopes"].split()),
        created_at=row["created_at"],
        expires_at=row["expires_at"],
        secret_hash=row["secret_hash"],
    )


async def _add(conn: Connection, token: ApiToken, most: int) -> bool:
    async with conn.transaction():
        # A user's count is read and written in one transaction (SQLite: under its write
        # lock; PostgreSQL: two at once may both pass, one over: bounded all the same).
        if int(await conn.fetchval(_COUNT_OF_USER, token.user_id)) >= most:
            return False
        scopes = " ".join(sorted(token.scopes))
        await conn.execute(
            _INSERT,
            token.token_id,
            token.user_id,
            token.name,
            scopes,
            token.secret_hash,
            token.created_at,
            token.expires_at,
        )
        return True


class StoredApiTokens(StoreBase):
    """`ApiTokens`."""

    async def add_api_token(self, token: ApiToken, *, most: int) -> bool:
        return await self.db.run(_add, token, most)

    async def api_token(self, token_id: str) -> ApiToken | None:
        row = await self.db.fetchrow(_BY_ID, token_id)
        return None if row is None else _token(row)

    async def api_tokens_of(self, user_ids: Collection[int]) -> list[ApiToken]:
        sql = _OF_USERS.format(ids=self.dialect.is_among("user_id", 1))
        rows = await self.db.fetch(sql, self.dialect.list_param(list(user_ids)))
        return [_token(row) for row in rows]

    async def delete_api_token(self, token_id: str, user_ids: Collection[int]) -> int | None:
        sql = _DELETE_OWN.format(ids=self.dialect.is_among("user_id", 2))
        whose = await self.db.fetchval(sql, token_id, self.dialect.list_param(list(user_ids)))
        return None if whose is None else int(whose)

    async def standing_api_tokens(self, token_ids: Collection[str], *, now: int) -> set[str]:
        sql = _STANDING.format(ids=self.dialect.is_among("id", 1, "text"))
        rows = await self.db.fetch(sql, self.dialect.list_param(list(token_ids)), now)
        return {row["id"] for row in rows}
