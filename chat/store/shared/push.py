"""Web Push's SQL (chat/push/), the same for both stores: placeholders are filled in
with each backend's own (``?``/``:name`` or ``$n``)."""

from __future__ import annotations

from chat.core.records import PushCandidate, PushSubscription
from chat.store.shared.rows import Row

#: Register a browser, or refresh it: an endpoint belongs to one browser, so one
#: registered again (by whoever is logged in there now) moves to that user.
ADD_SUBSCRIPTION_SQL = """
INSERT INTO push_subscriptions (user_id, endpoint, p256dh, auth, created_at)
VALUES ({user}, {endpoint}, {p256dh}, {auth}, {now})
ON CONFLICT (endpoint) DO UPDATE SET
    user_id = excluded.user_id, p256dh = excluded.p256dh, auth = excluded.auth,
    created_at = excluded.created_at
"""

#: Past `limit` subscriptions, a user's oldest ones go (the newest browser wins).
TRIM_SUBSCRIPTIONS_SQL = """
DELETE FROM push_subscriptions
WHERE user_id = {user} AND id NOT IN (
    SELECT id FROM push_subscriptions WHERE user_id = {user}
    ORDER BY created_at DESC, id DESC LIMIT {limit}
)
"""

REMOVE_SUBSCRIPTION_SQL = (
    "DELETE FROM push_subscriptions WHERE user_id = {user} AND endpoint = {endpoint} RETURNING id"
)

#: A subscription its push service said is gone (404/410): only if it is still the same
#: one (the browser may have registered it again meanwhile, with new keys).
REMOVE_GONE_SQL = (
    "DELETE FROM push_subscriptions WHERE id = {id} AND endpoint = {endpoint}"
    " AND p256dh = {p256dh} RETURNING id"
)

ANY_SUBSCRIPTION_SQL = "SELECT EXISTS (SELECT 1 FROM push_subscriptions)"

#: The subscriptions of everyone who may read room {room} (of kind {kind}: the lobby is
#: everyone's; a support thread is its user's and every operator's; other rooms their
#: members') and whose level there ({default} until they set one) may ask for its
#: messages: "all", or "mentions" when one mentions someone ({mentioned}; whether it
#: mentions *them*, and who sent it, is for the caller to see). One query whose cost
#: grows with the subscriptions, not with the room.
CANDIDATES_SQL = """
SELECT s.id, s.user_id, s.endpoint, s.p256dh, s.auth,
       coalesce(l.level, {default}) AS level
FROM push_subscriptions AS s
LEFT JOIN notification_levels AS l ON l.user_id = s.user_id AND l.room_id = {room}
WHERE ({kind} = 'lobby'
       OR s.user_id IN (SELECT user_id FROM room_members WHERE room_id = {room})
       OR ({kind} = 'support' AND s.user_id IN (SELECT id FROM users WHERE is_admin)))
  AND (coalesce(l.level, {default}) = 'all'
       OR ({mentioned} AND coalesce(l.level, {default}) = 'mentions'))
ORDER BY s.id
"""

#: Take messages on to push; the rows back are the ones this caller won. {values}
#: is each backend's list of (message id, now) rows.
CLAIM_SQL = (
    "INSERT INTO push_claims (message_id, claimed_at) {values}"
    " ON CONFLICT DO NOTHING RETURNING message_id"
)

PRUNE_CLAIMS_SQL = "DELETE FROM push_claims WHERE claimed_at < {before}"

#: The first instance to start stores its key; every later one reads that one.
STORE_VAPID_KEY_SQL = (
    "INSERT INTO vapid_key (id, private_key, created_at) VALUES (1, {key}, {now})"
    " ON CONFLICT DO NOTHING"
)
VAPID_KEY_SQL = "SELECT private_key FROM vapid_key WHERE id = 1"


def candidate_from_row(row: Row) -> PushCandidate:
    subscription = PushSubscription(
        row["id"], row["user_id"], row["endpoint"], row["p256dh"], row["auth"]
    )
    return PushCandidate(subscription, row["level"])
