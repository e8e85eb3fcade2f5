-- A user's data: erasing an account keeps its row as a nameless shell
-- (their messages' tombstones still name a sender), and holds the name it had for 30
-- days, so that nobody takes it at once. See sql/postgres/0021_erasure.sql, its twin.
-- Times are Unix milliseconds.

-- When the account was erased (NULL: it is not). An erased user's row keeps its id and
-- nothing else of theirs: a placeholder name, no e-mail, no name keys, a password
-- nobody knows.
ALTER TABLE users ADD COLUMN erased_at INTEGER;

-- Names released by erased accounts: registering or renaming to a name that shares a
-- key with one is refused until `held_until`.
CREATE TABLE name_holds (
    name_key    TEXT    NOT NULL,
    look_key    TEXT    NOT NULL,
    held_until  INTEGER NOT NULL
);
CREATE INDEX name_holds_by_name_key ON name_holds (name_key);
CREATE INDEX name_holds_by_look_key ON name_holds (look_key);
