-- compatible-with-older-code: yes
--
-- E-mail (chat/app/email): an address is verified once its owner followed the link mailed
-- to it (PUT /me/email); a verified address may receive password-reset links and digests
-- of missed mentions and direct messages.
--
-- users.email_verified_at: when users.email was verified (NULL: not verified).
-- users.email_digest: the user's switch for digests (NULL: the default, on).
-- users.digested_through: the newest message id a digest considered for this user; one
-- instance of a cluster takes a user's digest by moving it forward (compare-and-set).
-- email_tokens: the links mailed, by the SHA-256 of their token only; one-time (deleted
-- when used) and expiring.

ALTER TABLE users ADD COLUMN email_verified_at timestamptz;
ALTER TABLE users ADD COLUMN email_digest boolean;
ALTER TABLE users ADD COLUMN digested_through bigint;

CREATE TABLE email_tokens (
    token_hash  text        PRIMARY KEY,
    user_id     bigint      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose     text        NOT NULL CHECK (purpose IN ('verify', 'reset')),
    email       text        NOT NULL CHECK (length(email) BETWEEN 3 AND 254),
    created_at  timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL
);

CREATE INDEX email_tokens_user ON email_tokens (user_id, purpose);
