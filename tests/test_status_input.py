"""What ``PUT /me/status`` asks for, as `chat.core.statuses.status_from_fields` keeps it:
Until in UTC to the millisecond (what both engines store, so an answer equals every later
read), whatever offset and precision the client wrote."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from chat.core.statuses import status_from_fields

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("written", "kept"),
    [
        ("2026-11-27T13:00:00Z", "2026-11-27T13:00:00+00:00"),
        ("2026-11-27T14:00:00+01:00", "2026-11-27T13:00:00+00:00"),
        ("2026-11-27T13:00:00.123456789+00:00", "2026-11-27T13:00:00.123000+00:00"),
        ("2026-11-27T13:00:00+00:00:30.5", "2026-11-27T12:59:29.500000+00:00"),
    ],
    ids=["zulu", "offset", "nanoseconds", "offset-with-seconds"],
)
def test_until_is_kept_in_utc_to_the_millisecond(written: str, kept: str) -> None:
    status = status_from_fields({"Text": "x", "Until": written}, NOW)
    assert status.until is not None
    assert status.until.isoformat() == kept


def test_words_are_kept_without_the_spaces_around_them() -> None:
    status = status_from_fields({"Text": "  lunch  ", "Presence": "away"}, NOW)
    assert (status.emoji, status.text, status.presence, status.until) == ("", "lunch", "away", None)
