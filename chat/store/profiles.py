"""What a profile shows besides the login name (`Accounts`' display names and avatars), on
both engines (sql/*/00NN_account_screens.sql).

A display name keeps two keys, the `chat.core.names` keys of it: unique indexes keep two
display names from sharing one, and `set_display_name` refuses, in the same transaction,
one whose keys are another user's login name's. Registrations and renames ask the other
way round (`display_name_holder`). A registration racing a display name on PostgreSQL
could pass that one check (no index spans the two columns); the window is a transaction's.
"""

from __future__ import annotations

from chat.core import names
from chat.core.errors import DisplayNameTaken, Gone
from chat.core.records import User
from chat.store.accounts import USER_COLUMNS, user_from_row
from chat.store.base import StoreBase
from chat.store.database import Connection, UniqueViolation

#: Another user ($1: the one asking) whose login name or display name has the keys $2
#: (a name key) or $3 (a look key).
_LOOKS_LIKE = """
SELECT name FROM users WHERE id <> $1 AND erased_at IS NULL
    AND (name_key = $2 OR look_key = $3 OR display_name_key = $2 OR display_look_key = $3)
LIMIT 1
"""
#: A user other than $1 whose display name has the keys $2 or $3 (for a new login name).
_DISPLAY_HOLDER = """
SELECT name FROM users WHERE id <> $1 AND erased_at IS NULL
    AND (display_name_key = $2 OR display_look_key = $3)
LIMIT 1
"""
_SET_DISPLAY_NAME = f"""
UPDATE users SET display_name = $2, display_name_key = $3, display_look_key = $4
WHERE id = $1 AND erased_at IS NULL RETURNING {USER_COLUMNS}
"""
_AVATAR = "SELECT avatar_key FROM users WHERE id = $1 AND erased_at IS NULL"
_SET_AVATAR = f"""
UPDATE users SET avatar_key = $2, avatar_type = $3
WHERE id = $1 AND erased_at IS NULL RETURNING {USER_COLUMNS}
"""


async def _set_display_name(conn: Connection, user_id: int, name: str | None) -> User:
    keys = (None, None) if name is None else (names.name_key(name), names.look_key(name))
    if name is not None:
        holder = await conn.fetchval(_LOOKS_LIKE, user_id, *keys)
        if holder is not None:
            raise DisplayNameTaken(name, holder)
    user = user_from_row(await conn.fetchrow(_SET_DISPLAY_NAME, user_id, name, *keys), conn.dialect)
    if user is None:
        raise Gone("your account")
    return user


class StoredProfiles(StoreBase):
    """`Accounts`: display names and avatars."""

    async def set_display_name(self, user_id: int, display_name: str | None) -> User:
        try:
            return await self.db.transaction(_set_display_name, user_id, display_name)
        except UniqueViolation:
            # Another user took a display name with one of these keys meanwhile.
            assert display_name is not None
            raise DisplayNameTaken(display_name, None) from None

    async def display_name_holder(self, name: str, *, user_id: int | None) -> str | None:
        holder: str | None = await self.db.fetchval(
            _DISPLAY_HOLDER, user_id or 0, names.name_key(name), names.look_key(name)
        )
        return holder

    async def set_avatar(
        self, user_id: int, key: str | None, content_type: str | None
    ) -> tuple[User, str | None]:
        async def swap(conn: Connection) -> tuple[User, str | None]:
            before = await conn.fetchval(_AVATAR, user_id)
            user = user_from_row(
                await conn.fetchrow(_SET_AVATAR, user_id, key, content_type), conn.dialect
            )
            if user is None:
                raise Gone("your account")
            return user, before

        return await self.db.transaction(swap)
