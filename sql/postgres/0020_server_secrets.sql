-- Secrets the whole cluster shares: the JWT signing key, made once by the
-- first instance that starts without CHAT_JWT_SECRET, so every instance on this database
-- signs and checks tokens with the same key (one per instance logged people out at
-- random). `chat copy-database` moves a SQLite data directory's `jwt-secret` file here.
CREATE TABLE server_secrets (
    name        text        PRIMARY KEY CHECK (length(name) BETWEEN 1 AND 64),
    value       text        NOT NULL CHECK (length(value) BETWEEN 32 AND 512),
    created_at  timestamptz NOT NULL DEFAULT now()
);
