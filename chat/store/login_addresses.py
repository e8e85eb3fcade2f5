"""The addresses a user has logged in from (`Accounts`' login addresses), on both engines.

A successful login remembers its address; the rate limits ask whether an address is one
of the user's only while the account is under attack: one primary-key look-up, rarely.
Only the newest `KEPT_PER_USER` are kept, so a user costs a bounded number of rows.
"""

from __future__ import annotations

from chat.store.base import StoreBase
from chat.store.database import Connection

KEPT_PER_USER = 20
#: The longest address stored; anything longer is not an address, and is not remembered.
MAX_ADDRESS_CHARS = 64

#: {now} is the database's clock: SQLite keeps used_at as Unix seconds, PostgreSQL as a
#: timestamptz.
_REMEMBER = """
INSERT INTO login_addresses (user_id, address, used_at) VALUES ($1, $2, {now})
ON CONFLICT (user_id, address) DO UPDATE SET used_at = excluded.used_at
"""

#: The address just used ($2) stays, with the newest others: SQLite's clock is in
#: seconds, so addresses used within one second tie on used_at, and the tie must not
#: drop the one just remembered.
_PRUNE = f"""
DELETE FROM login_addresses WHERE user_id = $1 AND address <> $2 AND address NOT IN (
    SELECT address FROM login_addresses WHERE user_id = $1 AND address <> $2
    ORDER BY used_at DESC, address LIMIT {KEPT_PER_USER - 1}
)
"""

_KNOWN = "SELECT 1 FROM login_addresses WHERE user_id = $1 AND address = $2"
_SQLITE_NOW = "CAST(strftime('%s', 'now') AS INTEGER)"


async def _remember(conn: Connection, user_id: int, address: str) -> None:
    now = conn.dialect.pick(sqlite=_SQLITE_NOW, postgres="now()")
    await conn.execute(_REMEMBER.format(now=now), user_id, address)
    await conn.execute(_PRUNE, user_id, address)


class StoredLoginAddresses(StoreBase):
    """`Accounts`' login addresses."""

    async def remember_login_address(self, user_id: int, address: str) -> None:
        if len(address) > MAX_ADDRESS_CHARS:
            return
        await self.db.transaction(_remember, user_id, address)

    async def is_login_address(self, user_id: int, address: str) -> bool:
        return await self.db.fetchval(_KNOWN, user_id, address) is not None
