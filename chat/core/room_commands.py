"""A room's slash commands and outgoing webhooks (trigger words): what one is, the rules
of their names, words and addresses, how a text is read as a command, and how a request
to a receiver is signed. No I/O: `chat.app.commands` registers and calls them.

A registration is one of two kinds, one row each (sql/*/NNNN_room_commands.sql):
``command`` (its `command`, such as ``/deploy``, starts a message that is sent to its URL
instead of posted) or ``trigger`` (its `trigger_words`: a posted message with one of them,
as a whole word, is also sent). Either posts its receiver's answers as a bot of its own.

Signing: the request's body is JSON; ``X-Chat-Timestamp`` is the Unix time in seconds it
was signed at and ``X-Chat-Signature`` is ``sha256=`` and the hex HMAC-SHA256 of
``<timestamp>.<body>`` keyed with the registration's secret (`signature`). The secret is
an HMAC key, so it is stored as it is (the server must sign with it), never hashed.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from chat.core.errors import InvalidInput

#: The commands the server runs itself; none may be registered.
BUILT_INS = {
    "/me": "/me <text>: post <text> as an action (shown as 'name text')",
    "/topic": "/topic <text>: set the room's topic (moderators and owners)",
    "/invite": "/invite @name: invite a user into the room (moderators and owners)",
    "/leave": "/leave: leave the room",
    "/mute": "/mute @name 10m: mute a member for a while: s, m, h or d (moderators)",
    "/status": "/status <text>: set your status (/status alone clears it)",
    "/help": "/help: list the commands of this room",
}
#: A registered command's name: a slash and 1-32 of these.
COMMAND_NAME = re.compile(r"/[a-z0-9_-]{1,32}")
#: A trigger word: 1-32 letters, digits, ``_`` or ``-``.
TRIGGER_WORD = re.compile(r"[^\W][\w-]{0,31}")
MAX_TRIGGER_WORDS = 10
MAX_DESCRIPTION_CHARS = 200
MAX_URL_CHARS = 2000
#: The most registrations of each kind one room may have.
MAX_COMMANDS_PER_ROOM = 25
MAX_TRIGGER_HOOKS_PER_ROOM = 10
#: The most bytes of a receiver's answer read (past it, the call fails).
MAX_ANSWER_BYTES = 64 * 1024

KINDS = ("command", "trigger")


@dataclass(frozen=True, slots=True)
class RoomCommand:
    """One registration: a slash command (`kind` "command", `command` set) or an outgoing
    webhook (`kind` "trigger", `trigger_words` set). `secret` is empty in lists;
    `bot_name` and `creator_name` are filled in lists only."""

    command_id: str
    room_id: int
    bot_id: int
    kind: str
    url: str
    secret: str
    created_by: int | None
    created_at: int
    command: str | None = None
    trigger_words: tuple[str, ...] = ()
    description: str = ""
    bot_name: str = ""
    creator_name: str | None = None


def new_id() -> str:
    """A registration's id: 16 hex digits."""
    return secrets.token_hex(8)


def new_secret() -> str:
    """A registration's signing key: 32 random bytes, base64url (43 characters)."""
    return secrets.token_urlsafe(32)


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """``X-Chat-Signature``'s value for `body` sent at `timestamp`."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def command_name(value: object) -> str:
    """A registration's ``Command``: ``/`` and 1-32 of a-z, 0-9, ``_`` and ``-``, not a
    built-in's name."""
    if not isinstance(value, str) or COMMAND_NAME.fullmatch(value) is None:
        raise InvalidInput('field "Command" must be "/" and 1-32 of a-z, 0-9, "_" and "-"')
    if value in BUILT_INS:
        raise InvalidInput(f"{value} is a built-in command")
    return value


def trigger_words(value: object) -> tuple[str, ...]:
    """A registration's ``TriggerWords``: 1-`MAX_TRIGGER_WORDS` words, each 1-32 letters,
    digits, ``_`` or ``-``; kept in lower case, once each, in their order."""
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_TRIGGER_WORDS:
        raise InvalidInput(f'field "TriggerWords" must list 1 to {MAX_TRIGGER_WORDS} words')
    words: list[str] = []
    for word in value:
        if not isinstance(word, str) or TRIGGER_WORD.fullmatch(word) is None:
            raise InvalidInput(
                'each of "TriggerWords" must be 1-32 letters, digits, "_" or "-"'
                " (starting with a letter or digit)"
            )
        if word.lower() not in words:
            words.append(word.lower())
    return tuple(words)


def target_url(value: object) -> str:
    """A registration's ``URL``: http(s), a host, no user name or password, at most
    `MAX_URL_CHARS`. Where it may lead is checked when it is called (`chat.net.outbound`:
    the address it resolves to then)."""
    if not isinstance(value, str) or len(value) > MAX_URL_CHARS:
        raise InvalidInput(f'field "URL" must be an http(s) URL of at most {MAX_URL_CHARS} chars')
    try:
        parts = urlsplit(value)
        _ = parts.port
    except ValueError:
        raise InvalidInput('field "URL" is not a URL') from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput('field "URL" must be an http:// or https:// URL with a host')
    if parts.username is not None or parts.password is not None:
        raise InvalidInput('field "URL" must not carry a user name or password')
    if any(ch.isspace() or unicodedata.category(ch) == "Cc" for ch in value):
        raise InvalidInput('field "URL" must not contain spaces or control characters')
    return value


def description(value: object) -> str:
    """A command's ``Description`` (optional): at most `MAX_DESCRIPTION_CHARS`, one line."""
    if value is None:
        return ""
    if not isinstance(value, str) or len(value) > MAX_DESCRIPTION_CHARS:
        raise InvalidInput(f'field "Description" must be at most {MAX_DESCRIPTION_CHARS} chars')
    if any(unicodedata.category(ch) == "Cc" for ch in value):
        raise InvalidInput('field "Description" must be one line, without control characters')
    return value.strip()


@dataclass(frozen=True, slots=True)
class CommandText:
    """A text read as a command: its name (lower case) and the rest, stripped."""

    name: str
    rest: str


def as_command(text: str) -> CommandText | None:
    """`text` as a command, if it is one: ``/word`` (a name as `COMMAND_NAME` allows, in
    any case) at its start, then a space or the end. Text starting with ``//`` or ``/ ``,
    or with a slash not followed by such a word (``/usr/bin``), is not a command."""
    if not text.startswith("/") or text.startswith(("//", "/ ")):
        return None
    head, _space, rest = text.partition(" ")
    head, newline, more = head.partition("\n")
    if newline:
        rest = more + (" " + rest if rest else "")
    name = head.lower()
    if COMMAND_NAME.fullmatch(name) is None:
        return None
    return CommandText(name, rest.strip())


def trigger_in(text: str, words: Sequence[str]) -> str | None:
    """The first of `words` that `text` holds as a whole word, in any case."""
    for word in words:
        if re.search(rf"(?<![\w-]){re.escape(word)}(?![\w-])", text, re.IGNORECASE):
            return word
    return None


def answer_of(body: bytes) -> tuple[str, bool] | None:
    """A receiver's answer: ``{"Text", "Ephemeral"?}`` as (text, ephemeral); None when
    it has nothing to post (an empty body, no Text, an empty Text). `InvalidInput` when
    it is not such JSON."""
    if not body.strip():
        return None
    try:
        parsed: Any = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise InvalidInput("the answer is not JSON") from None
    if not isinstance(parsed, dict):
        raise InvalidInput("the answer is not a JSON object")
    text = parsed.get("Text")
    if text is None or text == "":
        return None
    if not isinstance(text, str):
        raise InvalidInput('the answer\'s "Text" is not a string')
    ephemeral = parsed.get("Ephemeral", False)
    if not isinstance(ephemeral, bool):
        raise InvalidInput('the answer\'s "Ephemeral" is not true or false')
    return text, ephemeral
