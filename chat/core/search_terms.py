"""The search query (`GET /search?q=`): words and "quoted phrases", nothing else, and the
snippet that shows where a message matched them.

Every character of a query is text: quotes delimit phrases, whitespace outside them
separates words, and that is all the syntax there is. No operator, wildcard or column
filter of FTS5 or of tsquery means anything here, so a query can neither fail to parse
in the database nor ask it for more than a substring search (chat/store/search.py
binds each word as a value).

Each word or phrase must appear in a message as a case-insensitive substring (in any
script: Chinese and Japanese are written without spaces, so a word is whatever the user
typed). The index finds runs of three characters, so a query needs one word or phrase of
three characters or more; shorter words are then checked on what it found.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from chat.core.errors import InvalidInput

#: The fewest characters of a word or phrase the index can find (a trigram).
MIN_INDEXED_CHARS = 3
#: The longest query, in characters.
MAX_QUERY_CHARS = 200
#: The most words and phrases one query may hold.
MAX_TERMS = 10
#: About how many characters of a message a snippet shows.
SNIPPET_CHARS = 240
#: How many characters before the first match a cut snippet keeps.
SNIPPET_LEAD = 60
#: What marks a cut end of a snippet.
ELLIPSIS = "\u2026"

# Control characters but tab and line breaks: never in a stored message (validation.
# message_text), and NUL cannot be a PostgreSQL text value.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


@dataclass(frozen=True, slots=True)
class Terms:
    """A parsed query: the words and phrases every result contains, those the index can
    find (`indexed`, three characters or more) and the rest (`short`)."""

    indexed: tuple[str, ...]
    short: tuple[str, ...]

    @property
    def all(self) -> tuple[str, ...]:
        return self.indexed + self.short


def _split(query: str) -> list[str]:
    """The words and phrases of `query`, in order: a double quote opens a phrase and the
    next one closes it (an unclosed phrase runs to the end); outside phrases,
    whitespace separates words. Quotes themselves are never part of a term."""
    terms: list[str] = []
    for index, part in enumerate(query.split('"')):
        if index % 2:  # between a pair of quotes: one phrase, kept as typed
            if part.strip():
                terms.append(part)
        else:
            terms.extend(part.split())
    return terms


def parse(query: str | None) -> Terms:
    """`q` as terms, or `InvalidInput` saying what is wrong with it: missing or blank,
    too long, a control character, too many terms, or no term the index can find."""
    if query is None or not query.strip():
        raise InvalidInput('query parameter "q" is required: the words to find')
    if len(query) > MAX_QUERY_CHARS:
        raise InvalidInput(
            f'query parameter "q" is too long: {len(query)} characters, the limit is'
            f" {MAX_QUERY_CHARS}"
        )
    control = _CONTROL.search(query)
    if control is not None:
        raise InvalidInput(
            f'query parameter "q" must not contain control characters'
            f" (U+{ord(control.group()):04X})"
        )
    unique: dict[str, str] = {}  # by case-folded form, the first spelling kept
    for term in _split(query):
        unique.setdefault(term.casefold(), term)
    terms = list(unique.values())
    if not terms:
        raise InvalidInput('query parameter "q" is required: the words to find')
    if len(terms) > MAX_TERMS:
        raise InvalidInput(
            f'query parameter "q" has {len(terms)} words and phrases; the limit is {MAX_TERMS}'
        )
    indexed = tuple(t for t in terms if len(t) >= MIN_INDEXED_CHARS)
    if not indexed:
        shortest = min(terms, key=len)
        raise InvalidInput(
            f"search needs a word or phrase of at least {MIN_INDEXED_CHARS} characters:"
            f' "{shortest}" is too short (quote short words together, as in "on call")'
        )
    short = tuple(t for t in terms if len(t) < MIN_INDEXED_CHARS)
    return Terms(indexed, short)


def snippet(text: str, terms: Terms) -> list[str]:
    """Where `text` matched: alternately plain text and a match, starting with plain text
    (maybe ""). A text longer than about `SNIPPET_CHARS` is cut around its first match,
    with `ELLIPSIS` at each cut end. Plain strings, so that a client shows them as text
    (never as markup): the odd entries are the matches."""
    pattern = re.compile(
        "|".join(re.escape(t) for t in sorted(terms.all, key=len, reverse=True)),
        re.IGNORECASE,
    )
    first = pattern.search(text)
    start, end = 0, len(text)
    if len(text) > SNIPPET_CHARS:
        lead = 0 if first is None else max(0, first.start() - SNIPPET_LEAD)
        start = _word_start(text, lead)
        end = min(len(text), start + SNIPPET_CHARS)
        if first is not None:
            end = max(end, min(len(text), first.end()))
    shown = text[start:end]
    parts = [ELLIPSIS if start > 0 else ""]
    position = 0
    for found in pattern.finditer(shown):
        parts[-1] += shown[position : found.start()]
        parts.append(found.group())
        parts.append("")
        position = found.end()
    parts[-1] += shown[position:]
    if end < len(text):
        parts[-1] += ELLIPSIS
    return parts


def _word_start(text: str, index: int) -> int:
    """`index`, moved forward past a partly shown word (at most 15 characters), so that
    a cut snippet starts at a word."""
    if index == 0:
        return 0
    space = text.find(" ", index, index + 15)
    return index if space < 0 else space + 1
