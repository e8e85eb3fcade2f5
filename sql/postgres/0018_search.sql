-- Full-text search of messages (chat/app/messages/search.py).
--
-- What is found: every word and "quoted phrase" of a query as a case-insensitive
-- substring of a message's present text, in any script (Chinese and Japanese, written
-- without spaces, included); words of three characters or more use the index. That is
-- what pg_trgm's GIN index answers for `body ILIKE '%...%'`: it keeps every run of three
-- characters of each text (a trigram), and a pattern's trigrams find the rows that may
-- match, which the ILIKE itself then checks. No language's stemming is involved (the
-- query is never read as tsquery syntax), so nothing is found or missed by surprise.
--
-- The index follows the table: an insert, an edit (a new body) and a deletion (the
-- tombstone's body is '') update it in the writing transaction, so a message is found
-- as soon as it commits.
--
-- pg_trgm is a trusted extension (PostgreSQL 13 and later): a database owner may create
-- it. It goes into `public` (whatever this connection's search_path is), so that
-- chats in several schemas of one database share it and dropping one schema never
-- drops it from under the others; an installation that already has it elsewhere keeps
-- it there.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm') THEN
        CREATE EXTENSION pg_trgm WITH SCHEMA public;
    END IF;
END
$$;

-- The index holds each message's room beside its trigrams: the room as a one-element
-- array (the array type's own GIN operator class, built in), so that a search's
-- `ARRAY[room_id] && $rooms AND body ILIKE ...` is answered by one scan of it: the
-- readable rooms' entries OR'ed, every word's trigrams AND'ed, and only matches in rooms
-- the user may read are fetched from the table. With the trigrams alone, a member of 10
-- rooms out of 100 read ten rows for each one they could see (a word in 0.2% of a
-- million messages: 150-300 ms; 5 ms this way, bench/search.py). (GIN cannot take
-- `room_id = ANY($rooms)`.) pg_trgm's operator class is named with the schema the
-- extension is in.
DO $$
BEGIN
    EXECUTE format(
        'CREATE INDEX messages_search ON messages'
        ' USING gin ((ARRAY[room_id]), body %s.gin_trgm_ops)',
        (SELECT extnamespace::regnamespace FROM pg_extension WHERE extname = 'pg_trgm')
    );
END
$$;
