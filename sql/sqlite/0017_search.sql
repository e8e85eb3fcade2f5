-- Full-text search of messages (issue 24; chat/message_search.py). See the PostgreSQL
-- migration, 0018_search.sql, for what is found and why.
--
-- An FTS5 index of `messages.body` with the trigram tokenizer: every run of three
-- characters is a token, so a word or phrase of three characters or more is found as a
-- case-insensitive substring in any script, text without spaces (Chinese, Japanese)
-- included. It is an external-content table (content = 'messages'): the text is stored
-- once, in `messages`; the index holds only the trigrams, kept by the triggers below in
-- the transaction that writes the message, so a message is found as soon as it commits.
-- An edit replaces the trigrams of the old text with the new one's; a deletion leaves a
-- tombstone whose body is '', which has none. FTS5's 'delete' command must be given the
-- text that was indexed, which `old.body` is.
CREATE VIRTUAL TABLE message_search USING fts5 (
    body,
    content = 'messages',
    content_rowid = 'id',
    tokenize = 'trigram'
);

CREATE TRIGGER message_search_insert AFTER INSERT ON messages BEGIN
    INSERT INTO message_search (rowid, body) VALUES (new.id, new.body);
END;

CREATE TRIGGER message_search_update AFTER UPDATE OF body ON messages BEGIN
    INSERT INTO message_search (message_search, rowid, body) VALUES ('delete', old.id, old.body);
    INSERT INTO message_search (rowid, body) VALUES (new.id, new.body);
END;

CREATE TRIGGER message_search_delete AFTER DELETE ON messages BEGIN
    INSERT INTO message_search (message_search, rowid, body) VALUES ('delete', old.id, old.body);
END;

-- The messages stored before this migration.
INSERT INTO message_search (message_search) VALUES ('rebuild');
