"""The embedded store: a SQLite file, used when no database URL is configured.

sqlite3 blocks, so no call into it runs on the Trio thread. The store keeps a small pool
of connections; a `trio.CapacityLimiter` with one token per connection decides who may
use one, and the call itself runs in `trio.to_thread.run_sync` (`base.SQLiteBase._run`).

One module per concern (`accounts`, `rooms`, `support`, `messages`), each a mixin over
the connection-owning `base.SQLiteBase`; `store.SQLiteStore` is all of them; `opening`
creates, migrates and opens the file, and holds the serving lock.

Cancellation: a thread cannot be interrupted, so a cancelled call waits for its
statement to finish (Trio's default for `to_thread`) and then raises `Cancelled`; every
method is one transaction, so the database and the connection are left in a consistent
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
