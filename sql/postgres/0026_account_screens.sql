-- compatible-with-older-code: yes
--
-- The account screen (chat/app/accounts/profile.py, chat/app/people/avatars.py,
-- chat/app/accounts/sessions.py). See sql/sqlite/0024_account_screens.sql, its twin.
--
-- A display name, shown on messages beside the login name (NULL: none; clients show the
-- login name). Its two keys are chat/core/names.py's name_key and look_key of it: unique
-- among display names, and never equal to another user's login name keys (the
-- application checks that, chat/app/accounts/profile.py).
ALTER TABLE users ADD COLUMN display_name TEXT;
ALTER TABLE users ADD COLUMN display_name_key TEXT;
ALTER TABLE users ADD COLUMN display_look_key TEXT;
CREATE UNIQUE INDEX users_by_display_name_key ON users (display_name_key);
CREATE UNIQUE INDEX users_by_display_look_key ON users (display_look_key);
-- The avatar: the storage key of its square thumbnail (no dot in it, so the files
-- collector's sweep of orphans never takes it for a file's object) and its type.
ALTER TABLE users ADD COLUMN avatar_key TEXT;
ALTER TABLE users ADD COLUMN avatar_type TEXT;
-- What browser a session was started from (its User-Agent, cut short), for the list
-- of one's sessions (GET /sessions).
ALTER TABLE sessions ADD COLUMN device TEXT;
