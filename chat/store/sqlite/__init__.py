"""The embedded engine: a SQLite file, used when no database URL is configured.

sqlite3 blocks, so no call into it runs on the Trio thread. The engine keeps a small
pool of connections; a `trio.CapacityLimiter` with one token per connection decides who
may use one, and an operation runs to completion in `trio.to_thread.run_sync`
(`engine.SQLiteDatabase`): one thread hop per operation, however many statements.
`opening` creates, migrates and opens the file, and holds the serving lock.

Cancellation: a thread cannot be interrupted, so a cancelled call waits for its
operation to finish (Trio's default for `to_thread`) and then raises `Cancelled`; a
write is one transaction, so the database and the connection are left in a consistent
state either way.
"""

from __future__ import annotations

from chat.store.sqlite.opening import (
    open_sqlite_store,
    serving_lock,
    serving_lock_path,
    sqlite_path_from_url,
)

__all__ = [
    "open_sqlite_store",
    "serving_lock",
    "serving_lock_path",
    "sqlite_path_from_url",
]
