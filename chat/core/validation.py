"""Checks for every value a client sends, with messages that name the problem.

Both protocol adapters use these, so a name that HTTP rejects is rejected the same way
everywhere. Each check returns the clean value or raises `InvalidInput`.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from chat.core.errors import InvalidInput

#: The longest user or room name (the databases check it too).
MAX_NAME_CHARS = 255
#: New passwords only: passwords set before this rule still log in.
MIN_PASSWORD_CHARS = 8
#: bcrypt only looks at the first 72 bytes; longer passwords are refused rather than
#: silently truncated, so two different passwords can never match the same hash.
MAX_PASSWORD_BYTES = 72


def require_object(body: object, what: str = "request body") -> Mapping[str, Any]:
    if not isinstance(body, dict):
        raise InvalidInput(f"{what} must be a JSON object")
    return body


def require_str(body: Mapping[str, Any], field: str) -> str:
    if field not in body:
        raise InvalidInput(f'field "{field}" is required')
    value = body[field]
    if not isinstance(value, str):
        raise InvalidInput(f'field "{field}" must be a string')
    # NUL and lone surrogates never get this far: `chat.core.untrusted_json` refuses them.
    return value


# Bidirectional overrides and isolates make a name display as something it is not.
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


#: Ids are positive 64-bit integers in both databases.
MAX_ID = 2**63 - 1


def require_bool(body: Mapping[str, Any], field: str) -> bool:
    if field not in body:
        raise InvalidInput(f'field "{field}" is required')
    value = body[field]
    if not isinstance(value, bool):
        raise InvalidInput(f'field "{field}" must be true or false')
    return value


def require_id(body: Mapping[str, Any], field: str, *, allow_zero: bool = False) -> int:
    """A positive integer id from a JSON object (0 too where it means "none")."""
    if field not in body:
        raise InvalidInput(f'field "{field}" is required')
    return json_id(body[field], field, allow_zero=allow_zero)


def json_id(value: object, what: str, *, allow_zero: bool = False) -> int:
    # bool is an int in Python, but true is not an id.
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidInput(f'field "{what}" must be an integer')
    lowest = 0 if allow_zero else 1
    if not lowest <= value <= MAX_ID:
        raise InvalidInput(f'field "{what}" must be between {lowest} and {MAX_ID}')
    return value


def decimal(value: str, what: str, *, highest: int = MAX_ID) -> int:
    """A non-negative integer written in decimal digits (a URL path or query string, a
    command's argument), at most `highest`.

    The length is checked before converting: Python refuses to convert more than 4,300
    digits (a ValueError nobody expects), and converting fewer is still quadratic.
    """
    if not (value.isascii() and value.isdigit()):
        raise InvalidInput(f"{what} must be a positive integer, not {value[:50]!r}")
    significant = value.lstrip("0")
    if len(significant) > len(str(highest)) or int(significant or "0") > highest:
        raise InvalidInput(f"{what} must be at most {highest}")
    return int(significant or "0")


def query_number(value: str, what: str) -> int:
    """A non-negative integer from a URL path or query string, at most `MAX_ID`."""
    return decimal(value, what)


def path_id(value: str, what: str) -> int:
    """A positive integer id from a URL path or query string."""
    number = query_number(value, what)
    if number == 0:
        raise InvalidInput(f"{what} must be between 1 and {MAX_ID}")
    return number


MAX_CLIENT_MSG_ID_CHARS = 64


def client_msg_id(body: Mapping[str, Any], field: str) -> str | None:
    """A client's own id for a message (idempotent sends): absent or null means none;
    otherwise 1-64 characters of text, no control characters."""
    if body.get(field) is None:
        return None
    value = require_str(body, field)
    if not 1 <= len(value) <= MAX_CLIENT_MSG_ID_CHARS:
        raise InvalidInput(
            f'field "{field}" must be 1 to {MAX_CLIENT_MSG_ID_CHARS} characters long'
        )
    if _has_control_characters(value):
        raise InvalidInput(f'field "{field}" must not contain control characters')
    return value


Echoed = TypeVar("Echoed")


def _echoed(
    parse: Callable[[Mapping[str, Any], str], Echoed], frame: Any, field: str
) -> Echoed | None:
    """The frame's `field` as an error frame may repeat it (so a client with several
    requests in flight knows which one failed): the value if `parse` takes it, else None.
    Never raises: an invalid value is what the error itself may be about."""
    if not isinstance(frame, dict):
        return None
    try:
        return parse(frame, field)
    except InvalidInput:
        return None


def echoed_client_msg_id(frame: Any, field: str) -> str | None:
    """A message's ClientMsgID (or client_msg_id), for the error about it."""
    return _echoed(client_msg_id, frame, field)


def echoed_id(frame: Any, field: str) -> int | None:
    """The MessageID of a change, for the error about it."""
    return _echoed(require_id, frame, field)


def _has_control_characters(text: str) -> bool:
    return any(
        unicodedata.category(ch) in ("Cc", "Zl", "Zp") or ch in _BIDI_CONTROLS for ch in text
    )


def _display_name(value: str, what: str) -> str:
    """1-255 characters, no surrounding spaces, no control codes: a name people see.
    (User names have stricter rules of their own: chat.core.names.)"""
    if not value:
        raise InvalidInput(f"{what} must not be empty")
    if len(value) > MAX_NAME_CHARS:
        raise InvalidInput(f"{what} must be at most {MAX_NAME_CHARS} characters")
    if value != value.strip():
        raise InvalidInput(f"{what} must not start or end with spaces")
    if _has_control_characters(value):
        raise InvalidInput(f"{what} must not contain control characters")
    return value


def room_name(value: str) -> str:
    return _display_name(value, "room name")


MAX_EMAIL_CHARS = 254


def email(value: str) -> str:
    """An e-mail address of plausible shape (local@domain.tld), lower-cased."""
    value = value.strip().lower()
    local, at, domain = value.rpartition("@")
    if (
        not at
        or not local
        or "." not in domain.strip(".")
        or domain != domain.strip(".")
        or any(ch.isspace() for ch in value)
        or _has_control_characters(value)
    ):
        raise InvalidInput(f"{value!r} is not a valid e-mail address")
    if len(value) > MAX_EMAIL_CHARS:
        raise InvalidInput(f"e-mail address must be at most {MAX_EMAIL_CHARS} characters")
    return value


def password(value: str) -> str:
    """A password as typed at login: not empty, at most `MAX_PASSWORD_BYTES`."""
    if not value:
        raise InvalidInput("password must not be empty")
    if len(value.encode("utf-8")) > MAX_PASSWORD_BYTES:
        raise InvalidInput(
            f"password must be at most {MAX_PASSWORD_BYTES} bytes in UTF-8 "
            "(bcrypt ignores anything longer)"
        )
    return value


def new_password(value: str) -> str:
    """A password to set: a login password of at least `MIN_PASSWORD_CHARS` characters."""
    password(value)
    if len(value) < MIN_PASSWORD_CHARS:
        raise InvalidInput(f"password must be at least {MIN_PASSWORD_CHARS} characters")
    return value


#: The control characters (Unicode's Cc: U+0000-001F, U+007F-009F) a message may not
#: hold: all but tab, line feed, and carriage return before a line feed (CR LF as sent).
_FORBIDDEN_IN_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]|\r(?!\n)")


def message_text(value: str, max_chars: int, *, files: int = 0) -> str:
    """A message's text, kept exactly as sent: not blank (unless the message carries
    `files`: then it may be empty), at most `max_chars`, and free of control characters
    but line breaks and tabs (a bare CR, an escape sequence or a bell could rewrite or
    disturb what a terminal client shows)."""
    if not value.strip() and not (files and value == ""):
        raise InvalidInput("message text must not be empty")
    if len(value) > max_chars:
        raise InvalidInput(
            f"message text is too long: {len(value)} characters, the limit is {max_chars}"
        )
    found = _FORBIDDEN_IN_TEXT.search(value)
    if found is not None:
        raise InvalidInput(
            "message text must not contain control characters other than line breaks"
            f" and tabs (U+{ord(found.group()):04X})"
        )
    return value


#: How many files one message may carry.
MAX_FILES_PER_MESSAGE = 10

_FILE_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


def is_file_id(text: str) -> bool:
    """Whether `text` may be a FileID (what POST /files answers): anything else never
    reaches a query (PostgreSQL refuses a NUL in text with an error)."""
    return _FILE_ID.fullmatch(text) is not None


def file_ids(body: Mapping[str, Any], field: str = "Files") -> tuple[str, ...]:
    """A message's `Files`: absent or null (none), or a list of at most
    `MAX_FILES_PER_MESSAGE` distinct FileIDs (what POST /files answered)."""
    value = body.get(field)
    if value is None:
        return ()
    if not isinstance(value, list):
        raise InvalidInput(f"{field} must be a list of FileIDs (from POST /files)")
    if len(value) > MAX_FILES_PER_MESSAGE:
        raise InvalidInput(
            f"{field} lists {len(value)} files; a message carries at most {MAX_FILES_PER_MESSAGE}"
        )
    ids: list[str] = []
    for item in value:
        if not isinstance(item, str) or not is_file_id(item):
            raise InvalidInput(f"{field} must list FileIDs (from POST /files), as strings")
        if item in ids:
            raise InvalidInput(f"{field} lists FileID {item} twice")
        ids.append(item)
    return tuple(ids)


#: The longest reaction the server takes, in characters: a shortcode's colons and 32
#: characters, or an emoji sequence (the longest, ZWJ families and tagged flags, are
#: around 10 code points).
MAX_REACTION_CHARS = 34
_SHORTCODE = re.compile(r":[a-z0-9_+\-]{1,32}:")
#: U+FE0F, which asks for an emoji's colour presentation; some keyboards add it where
#: Unicode's sequences have none ("👍" + U+FE0F).
_PRESENTATION_SELECTOR = "\ufe0f"


def prepare_reactions() -> None:
    """Load the emoji data now (some 40 ms), rather than in the first reaction. Blocks:
    call it in a thread."""
    import emoji

    emoji.is_emoji("\N{THUMBS UP SIGN}")


def reaction(value: str) -> str:
    """What a reaction may be, in the form it is stored and counted: one emoji (a single
    Unicode emoji sequence, as the `emoji` package's copy of Unicode's emoji data knows
    them: a skin tone, a family, a flag) or a ``:shortcode:`` of 1-32 characters from
    ``[a-z0-9_+-]``. Nothing else, so a reaction can be shown anywhere without escaping
    surprises. A shortcode of a known emoji (``:thumbsup:``, ``:+1:``) becomes that emoji,
    and an emoji followed by a presentation selector Unicode does not list becomes the
    emoji alone, so that one reaction is counted once whichever way it was typed."""
    import emoji  # loaded at start-up (`prepare_reactions`): its tables take a moment

    if len(value) <= MAX_REACTION_CHARS:
        if _SHORTCODE.fullmatch(value):
            known = emoji.emojize(value, language="alias")
            return known if known != value and emoji.is_emoji(known) else value
        if emoji.is_emoji(value):
            return value
        bare = value.removesuffix(_PRESENTATION_SELECTOR)
        if bare and bare != value and emoji.is_emoji(bare):
            return bare
    shown = value[:MAX_REACTION_CHARS].encode("unicode_escape").decode("ascii")
    raise InvalidInput(
        f"Emoji must be one emoji or a :shortcode: of 1-32 characters from [a-z0-9_+-],"
        f' not "{shown}"'
    )
