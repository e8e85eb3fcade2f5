-- Full-text search of messages (chat/app/messages/search.py). See the PostgreSQL
-- migration, 0018_search.sql, for what is found and why.
--
-- An FTS5 index of `messages.body` with the trigram tokenizer: every run of three
-- characters is a token, so a word or phrase of three characters or more is found as a
-- case-insensitive substring in any script, text without spaces (Chinese, Japanese)
-- included. It is an external-content table (content = 'messages'): the text is stored
-- once, in `messages`; the index holds only the trigrams.
--
-- New messages are indexed in batches, not one by one: FTS5 writes its pending terms out
-- as a new segment at every statement that touches it (and merges segments as they
-- pile up), so indexing each message as it is inserted cost ten times the insert itself
-- (about 50 us of CPU per message against 4, docs/PERFORMANCE.md). The server's
-- `SearchIndexer` task indexes what was stored since `indexed_up_to` a few thousand
-- messages at a time, twice a second (chat/store/search.py); a search reads the
-- messages above `indexed_up_to` directly, so a message is found as soon as it is
-- stored all the same.
--
-- Edits and deletions of indexed messages change the index at once, in the writing
-- transaction (a deletion leaves a tombstone whose body is '', which has no trigrams).
-- FTS5's 'delete' command must be given the text that was indexed, which `old.body` is;
-- a message not indexed yet is indexed later with whatever its text is then.
CREATE VIRTUAL TABLE message_search USING fts5 (
    body,
    content = 'messages',
    content_rowid = 'id',
    tokenize = 'trigram'
);

-- Every message with an id up to `indexed_up_to` is in the index; none above it is.
CREATE TABLE message_search_state (
    id             INTEGER PRIMARY KEY CHECK (id = 1),
    indexed_up_to  INTEGER NOT NULL
);

-- The messages stored before this migration.
INSERT INTO message_search (message_search) VALUES ('rebuild');
INSERT INTO message_search_state (id, indexed_up_to)
VALUES (1, (SELECT coalesce(max(id), 0) FROM messages));

CREATE TRIGGER message_search_update AFTER UPDATE OF body ON messages
WHEN old.id <= (SELECT indexed_up_to FROM message_search_state)
BEGIN
    INSERT INTO message_search (message_search, rowid, body) VALUES ('delete', old.id, old.body);
    INSERT INTO message_search (rowid, body) VALUES (new.id, new.body);
END;

CREATE TRIGGER message_search_delete AFTER DELETE ON messages
WHEN old.id <= (SELECT indexed_up_to FROM message_search_state)
BEGIN
    INSERT INTO message_search (message_search, rowid, body) VALUES ('delete', old.id, old.body);
END;
