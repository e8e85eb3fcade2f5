"""The rules a room puts on each message stored in it: who may send (in a group room, a
member with no ban in force; in a direct conversation, a member; in an archived room,
nobody), who is muted, and slow mode. Checked in the transaction that stores the batch,
so an instance whose view is a moment old (a change made on another instance) still
cannot store what the room no longer takes.

PostgreSQL's usual batch reads the rules in its inserting statement and stores the batch
only if none holds it back (`HELD_SQL`, chat.store.message_batches); a batch held back
has them read here (`batch_rules`) and its new rows checked after the insert. SQLite
reads each pair's rules on first use in its writing transaction: the write lock is held,
so what it reads stays true to the commit.

Slow mode is claimed by `_CLAIM`, a conditional upsert: on PostgreSQL, of two claims at
once (two instances) the second waits for the first's row and then finds it too recent,
so exactly one passes; SQLite has one writer. PostgreSQL compares times by its own clock
(``clock_timestamp()``: one clock for every instance); SQLite by the batch's time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from chat.core.errors import ChatError, Forbidden, RateLimited, RoomArchived
from chat.core.records import Added, NewMessage
from chat.core.shapes import timestamp
from chat.store.database import Connection, Row
from chat.store.dialect import Dialect

#: What the rules need of one (room, sender) pair. {pairs} is a relation of (room_id,
#: user_id); {now} the time to compare mutes with.
RULES_SQL = """
SELECT p.room_id, p.user_id, r.kind, r.slow_mode_seconds, r.archived, m.role,
       m.user_id IS NOT NULL AS member, u.is_admin, mu.until AS muted_until,
       ba.user_id IS NOT NULL AS banned
FROM {pairs}
JOIN rooms AS r ON r.id = p.room_id
JOIN users AS u ON u.id = p.user_id
LEFT JOIN room_members AS m ON m.room_id = p.room_id AND m.user_id = p.user_id
LEFT JOIN room_mutes AS mu ON mu.room_id = p.room_id AND mu.user_id = p.user_id
    AND mu.until > {now}
LEFT JOIN room_bans AS ba ON ba.room_id = p.room_id AND ba.user_id = p.user_id
    AND (ba.until IS NULL OR ba.until > {now})
"""

#: Whether a pair's rules (a row of `RULES_SQL`, unqualified) hold its messages back:
#: ``refusal(rules) is not None or rules.slowed`` in SQL, for PostgreSQL's statement that
#: reads the rules and inserts; tests/test_room_rules.py compares the two.
HELD_SQL = (
    "archived OR (kind IN ('group', 'direct') AND NOT member) OR (kind = 'group' AND banned)"
    " OR muted_until IS NOT NULL"
    " OR (slow_mode_seconds > 0 AND NOT is_admin AND kind IN ('group', 'lobby')"
    " AND (role IS NULL OR role = 'member'))"
)

#: PostgreSQL: the rules of every pair of the batch ($1 rooms, $2 senders), at once.
_BATCH_RULES = RULES_SQL.format(
    pairs="unnest($1::bigint[], $2::bigint[]) AS p(room_id, user_id)", now="clock_timestamp()"
)
#: SQLite: one pair's rules ($1 room, $2 sender, $3 now).
_PAIR_RULES = RULES_SQL.format(pairs="(SELECT $1 AS room_id, $2 AS user_id) AS p", now="$3")

#: Claim a slow-mode send: the row comes back if the last one is old enough (or none).
_CLAIM = """
INSERT INTO room_sends (room_id, user_id, sent_at) VALUES ($1, $2, {now})
ON CONFLICT (room_id, user_id) DO UPDATE SET sent_at = excluded.sent_at
WHERE room_sends.sent_at <= {earliest}
RETURNING sent_at
"""

#: Slow mode's statements on each engine ($1 room, $2 user): the claim ($3 the slow mode
#: in seconds) and how many seconds ago the user last sent in the room. SQLite's take the
#: time as their last parameter; PostgreSQL's read the database's clock.
_SLOW_MODE_SQLITE = (
    _CLAIM.format(now="$4", earliest="$4 - $3 * 1000"),
    "SELECT ($3 - sent_at) / 1000.0 FROM room_sends WHERE room_id = $1 AND user_id = $2",
)
_SLOW_MODE_POSTGRES = (
    _CLAIM.format(
        now="clock_timestamp()", earliest="clock_timestamp() - $3::int * interval '1 second'"
    ),
    "SELECT extract(epoch FROM clock_timestamp() - sent_at) FROM room_sends"
    " WHERE room_id = $1 AND user_id = $2",
)


@dataclass(frozen=True, slots=True)
class PairRules:
    """What `RULES_SQL` found for one (room, sender) pair."""

    room_id: int
    user_id: int
    kind: str
    slow_mode_seconds: int
    role: str | None
    member: bool
    is_admin: bool
    muted_until: datetime | None
    #: A ban from the room is in force (a ban removes its member, and a join checks for
    #: one as it inserts: this holds if anything ever left the two apart).
    banned: bool = False
    #: The room is archived: read-only for everyone (`chat.app.rooms.lifecycle`).
    archived: bool = False

    @property
    def slowed(self) -> bool:
        """Slow mode holds members of a group room (anyone in the lobby); moderators,
        owners and operators never."""
        if self.slow_mode_seconds <= 0 or self.is_admin or self.kind not in ("group", "lobby"):
            return False
        return self.role in (None, "member")


def pair_rules(row: Row, dialect: Dialect) -> PairRules:
    return PairRules(
        room_id=row["room_id"],
        user_id=row["user_id"],
        kind=row["kind"],
        slow_mode_seconds=row["slow_mode_seconds"],
        role=row["role"],
        member=bool(row["member"]),
        is_admin=bool(row["is_admin"]),
        muted_until=None if row["muted_until"] is None else dialect.moment(row["muted_until"]),
        banned=bool(row["banned"]),
        archived=bool(row["archived"]),
    )


def refusal(rules: PairRules) -> ChatError | None:
    """Why the room refuses the sender's message now, or None (slow mode is the claim's)."""
    if rules.archived:
        return RoomArchived(rules.room_id)
    # A direct conversation's too: a group one's members come and go.
    if rules.kind in ("group", "direct") and not rules.member:
        return Forbidden(f"you are not a member of room {rules.room_id}")
    if rules.kind == "group" and rules.banned:
        return Forbidden(f"you are banned from room {rules.room_id}")
    if rules.muted_until is not None:
        return muted(rules.room_id, rules.muted_until)
    return None


def muted(room_id: int, until: datetime) -> Forbidden:
    return Forbidden(f"you are muted in room {room_id} until {timestamp(until)}")


class RoomRules:
    """The rules of the (room, sender) pairs of one batch. `found`: every pair's rules, read
    at once (`batch_rules`); without it each pair's are read on first use. `now`: the
    batch's time, as a parameter (SQLite compares with it; PostgreSQL reads its own clock)."""

    def __init__(
        self, conn: Connection, now: object, found: dict[tuple[int, int], PairRules] | None = None
    ) -> None:
        self._conn = conn
        self._pairs: dict[tuple[int, int], PairRules | None] = dict(found or {})
        self._read = found is None
        pick = conn.dialect.pick
        self._claim, self._since_last = pick(sqlite=_SLOW_MODE_SQLITE, postgres=_SLOW_MODE_POSTGRES)
        self._now = pick(sqlite=(now,), postgres=())

    async def check(self, row: NewMessage) -> None:
        """Raise if the room does not take `row` (stored in this transaction, which the
        raise rolls back); claim its slow-mode send."""
        rules = await self._rules(row.room_id, row.sender_id)
        if rules is None:
            return  # the room or the sender is gone: the insert's foreign keys say so
        problem = refusal(rules)
        if problem is not None:
            raise problem
        if rules.slowed:
            key = (row.room_id, row.sender_id)
            seconds = rules.slow_mode_seconds
            if await self._conn.fetchrow(self._claim, *key, seconds, *self._now) is None:
                since = await self._conn.fetchval(self._since_last, *key, *self._now)
                wait = max(1, math.ceil(seconds - float(since or 0)))
                raise RateLimited(
                    f"slow mode: you may send again in room {row.room_id} in {wait} s",
                    retry_after=wait,
                )

    async def check_new(self, rows: list[NewMessage], added: list[Added]) -> None:
        """`check` each of `rows` that was stored (a resend answers its original)."""
        for row, item in zip(rows, added, strict=True):
            if item.new:
                await self.check(row)

    async def _rules(self, room_id: int, user_id: int) -> PairRules | None:
        key = (room_id, user_id)
        if self._read and key not in self._pairs:
            found = await self._conn.fetchrow(_PAIR_RULES, room_id, user_id, *self._now)
            self._pairs[key] = None if found is None else pair_rules(found, self._conn.dialect)
        return self._pairs.get(key)


async def batch_rules(conn: Connection, rows: list[NewMessage]) -> RoomRules | None:
    """PostgreSQL: the rules of the batch's pairs, read in one statement, if any of them
    refuses or slows a message; None when the batch may be stored as it is."""
    pairs = sorted({(row.room_id, row.sender_id) for row in rows})
    found = await conn.fetch(_BATCH_RULES, [p[0] for p in pairs], [p[1] for p in pairs])
    rules = {(r["room_id"], r["user_id"]): pair_rules(r, conn.dialect) for r in found}
    if any(refusal(rule) is not None or rule.slowed for rule in rules.values()):
        return RoomRules(conn, None, rules)
    return None
