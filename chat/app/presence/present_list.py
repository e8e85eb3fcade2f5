"""The users present in one room on this instance, kept in the order they are listed.

Every `enter` with presence gets the room's list, by name (`chat.app.presence.tracker`): sorting a
room of a thousand on each of them cost more than the rest of the `enter` (about 0.3 ms a
time, 30 times a second in the busiest room of bench/team_day.py). A `PresentList` keeps
the order as users come and go instead: an insertion or a removal is a binary search and
a move of pointers, in C. Beside each user it keeps the user's JSON as a presence list
shows it, in the same order, so a room's list is one join of strings (`joined`): at
5,000 users in bench/team_day.py, building the lobby's list of 1,430 per `enter`, a
Python call per person, was 5% of the server's samples.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Iterator

#: How a user is placed: the name as compared (case-folded), the id for equal names,
#: and the name as shown.
_Entry = tuple[str, int, str]


class PresentList:
    """A room's present users (this instance's), by name then id."""

    __slots__ = ("_entries", "_ordered", "_pieces")

    def __init__(self) -> None:
        self._entries: dict[int, _Entry] = {}
        self._ordered: list[_Entry] = []
        self._pieces: list[str] = []  # each user's JSON, in `_ordered`'s order

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, user_id: object) -> bool:
        return user_id in self._entries

    def __iter__(self) -> Iterator[int]:
        return iter(self._entries)

    def add(self, user_id: int, name: str, piece: str) -> None:
        """List `user_id` as `name` (again, under its new name, if it was listed), shown
        in a list as `piece` (its JSON: `chat.app.presence.frames.person_json`)."""
        entry = (name.casefold(), user_id, name)
        old = self._entries.get(user_id)
        if old == entry:
            return
        if old is not None:
            self._remove_entry(old)
        self._entries[user_id] = entry
        index = bisect_left(self._ordered, entry)
        self._ordered.insert(index, entry)
        self._pieces.insert(index, piece)

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

    def joined(self, hide: Iterable[int] = (), show: Iterable[tuple[int, str, str]] = ()) -> str:
        """Each user's JSON, comma-joined in order: without the users `hide`, and with
        the users `show` (id, name, JSON; those not listed) in their places."""
        # Edits placed on the list as it is, then made from its end: at one place the
        # removal first, then the insertions, the last in order first.
        edits: list[tuple[int, int, _Entry, str]] = []
        for user_id in hide:
            entry = self._entries.get(user_id)
            if entry is not None:
                edits.append((bisect_left(self._ordered, entry), 1, entry, ""))
        for user_id, name, piece in show:
            if user_id not in self._entries:
                entry = (name.casefold(), user_id, name)
                edits.append((bisect_left(self._ordered, entry), 0, entry, piece))
        if not edits:
            return ",".join(self._pieces)
        pieces = self._pieces.copy()
        for index, removal, _, piece in sorted(edits, reverse=True):
            if removal:
                del pieces[index]
            else:
                pieces.insert(index, piece)
        return ",".join(pieces)

    def _remove_entry(self, entry: _Entry) -> None:
        index = bisect_left(self._ordered, entry)
        del self._ordered[index]
        del self._pieces[index]
