-- compatible-with-older-code: yes
--
-- A user's status (chat/store/statuses.py): an emoji, a short text, how they want to be
-- shown (auto, away, dnd: do not disturb, which holds Web Push) and until when (NULL:
-- until cleared). One row per user who has one; a row whose until has passed is no
-- status (reads leave it out) and is swept away. Older code never reads the table.
-- See sql/sqlite/0028_user_status.sql, its twin.
CREATE TABLE user_statuses (
    user_id bigint PRIMARY KEY REFERENCES users(id),
    emoji text NOT NULL DEFAULT '',
    text text NOT NULL DEFAULT '',
    presence text NOT NULL DEFAULT 'auto' CHECK (presence IN ('auto', 'away', 'dnd')),
    until timestamptz,
    set_at timestamptz NOT NULL
);
CREATE INDEX user_statuses_by_until ON user_statuses (until) WHERE until IS NOT NULL;
