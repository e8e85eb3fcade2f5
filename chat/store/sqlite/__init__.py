"""The embedded engine: a SQLite file, used when no database URL is configured.

sqlite3 blocks, so no call into it runs on the Trio thread: `engine.SQLiteDatabase` runs
each operation to completion in a worker thread, on one of a small pool of connections
behind a `trio.CapacityLimiter` (its docstring says how errors and cancellation go).
`opening` creates, migrates and opens the file, and holds the serving lock.
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
