-- compatible-with-older-code: yes
--
-- Single sign-on: what sql/postgres/0046_oidc.sql says (its twin).
CREATE TABLE oidc_logins (
    state_hash   TEXT    PRIMARY KEY,
    provider     TEXT    NOT NULL,
    browser_hash TEXT    NOT NULL,
    nonce        TEXT    NOT NULL,
    verifier     TEXT    NOT NULL,
    expires_at   INTEGER NOT NULL
);

CREATE INDEX oidc_logins_by_expiry ON oidc_logins (expires_at);

CREATE TABLE oidc_identities (
    issuer     TEXT    NOT NULL,
    subject    TEXT    NOT NULL,
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (issuer, subject)
);

CREATE INDEX oidc_identities_by_user ON oidc_identities (user_id);
