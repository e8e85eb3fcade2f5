-- Revoking tokens (PUT /password, POST /logout-everywhere). Every token carries the
-- version its user had when it was issued (the "ver" claim); a token whose version is
-- not the user's current one is refused, and the sessions it opened are closed. Bumping
-- the number revokes every token issued before, without keeping a list of them.
-- Existing tokens carry no version, which counts as 0: they keep working.

ALTER TABLE users ADD COLUMN token_version integer NOT NULL DEFAULT 0
    CHECK (token_version >= 0);
