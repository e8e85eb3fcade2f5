-- compatible-with-older-code: yes
--
-- A room's slash commands and outgoing webhooks: what
-- sql/postgres/0040_room_commands.sql says (its twin).
CREATE TABLE room_commands (
    id            TEXT    PRIMARY KEY,
    room_id       INTEGER NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    bot_id        INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind          TEXT    NOT NULL CHECK (kind IN ('command', 'trigger')),
    command       TEXT,
    trigger_words TEXT    NOT NULL DEFAULT '',
    url           TEXT    NOT NULL,
    description   TEXT    NOT NULL DEFAULT '',
    secret        TEXT    NOT NULL,
    created_by    INTEGER REFERENCES users (id) ON DELETE SET NULL,
    created_at    INTEGER NOT NULL
);

CREATE UNIQUE INDEX room_commands_by_name ON room_commands (room_id, command);
CREATE INDEX room_commands_by_kind ON room_commands (room_id, kind);
