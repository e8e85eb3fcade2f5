-- Names that cannot pass for each other (chat/core/names.py). Each user has two keys:
-- name_key, the confusable skeleton of the case-folded name (`ann` and `Ann` share
-- one; logging in by name falls back to it), and look_key, the key of what the name
-- looks like as shown (a name in Cyrillic capitals shares it with the Latin one it
-- imitates). Unique indexes keep two users from holding the same key, even when two
-- registrations race.
--
-- The keys are computed in Python, so this only adds the columns: the store fills
-- them in for every user without them each time it opens the database. Where two
-- existing names collide, the older user keeps the key and the later keeps NULL
-- (which the index allows); a warning is logged at every start until one of them is
-- renamed.

ALTER TABLE users ADD COLUMN name_key TEXT;
ALTER TABLE users ADD COLUMN look_key TEXT;

CREATE UNIQUE INDEX users_unique_name_key ON users (name_key);
CREATE UNIQUE INDEX users_unique_look_key ON users (look_key);
