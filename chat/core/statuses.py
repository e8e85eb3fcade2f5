"""A user's status: what they say of themselves for a while ("🌴 On holiday", away, do
not disturb). The record the store hands out, the checks of what a client sends
(``PUT /me/status``), and its JSON as profiles and frames show it. No I/O.

A status is in force from when it is set until it is cleared or its `until` passes:
whoever reads it after that (a profile, the pusher) treats it as none, whether or not
the sweep has removed it yet (`in_force`).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from chat.core import validation
from chat.core.errors import InvalidInput

#: The longest status text, in characters.
MAX_STATUS_TEXT_CHARS = 100
#: How far ahead a status may be set to clear itself.
MAX_STATUS_AHEAD = timedelta(days=366)
#: How a user wants to be shown: as presence says ("auto"), away, or not to be
#: disturbed ("dnd": no Web Push, no desktop notifications, until it ends).
PRESENCES = ("auto", "away", "dnd")
#: The longest ISO time the server reads for ``Until`` ("2026-11-27T16:00:00.000+00:00").
_MAX_TIME_CHARS = 40


@dataclass(frozen=True, slots=True)
class UserStatus:
    """One user's status. `emoji` and `text` may be empty (not both with "auto")."""

    emoji: str
    text: str
    presence: str
    #: When it clears itself (aware, UTC); None: when cleared.
    until: datetime | None
    set_at: datetime

    def in_force(self, now: datetime) -> bool:
        """Whether it still holds at `now` (its `until` has not passed)."""
        return self.until is None or self.until > now


def status_from_fields(body: Mapping[str, Any], now: datetime) -> UserStatus:
    """The status a ``PUT /me/status`` body asks for, checked: ``Emoji`` (one emoji or a
    known ``:shortcode:``, stored as the emoji; "" or null for none), ``Text`` (at most
    `MAX_STATUS_TEXT_CHARS`, no control characters), ``Until`` (an ISO time with its
    offset, after `now` and within `MAX_STATUS_AHEAD`; null or absent: until cleared)
    and ``Presence`` (one of `PRESENCES`, "auto" if absent). A status that says nothing
    at all is refused: ``DELETE /me/status`` clears one."""
    unknown = sorted(set(body) - {"Emoji", "Text", "Until", "Presence"})
    if unknown:
        raise InvalidInput(f"a status has no field {unknown[0][:40]!r}")
    emoji = _emoji(body.get("Emoji"))
    text = _text(body.get("Text"))
    presence = body.get("Presence", "auto")
    if presence not in PRESENCES:
        raise InvalidInput('Presence must be "auto", "away" or "dnd"')
    until = _until(body.get("Until"), now)
    if not emoji and not text and presence == "auto":
        raise InvalidInput("a status needs an Emoji, a Text or a Presence (DELETE clears it)")
    set_at = now.replace(microsecond=now.microsecond // 1000 * 1000)
    return UserStatus(emoji, text, presence, until, set_at)


def _emoji(value: object) -> str:
    if value is None or value == "":
        return ""
    if not isinstance(value, str):
        raise InvalidInput("Emoji must be a string (one emoji or a :shortcode:) or null")
    emoji = validation.reaction(value)
    if emoji.startswith(":"):
        shown = emoji.encode("unicode_escape").decode("ascii")
        raise InvalidInput(f'Emoji "{shown}" is not a shortcode this server knows')
    return emoji


def _text(value: object) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidInput("Text must be a string")
    if len(value) > MAX_STATUS_TEXT_CHARS:
        raise InvalidInput(f"Text is {len(value)} characters, more than {MAX_STATUS_TEXT_CHARS}")
    for char in value:
        if unicodedata.category(char) in ("Cc", "Cf", "Zl", "Zp") and char not in "\u200d":
            code = f"U+{ord(char):04X}"
            raise InvalidInput(f"Text may not hold control or format characters ({code})")
    return value.strip()


def _until(value: object, now: datetime) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > _MAX_TIME_CHARS:
        raise InvalidInput('Until must be an ISO time with its offset ("2026-12-01T09:00:00Z")')
    try:
        until = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"Until is not an ISO time: {value!r}") from None
    if until.tzinfo is None:
        raise InvalidInput('Until needs its offset ("Z" or "+01:00")')
    if until <= now:
        raise InvalidInput("Until has passed already")
    if until - now > MAX_STATUS_AHEAD:
        raise InvalidInput(f"Until is more than {MAX_STATUS_AHEAD.days} days ahead")
    # In UTC, to the millisecond: what both engines store, so the answer is what reads give.
    utc = until.astimezone(UTC)
    return utc.replace(microsecond=utc.microsecond // 1000 * 1000)


def status_json(status: UserStatus | None) -> dict[str, Any] | None:
    """A status as profiles and frames show it (None: no status)."""
    if status is None:
        return None
    return {
        "Emoji": status.emoji,
        "Text": status.text,
        "Presence": status.presence,
        "Until": None if status.until is None else status.until.isoformat(),
    }


def status_frame(user_id: int, status: UserStatus | None) -> dict[str, Any]:
    """The ``status`` frame: `user_id`'s status changed (None: cleared, or it ended)."""
    return {"Type": "status", "UID": user_id, "Status": status_json(status)}
