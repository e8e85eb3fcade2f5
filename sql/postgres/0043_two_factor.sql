-- compatible-with-older-code: yes
--
-- Two-factor authentication (chat/app/accounts/two_factor.py): a user's TOTP secret
-- (RFC 6238, base32), pending until a first code confirms it (enabled_at NULL), and the
-- last time-step a code was accepted at, so each code is accepted once on every
-- instance. Recovery codes are stored as their SHA-256 in hex; using one deletes its row.
-- Times are Unix seconds, as the sessions' (0016_sessions.sql). New tables: older code
-- never reads them (and asks for no second factor). See sql/sqlite/0040_two_factor.sql,
-- its twin.
CREATE TABLE two_factor (
    user_id    bigint PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    secret     text   NOT NULL,
    created_at bigint NOT NULL,
    enabled_at bigint,
    last_step  bigint NOT NULL DEFAULT 0
);

CREATE TABLE two_factor_recovery_codes (
    user_id   bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash text   NOT NULL,
    PRIMARY KEY (user_id, code_hash)
);
