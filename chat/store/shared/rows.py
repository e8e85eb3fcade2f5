"""Result rows as both backends see them: the types the row mappings take."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol


class Row(Protocol):
    """A result row: sqlite3.Row and asyncpg.Record both index by column name."""

    def __getitem__(self, key: str, /) -> Any: ...

    def keys(self) -> Any: ...


#: Turns a stored creation time into an aware datetime (each backend stores its own way).
ToDatetime = Callable[[Any], datetime]

#: Larger than any id: the upper bound of a range that has none.
NO_UPPER_BOUND = 2**63 - 1
