"""The search query language and snippets (chat/core/search_terms.py): words, "phrases", every
other character literal; snippets as alternating text and matches."""

from __future__ import annotations

import pytest

from chat.core.errors import InvalidInput
from chat.core.search_terms import ELLIPSIS, Terms, parse, snippet


def test_whitespace_separates_words() -> None:
    assert parse("  staging\tpassword\nrotation ") == Terms(("staging", "password", "rotation"), ())


def test_quotes_make_a_phrase_kept_as_typed() -> None:
    assert parse('deploy "on  call" now').indexed == ("deploy", "on  call", "now")


def test_an_unclosed_quote_runs_to_the_end() -> None:
    assert parse('release "next week').indexed == ("release", "next week")


def test_the_same_word_in_another_case_counts_once() -> None:
    assert parse("Deploy deploy DEPLOY").indexed == ("Deploy",)


def test_short_words_are_kept_apart_from_those_the_index_finds() -> None:
    assert parse("go live OK") == Terms(("live",), ("go", "OK"))


@pytest.mark.parametrize("query", ["*", "a", "ab c", '"" x'])
def test_a_query_without_three_characters_is_refused(query: str) -> None:
    with pytest.raises(InvalidInput, match="at least 3 characters"):
        parse(query)


@pytest.mark.parametrize("query", ["NEAR(a b)", "xy:*", "abc & !b", "50%_", "^xy", "abc -b"])
def test_operators_stay_in_the_words(query: str) -> None:
    assert "".join(parse(query).all).replace(" ", "") == query.replace(" ", "")


def test_a_snippet_alternates_text_and_matches() -> None:
    terms = parse("rotation date")
    assert snippet("the rotation date is set", terms) == [
        "the ",
        "rotation",
        " ",
        "date",
        " is set",
    ]


def test_a_snippet_marks_matches_in_any_case() -> None:
    assert snippet("DEPLOYED", parse("deploy")) == ["", "DEPLOY", "ED"]


def test_a_snippet_marks_the_longest_term_first() -> None:
    assert snippet("password", parse("pass password")) == ["", "password", ""]


def test_a_long_text_is_cut_around_its_first_match() -> None:
    text = "alpha " * 100 + "needle " + "omega " * 100
    parts = snippet(text, parse("needle"))
    assert parts[0].startswith(ELLIPSIS) and parts[2].endswith(ELLIPSIS)
    assert parts[1] == "needle"
    assert 200 < len("".join(parts)) < 260
    assert parts[0][1:].startswith("alpha")  # cut at a word, not in one


def test_a_text_without_a_visible_match_is_shown_from_its_start() -> None:
    assert snippet("nothing here", parse("zzz")) == ["nothing here"]
