"""Parsing JSON that a client sent: the one place every request body and frame is decoded.

`json.loads` accepts documents that cannot be used safely further in: nesting deep
enough to exhaust the interpreter's recursion limit (a 500, or a 1011 close), integers
of thousands of digits (Python refuses to convert more than 4,300, and smaller ones are
slow to convert), ``NaN``/``Infinity`` (not JSON), and strings holding U+0000 (which
PostgreSQL cannot store, and SQLite would) or a lone UTF-16 surrogate (``"\\ud800"``: not
text; no database, log or client can encode it). `parse` refuses all of them with
`InvalidInput` naming the problem, so every protocol answers them the same way, on both
backends: HTTP with a 400, a WebSocket with its dialect's error frame.

The checks cost almost nothing on ordinary frames: the depth scan runs only when the
text holds more brackets than the limit allows, and the string check only when the text
has a ``\\u`` escape (the only way to spell NUL or a surrogate inside a JSON string).
"""

from __future__ import annotations

import json
import re
from typing import Any

from chat.core.errors import InvalidInput

#: The deepest nesting of arrays and objects accepted. Every valid request is 2 deep.
MAX_DEPTH = 32
#: The most digits an integer may have: ids are below 2**63, which has 19.
MAX_INT_DIGITS = 20

# A JSON string (skipped whole: brackets inside it do not count) or a bracket.
_STRING_OR_BRACKET = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]', re.DOTALL)


def _parse_int(digits: str) -> int:
    if len(digits) > MAX_INT_DIGITS + digits.startswith("-"):
        raise InvalidInput(f"integers must have at most {MAX_INT_DIGITS} digits")
    return int(digits)


def _parse_constant(name: str) -> Any:
    raise InvalidInput(f"{name} is not a JSON number")


_DECODER = json.JSONDecoder(parse_int=_parse_int, parse_constant=_parse_constant)


def _depth(text: str) -> int:
    depth = deepest = 0
    for match in _STRING_OR_BRACKET.finditer(text):
        token = match.group()
        if token in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif token in "]}":
            depth -= 1
    return deepest


def _bad_text(value: str) -> str | None:
    """What is wrong with a decoded string, or None."""
    if "\x00" in value:
        return "must not contain U+0000 (NUL)"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "must not contain a lone UTF-16 surrogate (\\ud800-\\udfff)"
    return None


def _check_strings(document: Any, what: str) -> None:
    """Refuse NUL and lone surrogates in every string of `document`, keys included."""
    pending = [document]
    while pending:
        value = pending.pop()
        if isinstance(value, str):
            problem = _bad_text(value)
            if problem is not None:
                raise InvalidInput(f"{what}: text {problem}")
        elif isinstance(value, dict):
            pending.extend(value.keys())
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)


def parse(text: str, what: str) -> Any:
    """The JSON value in `text`, or `InvalidInput` saying what is wrong with it.

    `what` names the document in errors ("request body", "frame").
    """
    if text.count("[") + text.count("{") > MAX_DEPTH and _depth(text) > MAX_DEPTH:
        raise InvalidInput(f"{what} is nested too deeply (the limit is {MAX_DEPTH} levels)")
    try:
        document = _DECODER.decode(text)
    except json.JSONDecodeError as error:
        raise InvalidInput(
            f"{what} is not valid JSON: {error.msg} at position {error.pos}"
        ) from None
    except RecursionError:  # unreachable within MAX_DEPTH; a last line of defence
        raise InvalidInput(f"{what} is nested too deeply") from None
    if "\\u" in text:
        _check_strings(document, what)
    return document
