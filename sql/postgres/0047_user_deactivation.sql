-- compatible-with-older-code: yes
--
-- Deactivated accounts (PUT /admin/users/{UID} {"Active": false}): an operator turns an
-- account off without erasing it. Its messages, rooms and name stay; its tokens are
-- refused and its sessions end; logging in says it is deactivated. NULL: active.

ALTER TABLE users ADD COLUMN deactivated_at timestamptz;
