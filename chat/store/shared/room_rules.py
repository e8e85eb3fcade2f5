"""The rules a room puts on each message stored in it: who may send, who is
muted, and slow mode. Checked by `Messages.add_messages` in the transaction that stores
the batch, so an instance whose view is a moment old (a removal, a mute or a setting
made on another instance) still cannot store what the room no longer takes.

`RULES_SQL` reads, for each (room, sender) pair of a batch, what the decision needs;
`refusal` decides, the same on both backends. Slow mode is claimed by
`CLAIM_SEND_SQL`, a conditional upsert: on PostgreSQL, of two claims at once (two
instances) the second waits for the first's row and then finds it too recent, so exactly
one passes; SQLite has one writer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from chat.core.errors import ChatError, Forbidden, RateLimited
from chat.core.shapes import timestamp

#: What the rules need of one (room, sender) pair. {pairs} is a relation of
#: (room_id, user_id) the store supplies; {now} the time to compare mutes with.
RULES_SQL = """
SELECT p.room_id, p.user_id, r.kind, r.slow_mode_seconds, m.role,
       m.user_id IS NOT NULL AS member, u.is_admin, mu.until AS muted_until
FROM {pairs}
JOIN rooms AS r ON r.id = p.room_id
JOIN users AS u ON u.id = p.user_id
LEFT JOIN room_members AS m ON m.room_id = p.room_id AND m.user_id = p.user_id
LEFT JOIN room_mutes AS mu ON mu.room_id = p.room_id AND mu.user_id = p.user_id
    AND mu.until > {now}
"""

#: Whether a pair's rules (a row of `RULES_SQL`, its columns unqualified) hold its
#: messages back for a closer look: a refusal or slow mode. The same decision as
#: ``refusal(rules) is not None or rules.slowed``, for a store that reads the rules in the
#: statement that inserts (PostgreSQL: a batch in one trip to the database);
#: tests/test_room_rules.py compares the two on every combination.
HELD_SQL = (
    "(kind = 'group' AND NOT member) OR muted_until IS NOT NULL"
    " OR (slow_mode_seconds > 0 AND NOT is_admin AND kind IN ('group', 'lobby')"
    " AND (role IS NULL OR role = 'member'))"
)

#: Claim the next send of a user in a slow-mode room: the row comes back if the last one
#: is at least {seconds} old (or there was none). {room}, {user}, {now}, {earliest} (now
#: minus the slow mode) are the stores' placeholders.
CLAIM_SEND_SQL = """
INSERT INTO room_sends (room_id, user_id, sent_at) VALUES ({room}, {user}, {now})
ON CONFLICT (room_id, user_id) DO UPDATE SET sent_at = excluded.sent_at
WHERE room_sends.sent_at <= {earliest}
RETURNING sent_at
"""

#: When the user last sent in the room (to say how long to wait).
LAST_SEND_SQL = "SELECT sent_at FROM room_sends WHERE room_id = {room} AND user_id = {user}"


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

    @property
    def slowed(self) -> bool:
        """Whether the sender's messages here wait for slow mode: members of a group room
        (or anyone in the lobby) with it on; moderators, owners and operators never."""
        if self.slow_mode_seconds <= 0 or self.is_admin or self.kind not in ("group", "lobby"):
            return False
        return self.role in (None, "member")


def refusal(rules: PairRules) -> ChatError | None:
    """Why the room refuses the sender's message now, or None: a group room's former
    member (removed, banned, or left) or a muted member. Slow mode is the claim's."""
    if rules.kind == "group" and not rules.member:
        return Forbidden(f"you are not a member of room {rules.room_id}")
    if rules.muted_until is not None:
        return muted(rules.room_id, rules.muted_until)
    return None


def muted(room_id: int, until: datetime) -> Forbidden:
    return Forbidden(f"you are muted in room {room_id} until {timestamp(until)}")


def slowed_down(room_id: int, wait_s: float) -> RateLimited:
    """The refusal of a send that came too early in a slow-mode room."""
    seconds = max(1, math.ceil(wait_s))
    return RateLimited(
        f"slow mode: you may send again in room {room_id} in {seconds} s", retry_after=seconds
    )
