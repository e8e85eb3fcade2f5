"""E-mail (`Email`), on both engines: whether a user's address is verified, their digest
switch and how far digests went (columns of ``users``), and the mailed links' tokens
(``email_tokens``, by their SHA-256 only: a token is deleted as it is used, and replaced
by the user's next of its purpose, so the table holds at most two rows per user)."""

from __future__ import annotations

from datetime import datetime

from chat.core.errors import EmailTaken
from chat.core.mail import Missed
from chat.store.base import StoreBase
from chat.store.database import Connection, UniqueViolation

_STATE = (
    "SELECT id, name, email, email_verified_at, email_digest FROM users"
    " WHERE id = $1 AND erased_at IS NULL"
)
_BY_VERIFIED = (
    "SELECT id, name FROM users WHERE email = $1 AND email_verified_at IS NOT NULL"
    " AND erased_at IS NULL AND deactivated_at IS NULL"
)
_FORGET_TOKENS = "DELETE FROM email_tokens WHERE user_id = $1 AND purpose = $2"
_ADD_TOKEN = (
    "INSERT INTO email_tokens (token_hash, user_id, purpose, email, created_at, expires_at)"
    " VALUES ($1, $2, $3, $4, $5, $6)"
)
_TAKE_TOKEN = (
    "DELETE FROM email_tokens WHERE token_hash = $1 AND purpose = $2"
    " RETURNING user_id, email, expires_at"
)
# The digests start from the newest message when the address is verified: never old news.
_VERIFY = """
UPDATE users SET email = $2, email_verified_at = $3,
    digested_through = (SELECT coalesce(max(id), 0) FROM messages)
WHERE id = $1 AND erased_at IS NULL RETURNING id
"""
_SET_DIGEST = "UPDATE users SET email_digest = $2 WHERE id = $1 RETURNING id"
_DIGEST_READERS = """
SELECT id, name, email, coalesce(digested_through, 0) AS through FROM users
WHERE email_verified_at IS NOT NULL AND coalesce(email_digest, {on}) = {on}
  AND erased_at IS NULL AND deactivated_at IS NULL AND id > $1
ORDER BY id LIMIT $2
"""
_NEWEST_BEFORE = "SELECT coalesce(max(id), 0) FROM messages WHERE id > $1 AND created_at <= $2"
_CLAIM = (
    "UPDATE users SET digested_through = $3"
    " WHERE id = $1 AND coalesce(digested_through, 0) = $2 RETURNING id"
)
#: The user's unread mentions and direct messages in (through, up_to]: not theirs, not
#: deleted, past their read marker in a room they are a member of.
_MISSED = """
FROM messages m
JOIN rooms r ON r.id = m.room_id
JOIN room_members rm ON rm.room_id = m.room_id AND rm.user_id = $1
JOIN users s ON s.id = m.sender_id
LEFT JOIN read_markers rd ON rd.user_id = $1 AND rd.room_id = m.room_id
WHERE m.id > $2 AND m.id <= $3 AND m.sender_id <> $1 AND m.deleted_at IS NULL
  AND m.id > coalesce(rd.message_id, 0)
  AND (r.kind = 'direct' OR EXISTS (
      SELECT 1 FROM message_mentions mm WHERE mm.message_id = m.id AND mm.user_id = $1))
"""
_MISSED_COUNT = f"SELECT count(*) {_MISSED}"
_MISSED_FIRST = (
    f"SELECT r.name AS room, r.kind, s.name AS sender, m.body {_MISSED} ORDER BY m.id LIMIT $4"
)


async def _add_token(
    conn: Connection,
    token_hash: str,
    user_id: int,
    purpose: str,
    email: str,
    created: datetime,
    expires: datetime,
) -> None:
    # One link of each purpose per user: a new one replaces the one mailed before.
    async with conn.transaction():
        await conn.execute(_FORGET_TOKENS, user_id, purpose)
        stamp = conn.dialect.timestamp
        args = (token_hash, user_id, purpose, email, stamp(created), stamp(expires))
        await conn.execute(_ADD_TOKEN, *args)


async def _verify(conn: Connection, user_id: int, email: str, now: datetime) -> bool:
    try:
        found = await conn.fetchval(_VERIFY, user_id, email, conn.dialect.timestamp(now))
    except UniqueViolation as error:
        if error.on("users.email"):
            raise EmailTaken() from None
        raise
    return found is not None


class StoredEmail(StoreBase):
    """`Email`."""

    async def email_state(self, user_id: int) -> tuple[str, str | None, bool, bool] | None:
        row = await self.db.fetchrow(_STATE, user_id)
        if row is None:
            return None
        digest = row["email_digest"]
        verified = row["email_verified_at"] is not None
        return row["name"], row["email"], verified, True if digest is None else bool(digest)

    async def user_by_verified_email(self, email: str) -> tuple[int, str] | None:
        row = await self.db.fetchrow(_BY_VERIFIED, email)
        return None if row is None else (int(row["id"]), row["name"])

    async def add_email_token(
        self,
        token_hash: str,
        user_id: int,
        purpose: str,
        email: str,
        *,
        created: datetime,
        expires: datetime,
    ) -> None:
        await self.db.run(_add_token, token_hash, user_id, purpose, email, created, expires)

    async def take_email_token(
        self, token_hash: str, purpose: str, now: datetime
    ) -> tuple[int, str] | None:
        row = await self.db.fetchrow(_TAKE_TOKEN, token_hash, purpose)
        if row is None or self.dialect.moment(row["expires_at"]) <= now:
            return None
        return int(row["user_id"]), row["email"]

    async def verify_email(self, user_id: int, email: str, now: datetime) -> bool:
        return await self.db.run(_verify, user_id, email, now)

    async def set_email_digest(self, user_id: int, on: bool) -> bool:
        return await self.db.fetchval(_SET_DIGEST, user_id, on) is not None

    async def digest_readers(self, after: int, limit: int) -> list[tuple[int, str, str, int]]:
        on = self.dialect.pick(sqlite="1", postgres="true")
        rows = await self.db.fetch(_DIGEST_READERS.format(on=on), after, limit)
        return [(row["id"], row["name"], row["email"], int(row["through"])) for row in rows]

    async def newest_message_before(self, after: int, moment: datetime) -> int:
        return int(await self.db.fetchval(_NEWEST_BEFORE, after, self.dialect.timestamp(moment)))

    async def claim_digest(self, user_id: int, through: int, up_to: int) -> bool:
        return await self.db.fetchval(_CLAIM, user_id, through, up_to) is not None

    async def missed_messages(
        self, user_id: int, through: int, up_to: int, most: int
    ) -> tuple[int, list[Missed]]:
        count = int(await self.db.fetchval(_MISSED_COUNT, user_id, through, up_to))
        if count == 0:
            return 0, []
        rows = await self.db.fetch(_MISSED_FIRST, user_id, through, up_to, most)
        missed = [
            Missed(
                "a direct conversation" if row["kind"] == "direct" else f"#{row['room']}",
                row["sender"],
                row["body"],
            )
            for row in rows
        ]
        return count, missed
