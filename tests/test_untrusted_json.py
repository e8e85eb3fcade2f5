"""`chat.core.untrusted_json.parse`: where every body and frame is decoded, and refused when
it could not be used safely (the server-level cases are in test_hostile_corpus.py)."""

from __future__ import annotations

import pytest

from chat.core.errors import InvalidInput
from chat.core.untrusted_json import MAX_DEPTH, MAX_INT_DIGITS, parse


def test_nesting_up_to_the_limit_is_accepted() -> None:
    assert parse("[" * MAX_DEPTH + "]" * MAX_DEPTH, "frame") is not None


def test_nesting_past_the_limit_is_refused_with_the_limit_named() -> None:
    with pytest.raises(InvalidInput, match=rf"nested too deeply .*{MAX_DEPTH}"):
        parse("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1), "frame")


def test_brackets_inside_strings_do_not_count_as_nesting() -> None:
    text = '{"message": "' + "[{" * 100 + '\\"[["}'
    assert parse(text, "frame") == {"message": "[{" * 100 + '"[['}


def test_integers_up_to_the_digit_limit_are_accepted() -> None:
    assert parse("9" * MAX_INT_DIGITS, "frame") == int("9" * MAX_INT_DIGITS)
    assert parse("-" + "9" * MAX_INT_DIGITS, "frame") == -int("9" * MAX_INT_DIGITS)


def test_longer_integers_are_refused_before_python_converts_them() -> None:
    with pytest.raises(InvalidInput, match="at most 20 digits"):
        parse('{"RoomID": ' + "1" * 5000 + "}", "request body")


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_non_standard_constants_are_refused(constant: str) -> None:
    with pytest.raises(InvalidInput, match="not a JSON number"):
        parse(f'{{"n": {constant}}}', "frame")


@pytest.mark.parametrize("text", ['{"a": "x\\u0000"}', '{"x\\u0000": 1}', '["\\u0000"]'])
def test_nul_is_refused_in_every_string_keys_included(text: str) -> None:
    with pytest.raises(InvalidInput, match="NUL"):
        parse(text, "frame")


@pytest.mark.parametrize("text", ['{"id": "\\ud800"}', '{"\\udfff": 1}', '["a\\ud83d"]'])
def test_a_lone_surrogate_is_refused(text: str) -> None:
    with pytest.raises(InvalidInput, match="surrogate"):
        parse(text, "frame")


def test_an_escaped_surrogate_pair_is_text() -> None:
    assert parse('{"message": "\\ud83d\\ude00"}', "frame") == {"message": "\U0001f600"}


def test_invalid_json_names_the_document_and_the_position() -> None:
    with pytest.raises(InvalidInput, match=r"request body is not valid JSON: .* at position 1"):
        parse("{x", "request body")
