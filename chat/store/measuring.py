"""How busy a store is, in the forms the metrics read."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from chat.core.observer import Observer


@contextmanager
def observed(observer: Observer | None) -> Iterator[None]:
    """Time the block for `observer`, if any; a block that raises is not observed (a
    query cut short by a client that left says nothing about the database)."""
    started = time.perf_counter()
    yield
    if observer is not None:
        observer.observe(time.perf_counter() - started)
