-- compatible-with-older-code: yes
--
-- A room's slash commands and outgoing webhooks (chat/core/room_commands.py): kind
-- 'command' (a /name that is sent to its URL instead of posted) or 'trigger' (words whose
-- messages are also sent). Each answers as a bot of its own (a user of kind 'bot',
-- 0038_bots.sql, owned by its creator). The secret is an HMAC key the server signs with,
-- so it is stored as it is (docs/SECURITY.md). Trigger words: lower case, space-separated.
-- Times are Unix seconds. A new table: older code never reads it (a registered command's
-- text is then posted as a message). See sql/sqlite/0037_room_commands.sql, its twin.
CREATE TABLE room_commands (
    id            text    PRIMARY KEY,
    room_id       bigint  NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    bot_id        bigint  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind          text    NOT NULL CHECK (kind IN ('command', 'trigger')),
    command       text,
    trigger_words text    NOT NULL DEFAULT '',
    url           text    NOT NULL,
    description   text    NOT NULL DEFAULT '',
    secret        text    NOT NULL,
    created_by    bigint  REFERENCES users (id) ON DELETE SET NULL,
    created_at    bigint  NOT NULL
);

CREATE UNIQUE INDEX room_commands_by_name ON room_commands (room_id, command);
CREATE INDEX room_commands_by_kind ON room_commands (room_id, kind);
