-- Web Push (RFC 8030, 8291, 8292): the browsers that asked to be told of
-- messages while their user is away, the server's VAPID key, and which instance pushes
-- each message (chat/push/).

-- One row per browser: its push service endpoint (unique: a browser that another
-- account logs in on moves to that account) and the keys its pushes are encrypted for
-- (RFC 8291: p256dh, the browser's P-256 public key, and auth, its 16-byte secret; both
-- base64url as the browser gives them).
CREATE TABLE push_subscriptions (
    id          INTEGER PRIMARY KEY,
    user_id     INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    endpoint    TEXT    NOT NULL UNIQUE,
    p256dh      TEXT    NOT NULL,
    auth        TEXT    NOT NULL,
    created_at  INTEGER NOT NULL
);
CREATE INDEX push_subscriptions_by_user ON push_subscriptions (user_id, id);

-- The server's VAPID key pair (RFC 8292), made once by the first instance that starts
-- (one row): the private key as base64url of its 32-byte scalar.
CREATE TABLE vapid_key (
    id           INTEGER PRIMARY KEY CHECK (id = 1),
    private_key  TEXT    NOT NULL,
    created_at   INTEGER NOT NULL
);

-- Messages an instance took on to push: every instance sees every message, the one
-- whose row this is pushes it. Pruned after a while (chat/app/people/pusher.py).
CREATE TABLE push_claims (
    message_id  INTEGER PRIMARY KEY,
    claimed_at  INTEGER NOT NULL
);
