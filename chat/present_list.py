"""The users present in one room on this instance, kept in the order they are listed.

Every `enter` with presence gets the room's list, by name (`chat.presence`): sorting a
room of a thousand on each of them cost more than the rest of the `enter` (about 0.3 ms a
time, 30 times a second in the busiest room of bench/team_day.py). A `PresentList` keeps
the order as users come and go instead: an insertion or a removal is a binary search and
a move of pointers, in C.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Iterator

#: How a user is placed: the name as compared (case-folded), the id for equal names,
#: and the name as shown.
_Entry = tuple[str, int, str]


class PresentList:
    """A room's present users (this instance's), by name then id."""

    __slots__ = ("_entries", "_ordered")

    def __init__(self) -> None:
        self._entries: dict[int, _Entry] = {}
        self._ordered: list[_Entry] = []

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, user_id: object) -> bool:
        return user_id in self._entries

    def __iter__(self) -> Iterator[int]:
        return iter(self._entries)

    def add(self, user_id: int, name: str) -> None:
        """List `user_id` as `name` (again, under its new name, if it was listed)."""
        entry = (name.casefold(), user_id, name)
        old = self._entries.get(user_id)
        if old == entry:
            return
        if old is not None:
            self._remove_entry(old)
        self._entries[user_id] = entry
        insort(self._ordered, entry)

    def discard(self, user_id: int) -> None:
        entry = self._entries.pop(user_id, None)
        if entry is not None:
            self._remove_entry(entry)

    def items(self) -> list[tuple[int, str]]:
        """(id, name) of each user, in order."""
        return [(user_id, name) for _, user_id, name in self._ordered]

    def names(self) -> dict[int, str]:
        """Each user's name, by id."""
        return {user_id: name for _, user_id, name in self._entries.values()}

    def _remove_entry(self, entry: _Entry) -> None:
        del self._ordered[bisect_left(self._ordered, entry)]
