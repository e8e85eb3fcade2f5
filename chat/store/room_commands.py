"""A room's slash commands and outgoing webhooks (`RoomCommandRegistrations`), on both
engines: one row each, with its secret as it is (an HMAC key the server signs with:
chat/core/room_commands.py), its bot a user of kind ``bot`` (chat/store/bots.py). Each
change is written with its audit entry, in one transaction; deleting a registration erases
its bot in that transaction too."""

from __future__ import annotations

from chat.core.moderation_records import AuditEntry
from chat.core.room_commands import RoomCommand
from chat.store.base import StoreBase
from chat.store.bots import erase_bot
from chat.store.database import Connection, Row, UniqueViolation
from chat.store.moderation import insert_audit

_COLUMNS = (
    "id, room_id, bot_id, kind, command, trigger_words, url, description, secret,"
    " created_by, created_at"
)
_COUNT_OF_KIND = "SELECT count(*) FROM room_commands WHERE room_id = $1 AND kind = $2"
_NAMED = f"SELECT {_COLUMNS} FROM room_commands WHERE room_id = $1 AND command = $2"
_INSERT = (
    f"INSERT INTO room_commands ({_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
)
_TRIGGERS = f"SELECT {_COLUMNS} FROM room_commands WHERE room_id = $1 AND kind = 'trigger'"
_OF_ROOM = """
SELECT r.id, r.room_id, r.bot_id, r.kind, r.command, r.trigger_words, r.url,
       r.description, r.created_by, r.created_at,
       b.name AS bot_name, c.name AS creator_name
FROM room_commands AS r
JOIN users AS b ON b.id = r.bot_id
LEFT JOIN users AS c ON c.id = r.created_by
WHERE r.room_id = $1 AND r.kind = $2
ORDER BY r.created_at, r.id
"""
_DELETE = "DELETE FROM room_commands WHERE id = $1 AND room_id = $2 AND kind = $3 RETURNING bot_id"


def _command(row: Row, *, names: bool = False) -> RoomCommand:
    return RoomCommand(
        command_id=row["id"],
        room_id=row["room_id"],
        bot_id=row["bot_id"],
        kind=row["kind"],
        command=row["command"],
        trigger_words=tuple(row["trigger_words"].split()),
        url=row["url"],
        description=row["description"],
        secret="" if names else row["secret"],
        created_by=row["created_by"],
        created_at=row["created_at"],
        bot_name=row["bot_name"] if names else "",
        creator_name=row["creator_name"] if names else None,
    )


async def _add(conn: Connection, command: RoomCommand, audit: AuditEntry, most: int) -> str:
    # Counted and checked in the transaction that inserts (SQLite: under its write lock;
    # PostgreSQL: two at once may both pass the count, one over, and the unique index
    # refuses the second of two same names: `add_room_command` says "taken" then).
    if int(await conn.fetchval(_COUNT_OF_KIND, command.room_id, command.kind)) >= most:
        return "full"
    if command.command is not None and await conn.fetchrow(
        _NAMED, command.room_id, command.command
    ):
        return "taken"
    await conn.execute(
        _INSERT,
        *(command.command_id, command.room_id, command.bot_id, command.kind, command.command),
        *(" ".join(command.trigger_words), command.url, command.description, command.secret),
        *(command.created_by, command.created_at),
    )
    await insert_audit(conn, audit)
    return "added"


async def _delete(
    conn: Connection, command_id: str, room_id: int, kind: str, audit: AuditEntry
) -> int | None:
    bot_id = await conn.fetchval(_DELETE, command_id, room_id, kind)
    if bot_id is None:
        return None
    await erase_bot(conn, int(bot_id))
    await insert_audit(conn, audit)
    return int(bot_id)


class StoredRoomCommands(StoreBase):
    """`RoomCommandRegistrations`."""

    async def add_room_command(self, command: RoomCommand, audit: AuditEntry, *, most: int) -> str:
        try:
            return await self.db.transaction(_add, command, audit, most)
        except UniqueViolation:
            return "taken"  # the same name registered at the same moment (PostgreSQL)

    async def room_commands_of(self, room_id: int, kind: str) -> list[RoomCommand]:
        rows = await self.db.fetch(_OF_ROOM, room_id, kind)
        return [_command(row, names=True) for row in rows]

    async def room_command_named(self, room_id: int, command: str) -> RoomCommand | None:
        row = await self.db.fetchrow(_NAMED, room_id, command)
        return None if row is None else _command(row)

    async def room_triggers(self, room_id: int) -> list[RoomCommand]:
        return [_command(row) for row in await self.db.fetch(_TRIGGERS, room_id)]

    async def delete_room_command(
        self, command_id: str, room_id: int, kind: str, audit: AuditEntry
    ) -> int | None:
        return await self.db.transaction(_delete, command_id, room_id, kind, audit)
