"""The addresses a user has logged in from: the SQL both stores run.

A successful login remembers its address (`REMEMBER_SQL`, then `PRUNE_SQL`, in one
transaction), and the rate limits ask whether an address is one of the user's
(`KNOWN_SQL`) only while the account is under attack: one primary-key look-up, rarely.
Only the newest `KEPT_PER_USER` are kept, so a user who logs in from everywhere costs a
bounded number of rows. {user}, {address}, {now} and {kept} are the stores' placeholders.
"""

from __future__ import annotations

#: How many of a user's addresses are kept: the most recently used.
KEPT_PER_USER = 20
#: The longest address stored; anything longer is not an address, and is not remembered.
MAX_ADDRESS_CHARS = 64

REMEMBER_SQL = """
INSERT INTO login_addresses (user_id, address, used_at) VALUES ({user}, {address}, {now})
ON CONFLICT (user_id, address) DO UPDATE SET used_at = excluded.used_at
"""

PRUNE_SQL = """
DELETE FROM login_addresses WHERE user_id = {user} AND address NOT IN (
    SELECT address FROM login_addresses WHERE user_id = {user}
    ORDER BY used_at DESC, address LIMIT {kept}
)
"""

KNOWN_SQL = "SELECT 1 FROM login_addresses WHERE user_id = {user} AND address = {address}"
