-- compatible-with-older-code: yes
--
-- Single sign-on with OpenID Connect (chat/app/accounts/oidc.py). Two new tables: older
-- code never reads them. See sql/sqlite/0043_oidc.sql, its twin.
--
-- oidc_logins: a sign-in begun (GET /oidc/{Name}/login) and not yet finished, so that its
-- callback may land on any instance: the state's SHA-256 (the key the callback brings),
-- the browser cookie's SHA-256 (the browser that began it), the nonce and the PKCE
-- verifier. A callback deletes its row (one use); rows past expires_at (Unix seconds)
-- are deleted as new ones are added.
CREATE TABLE oidc_logins (
    state_hash   text   PRIMARY KEY,
    provider     text   NOT NULL,
    browser_hash text   NOT NULL,
    nonce        text   NOT NULL,
    verifier     text   NOT NULL,
    expires_at   bigint NOT NULL
);

CREATE INDEX oidc_logins_by_expiry ON oidc_logins (expires_at);

-- oidc_identities: the account a provider's subject signs in to, by (issuer, sub), never
-- by e-mail. An account erased takes its links with it.
CREATE TABLE oidc_identities (
    issuer     text   NOT NULL,
    subject    text   NOT NULL,
    user_id    bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at bigint NOT NULL,
    PRIMARY KEY (issuer, subject)
);

CREATE INDEX oidc_identities_by_user ON oidc_identities (user_id);
