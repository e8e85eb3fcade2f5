-- The directory of public rooms (GET /rooms/public) reads every group room that is not
-- private, and nothing else: this index finds them without reading the direct
-- conversations, support threads and private rooms, which can be many more.
-- (The query's WHERE repeats the predicate word for word, as SQLite needs to use it.)

CREATE INDEX rooms_public ON rooms (id) WHERE kind = 'group' AND NOT is_private;
