"""The PostgreSQL store's check of a room's rules on a batch of new messages
(`chat.store.shared.room_rules`).

The usual batch's statement reads the rules of its (room, sender) pairs itself and
stores the batch only if none of them is refused or slowed (`HELD_SQL`, in
chat.store.postgres.messages): one trip to the database. A batch held back, or one with
replies or files, has its rules read here (`aio_batch_rules`) and is stored in a
transaction whose new rows are checked after the insert (a resend still answers its
original) and which a refusal rolls back. Slow mode's claim is a conditional upsert in
that transaction: of two sends at once on two instances, the second waits for the first's
row, then finds it too recent.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from chat.core.records import Added, NewMessage
from chat.store.shared.room_rules import CLAIM_SEND_SQL, RULES_SQL, PairRules, refusal, slowed_down

if TYPE_CHECKING:
    import asyncpg

_RULES = RULES_SQL.format(
    pairs="unnest($1::bigint[], $2::bigint[]) AS p(room_id, user_id)", now="clock_timestamp()"
)
_CLAIM = CLAIM_SEND_SQL.format(
    room="$1", user="$2", now="clock_timestamp()", earliest="clock_timestamp() - $3::interval"
)
# How long ago the user last sent, by the database's clock (the claim's).
_LAST_SEND = (
    "SELECT extract(epoch FROM clock_timestamp() - sent_at) FROM room_sends"
    " WHERE room_id = $1 AND user_id = $2"
)


async def aio_batch_rules(
    conn: asyncpg.Connection, rows: list[NewMessage]
) -> dict[tuple[int, int], PairRules] | None:
    """The rules of the batch's pairs if any of them refuses or slows a message; None
    when the batch may be stored as it is."""
    pairs = sorted({(row.room_id, row.sender_id) for row in rows})
    found = await conn.fetch(_RULES, [p[0] for p in pairs], [p[1] for p in pairs])
    rules = {(r["room_id"], r["user_id"]): _pair_rules(r) for r in found}
    if any(refusal(rule) is not None or rule.slowed for rule in rules.values()):
        return rules
    return None


async def aio_check_new(
    conn: asyncpg.Connection,
    rows: list[NewMessage],
    added: list[Added],
    rules: dict[tuple[int, int], PairRules],
) -> None:
    """Raise (rolling the caller's transaction back) if a newly stored row is one its
    room does not take; claim the slow-mode sends of the others."""
    for row, item in zip(rows, added, strict=True):
        rule = rules.get((row.room_id, row.sender_id))
        if not item.new or rule is None:
            continue
        problem = refusal(rule)
        if problem is not None:
            raise problem
        if rule.slowed:
            window = timedelta(seconds=rule.slow_mode_seconds)
            if await conn.fetchrow(_CLAIM, row.room_id, row.sender_id, window) is None:
                age = await conn.fetchval(_LAST_SEND, row.room_id, row.sender_id)
                raise slowed_down(row.room_id, rule.slow_mode_seconds - float(age or 0))


def _pair_rules(row: asyncpg.Record) -> PairRules:
    return PairRules(
        room_id=row["room_id"],
        user_id=row["user_id"],
        kind=row["kind"],
        slow_mode_seconds=row["slow_mode_seconds"],
        role=row["role"],
        member=row["member"],
        is_admin=row["is_admin"],
        muted_until=row["muted_until"],
    )
