"""Mentions: who a message's ``@name`` calls, and ``@room``.

A mention is ``@`` followed by a user's name, where the ``@`` starts a word (so an e-mail
address mentions nobody) and outside Markdown code. Names may hold spaces and
punctuation, so what follows an ``@`` is read as every prefix that ends at a word's end
(before a space, a punctuation mark or the end of the line), longest first, and the
longest that is somebody's name wins: ``@Ann Lee, hi`` mentions "Ann Lee" if there is
such a user, else "Ann". Names are compared as logging in compares them
(`chat.core.names.name_key`: case and look-alike letters aside). All the prefixes of a
message are looked up in one query.

Only users who may read the room are mentioned (its members; everyone, for the lobby;
operators too, for a support thread); other names are left as text. ``@room`` mentions
every member; in rooms of more than `LARGE_ROOM` members only the room's creator may
use it (others are refused with a clear error, rather than the message silently
mentioning nobody).

What is looked at is bounded whatever the text: the first `MAX_MENTIONS` ``@`` signs,
the first `MAX_PREFIXES` word ends after each, within a name's longest length.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from chat.core import names
from chat.core.errors import Forbidden
from chat.core.validation import MAX_NAME_CHARS

if TYPE_CHECKING:
    from chat.core.records import Room
    from chat.store.roles import Rooms

#: The ``@`` signs of a message that are looked at (the rest are text).
MAX_MENTIONS = 20
#: The word ends after one ``@`` tried as the end of a name: names of more words than
#: this cannot be mentioned whole.
MAX_PREFIXES = 12
#: ``@room``'s name (compared case aside).
ROOM_NAME = "room"
#: Rooms with more members than this take ``@room`` from their creator only.
LARGE_ROOM = 50

# Markdown code (fenced blocks, then inline spans), whose @ signs are text.
_CODE = re.compile(r"```.*?(?:```|\Z)|`[^`\n]*`", re.DOTALL)
# An @ that starts a word: at the start, or after a character that is not part of a
# word or an address (letters, digits, and the . _ + - = @ an address may hold).
_AT = re.compile(r"(?<![\w.+\-=@])@(?=[^\s@])")


@dataclass(frozen=True, slots=True)
class Mentions:
    """Who a text mentions: users by UID, in the order first named, and whether it
    mentions the whole room."""

    uids: tuple[int, ...] = ()
    room: bool = False

    def __bool__(self) -> bool:
        return bool(self.uids) or self.room


NONE = Mentions()


def _is_word_end(window: str, end: int) -> bool:
    """Whether a name may end before `window[end]`: it does not end in a space, and the
    next character (if any) does not carry the word on."""
    if window[end - 1].isspace():
        return False
    return end == len(window) or not (window[end].isalnum() or window[end] in "_")


def name_prefixes(text: str) -> list[list[str]]:
    """For each ``@`` that may start a mention (the first `MAX_MENTIONS`), the texts
    after it that may be a name, longest first."""
    plain = _CODE.sub(lambda match: " " * len(match.group()), text) if "`" in text else text
    found: list[list[str]] = []
    for match in _AT.finditer(plain):
        if len(found) == MAX_MENTIONS:
            break
        start = match.end()
        window = plain[start : start + MAX_NAME_CHARS].split("\n", 1)[0]
        ends = [end for end in range(1, len(window) + 1) if _is_word_end(window, end)]
        found.append([window[:end] for end in reversed(ends[:MAX_PREFIXES])])
    return found


async def resolve(store: Rooms, room: Room, sender_id: int, text: str) -> Mentions:
    """The users `text` mentions in `room`, looked up in one query; `NONE` (and no query)
    without an ``@``. Raises `Forbidden` for ``@room`` in a large room from anyone but
    its creator."""
    if "@" not in text:
        return NONE
    # Each @'s prefixes with their keys (None: @room), longest first.
    keyed = [
        [(None if p.casefold() == ROOM_NAME else names.name_key(p)) for p in each]
        for each in name_prefixes(text)
    ]
    keys = sorted({key for each in keyed for key in each if key is not None})
    if not keyed:
        return NONE
    found: list[tuple[str, int, bool]] = (
        await store.mention_candidates(room.id, keys) if keys else []
    )
    known = {key: (uid, may_read) for key, uid, may_read in found}
    uids: list[int] = []
    whole_room = False
    for each in keyed:
        for key in each:  # longest first: the first that names someone wins
            if key is None:
                whole_room = True
                break
            if key not in known:
                continue
            uid, may_read = known[key]
            if (may_read or room.kind == "lobby") and uid not in uids:
                uids.append(uid)
            break
    if whole_room and room.creator_id != sender_id:
        members = await store.member_count(room.id)
        if members > LARGE_ROOM:
            raise Forbidden(
                f"@room mentions all {members} members of room {room.id}: in rooms of more"
                f" than {LARGE_ROOM} members only the room's creator may use it"
            )
    return Mentions(tuple(uids), whole_room)
