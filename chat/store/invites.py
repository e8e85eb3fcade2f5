"""Invite links (`Invites`), on both engines: one row each, the secret's SHA-256 only
(chat/core/invites.py); making and deleting one is written with its audit entry, in one
transaction.

A registration with an invite takes one of its uses in the transaction that inserts its
user (`register_with_invite`): the UPDATE is guarded by ``used < uses`` and the expiry, so
of two registrations racing for the last use one wins (PostgreSQL re-reads the row the
other updated before judging it; SQLite writes one at a time), and a registration refused
(its name taken) gives its use back by rolling back.
"""

from __future__ import annotations

from chat.core.invites import Invite, room_ids_of, room_ids_text
from chat.core.moderation_records import AuditEntry
from chat.core.records import User
from chat.store.accounts import INSERT_USER, name_keys, raise_taken, user_from_row
from chat.store.base import StoreBase
from chat.store.database import Connection, Row, UniqueViolation
from chat.store.moderation import insert_audit

_COLUMNS = "id, created_by, secret_hash, uses, used, room_ids, created_at, expires_at"
_WITH_NAME = (
    "SELECT i.id, i.created_by, i.secret_hash, i.uses, i.used, i.room_ids, i.created_at,"
    " i.expires_at, u.name AS creator FROM invites AS i JOIN users AS u ON u.id = i.created_by"
)
_INSERT = (
    "INSERT INTO invites (id, created_by, secret_hash, uses, room_ids, created_at, expires_at)"
    " VALUES ($1, $2, $3, $4, $5, $6, $7)"
)
#: A creator's invites that admit nobody any more ($2: now): dropped when they make one.
_DROP_DEAD = "DELETE FROM invites WHERE created_by = $1 AND (used >= uses OR expires_at <= $2)"
_STANDING_OF = "SELECT count(*) FROM invites WHERE created_by = $1"
_BY_ID = f"{_WITH_NAME} WHERE i.id = $1"
_ALL = f"{_WITH_NAME} ORDER BY i.created_at DESC, i.id LIMIT $1"
_OF_USER = f"{_WITH_NAME} WHERE i.created_by = $1 ORDER BY i.created_at DESC, i.id LIMIT $2"
_DELETE = f"DELETE FROM invites WHERE id = $1 RETURNING {_COLUMNS}"
_DELETE_OWN = f"DELETE FROM invites WHERE id = $1 AND created_by = $2 RETURNING {_COLUMNS}"
#: Take one use of invite $1 if it has one left and is not expired at $2.
_USE = (
    "UPDATE invites SET used = used + 1 WHERE id = $1 AND used < uses AND expires_at > $2"
    " RETURNING room_ids, created_by"
)


def _invite(row: Row, name: str = "") -> Invite:
    return Invite(
        invite_id=row["id"],
        created_by=row["created_by"],
        uses=row["uses"],
        used=row["used"],
        room_ids=room_ids_of(row["room_ids"]),
        created_at=row["created_at"],
        expires_at=row["expires_at"],
        secret_hash=row["secret_hash"],
        created_by_name=name,
    )


def _named(row: Row) -> Invite:
    return _invite(row, row["creator"])


async def _add(conn: Connection, invite: Invite, audit: AuditEntry, most: int, now: int) -> bool:
    async with conn.transaction():
        # A creator's count is read and written in one transaction (SQLite: under its
        # write lock; PostgreSQL: two at once may both pass, one over: bounded all the same).
        await conn.execute(_DROP_DEAD, invite.created_by, now)
        if int(await conn.fetchval(_STANDING_OF, invite.created_by)) >= most:
            return False
        await conn.execute(
            _INSERT,
            invite.invite_id,
            invite.created_by,
            invite.secret_hash,
            invite.uses,
            room_ids_text(invite.room_ids),
            invite.created_at,
            invite.expires_at,
        )
        await insert_audit(conn, audit)
        return True


async def _delete(
    conn: Connection, invite_id: str, created_by: int | None, audit: AuditEntry
) -> Invite | None:
    async with conn.transaction():
        if created_by is None:
            row = await conn.fetchrow(_DELETE, invite_id)
        else:
            row = await conn.fetchrow(_DELETE_OWN, invite_id, created_by)
        if row is None:
            return None
        await insert_audit(conn, audit)
        return _invite(row)


async def _register(
    conn: Connection,
    invite_id: str,
    now: int,
    name: str,
    args: tuple[object, ...],
) -> tuple[User, Invite] | None:
    keys = name_keys(name)
    try:
        async with conn.transaction():
            used = await conn.fetchrow(_USE, invite_id, now)
            if used is None:
                return None
            user = user_from_row(await conn.fetchrow(INSERT_USER, *args), conn.dialect)
    except UniqueViolation as error:
        # Rolled back, the use with it; read outside the transaction the error ended.
        await raise_taken(conn, name, keys, error)
    assert user is not None
    invite = Invite(invite_id, used["created_by"], 0, 0, room_ids_of(used["room_ids"]), 0, 0)
    return user, invite


class StoredInvites(StoreBase):
    """`Invites`."""

    async def add_invite(self, invite: Invite, audit: AuditEntry, *, most: int, now: int) -> bool:
        return await self.db.run(_add, invite, audit, most, now)

    async def invite(self, invite_id: str) -> Invite | None:
        row = await self.db.fetchrow(_BY_ID, invite_id)
        return None if row is None else _named(row)

    async def invites(self, created_by: int | None, *, limit: int) -> list[Invite]:
        if created_by is None:
            rows = await self.db.fetch(_ALL, limit)
        else:
            rows = await self.db.fetch(_OF_USER, created_by, limit)
        return [_named(row) for row in rows]

    async def delete_invite(
        self, invite_id: str, created_by: int | None, audit: AuditEntry
    ) -> Invite | None:
        return await self.db.run(_delete, invite_id, created_by, audit)

    async def register_with_invite(
        self,
        invite_id: str,
        name: str,
        password_hash: str,
        *,
        email: str | None,
        now: int,
    ) -> tuple[User, Invite] | None:
        keys = name_keys(name)
        args = (
            name,
            keys["name_key"],
            keys["look_key"],
            email,
            password_hash,
            False,
            self.dialect.now(),
        )
        return await self.db.run(_register, invite_id, now, name, args)
