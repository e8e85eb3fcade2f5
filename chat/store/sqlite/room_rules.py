"""The SQLite store's check of a room's rules on each new message
(`chat.store.shared.room_rules`), in the transaction that stores it: the write lock is
held, so what it reads stays true until the commit."""

from __future__ import annotations

import sqlite3

from chat.core.records import NewMessage
from chat.store.shared.room_rules import (
    CLAIM_SEND_SQL,
    LAST_SEND_SQL,
    RULES_SQL,
    PairRules,
    refusal,
    slowed_down,
)
from chat.store.sqlite.base import from_ms

_RULES = RULES_SQL.format(pairs="(SELECT ? AS room_id, ? AS user_id) AS p", now="?")
_CLAIM = CLAIM_SEND_SQL.format(room="?", user="?", now="?", earliest="?")
_LAST_SEND = LAST_SEND_SQL.format(room="?", user="?")


class RoomRules:
    """The rules of the (room, sender) pairs of one batch, read once each."""

    def __init__(self, conn: sqlite3.Connection, now: int) -> None:
        self._conn = conn
        self._now = now
        self._pairs: dict[tuple[int, int], PairRules | None] = {}

    def check(self, row: NewMessage) -> None:
        """Raise if the room does not take `row` (stored a moment ago, in this
        transaction, which the raise rolls back); claim its slow-mode send."""
        rules = self._rules(row.room_id, row.sender_id)
        if rules is None:
            return  # the room or the sender is gone: the insert's foreign keys say so
        problem = refusal(rules)
        if problem is not None:
            raise problem
        if rules.slowed:
            earliest = self._now - rules.slow_mode_seconds * 1000
            key = (row.room_id, row.sender_id)
            if self._conn.execute(_CLAIM, (*key, self._now, earliest)).fetchone() is None:
                (last,) = self._conn.execute(_LAST_SEND, key).fetchone()
                wait_ms = last + rules.slow_mode_seconds * 1000 - self._now
                raise slowed_down(row.room_id, wait_ms / 1000)

    def _rules(self, room_id: int, user_id: int) -> PairRules | None:
        key = (room_id, user_id)
        if key not in self._pairs:
            found = self._conn.execute(_RULES, (room_id, user_id, self._now)).fetchone()
            self._pairs[key] = None if found is None else _pair_rules(found)
        return self._pairs[key]


def _pair_rules(row: sqlite3.Row) -> PairRules:
    return PairRules(
        room_id=row["room_id"],
        user_id=row["user_id"],
        kind=row["kind"],
        slow_mode_seconds=row["slow_mode_seconds"],
        role=row["role"],
        member=bool(row["member"]),
        is_admin=bool(row["is_admin"]),
        muted_until=None if row["muted_until"] is None else from_ms(row["muted_until"]),
    )
