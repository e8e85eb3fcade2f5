"""Checks for what moderators send: reasons, topics, roles, slow mode, and
the time a ban or mute ends. Each returns the clean value or raises `InvalidInput`
naming the field, as `chat.core.validation` does for everything else."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from chat.core import validation
from chat.core.config import MAX_RETENTION_DAYS as _LONGEST_RETENTION
from chat.core.errors import InvalidInput
from chat.core.room_permissions import ROLES

#: The longest reason for a removal, ban, mute or report.
MAX_REASON_CHARS = 500
#: The longest room topic.
MAX_TOPIC_CHARS = 1000
#: Slow mode's longest interval (0 turns it off).
MAX_SLOW_MODE_SECONDS = 3600
#: A room's longest retention, in days (the server's bound too).
MAX_RETENTION_DAYS = _LONGEST_RETENTION
#: The furthest a ban may end (past it: ban until lifted, with no Until).
MAX_BAN_SECONDS = 10 * 366 * 24 * 3600
#: The furthest a mute may end.
MAX_MUTE_SECONDS = 366 * 24 * 3600
#: The most items one page of reports or of the audit log holds, and the default.
MAX_PAGE = 100
DEFAULT_PAGE = 50


def _free_text(body: Mapping[str, Any], field: str, most: int) -> str:
    """An optional text field: "" when absent; at most `most` characters; line breaks
    and tabs allowed, other control characters not (they would hide text in a log)."""
    value = body.get(field, "")
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidInput(f'field "{field}" must be a string')
    if len(value) > most:
        raise InvalidInput(f'field "{field}" must be at most {most} characters')
    if any(unicodedata.category(ch) == "Cc" and ch not in "\n\t" for ch in value):
        raise InvalidInput(f'field "{field}" must not contain control characters')
    return value


def reason(body: Mapping[str, Any]) -> str:
    return _free_text(body, "Reason", MAX_REASON_CHARS)


def topic(body: Mapping[str, Any]) -> str:
    return _free_text(body, "Topic", MAX_TOPIC_CHARS)


def role(body: Mapping[str, Any]) -> str:
    value = body.get("Role")
    if value not in ROLES:
        raise InvalidInput('field "Role" must be "owner", "moderator" or "member"')
    return str(value)


def slow_mode_seconds(body: Mapping[str, Any]) -> int:
    value = body.get("SlowModeSeconds")
    if (
        not isinstance(value, int)
        or isinstance(value, bool)
        or not 0 <= value <= MAX_SLOW_MODE_SECONDS
    ):
        raise InvalidInput(
            f'field "SlowModeSeconds" must be a whole number from 0 to {MAX_SLOW_MODE_SECONDS}'
        )
    return value


def retention_days(body: Mapping[str, Any]) -> int | None:
    """A room's own retention: whole days from 1 to `MAX_RETENTION_DAYS`, or null (the
    server's retention, `CHAT_RETENTION_DAYS`, applies alone)."""
    value = body.get("RetentionDays")
    if value is None:
        return None
    longest = MAX_RETENTION_DAYS
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= longest:
        raise InvalidInput(
            f'field "RetentionDays" must be a whole number of days from 1 to {longest}, or null'
        )
    return value


def until(
    body: Mapping[str, Any], *, longest_s: int, required: bool, now: datetime | None = None
) -> datetime | None:
    """When a ban or mute ends: "Until" (ISO 8601 with a zone) or "Seconds" from now;
    None (until lifted) when neither is given and neither is `required`. In the future,
    at most `longest_s` ahead."""
    now = now or datetime.now(UTC)
    if "Until" in body and "Seconds" in body:
        raise InvalidInput('give "Until" or "Seconds", not both')
    if "Seconds" in body:
        seconds = body["Seconds"]
        if (
            not isinstance(seconds, int)
            or isinstance(seconds, bool)
            or not 1 <= seconds <= longest_s
        ):
            raise InvalidInput(f'field "Seconds" must be a whole number from 1 to {longest_s}')
        return now + timedelta(seconds=seconds)
    text = body.get("Until")
    if text is None:
        if required:
            raise InvalidInput('field "Until" (an ISO 8601 time) or "Seconds" is required')
        return None
    if not isinstance(text, str) or len(text) > 40:
        raise InvalidInput('field "Until" must be an ISO 8601 time, such as "2026-11-25T12:00:00Z"')
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput(
            'field "Until" must be an ISO 8601 time, such as "2026-11-25T12:00:00Z"'
        ) from None
    if moment.tzinfo is None:
        raise InvalidInput('field "Until" must say its time zone (such as a final "Z")')
    if moment <= now:
        raise InvalidInput('field "Until" must be in the future')
    if moment > now + timedelta(seconds=longest_s):
        raise InvalidInput(f'field "Until" must be at most {longest_s} seconds ahead')
    return moment.astimezone(UTC)


def audit_action(text: str | None) -> str | None:
    """The ``action`` an audit log is filtered by: lower-case letters and hyphens, 1 to
    40 (None: every action)."""
    if text is None:
        return None
    if re.fullmatch(r"[a-z-]{1,40}", text) is None:
        raise InvalidInput("action must be an audit action: lower-case letters and hyphens")
    return text


def page_limit(text: str | None) -> int:
    """A page's size from the query (``limit``): 1 to `MAX_PAGE`, `DEFAULT_PAGE` when absent."""
    if text is None:
        return DEFAULT_PAGE
    limit = validation.decimal(text, "limit", highest=MAX_PAGE)
    if limit < 1:
        raise InvalidInput(f"limit must be a whole number from 1 to {MAX_PAGE}")
    return limit
