"""The second factor's values (chat/core/two_factor.py): a TOTP code matches its own
step and those either side of now, no further, and names the step it matched; recovery
codes hash the same however they are typed; a client's code is bounded."""

from __future__ import annotations

import pyotp
import pytest

from chat.core import two_factor
from chat.core.errors import InvalidInput

SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
NOW = 1_800_000_015.0  # step 60_000_000, 15 s into it
STEP = 60_000_000


@pytest.mark.parametrize("offset", [-1, 0, 1])
def test_a_code_of_a_step_beside_now_matches_and_names_its_step(offset: int) -> None:
    code = pyotp.TOTP(SECRET).at((STEP + offset) * 30)
    assert two_factor.totp_step(SECRET, code, now=NOW) == STEP + offset


@pytest.mark.parametrize("offset", [-2, 2])
def test_a_code_two_steps_away_does_not_match(offset: int) -> None:
    code = pyotp.TOTP(SECRET).at((STEP + offset) * 30)
    assert two_factor.totp_step(SECRET, code, now=NOW) is None


def test_a_code_of_another_secret_does_not_match() -> None:
    other = pyotp.TOTP("KRSXG5CTMVRXEZLUKRSXG5CTMVRXEZLU").at(STEP * 30)
    assert two_factor.totp_step(SECRET, other, now=NOW) is None


def test_a_recovery_code_hashes_the_same_in_any_case_and_spacing() -> None:
    (code, *_) = two_factor.new_recovery_codes()
    typed = code.upper().replace("-", " ")
    assert two_factor.recovery_code_hash(typed) == two_factor.recovery_code_hash(code)


def test_recovery_codes_are_ten_different_groups_of_letters() -> None:
    codes = two_factor.new_recovery_codes()
    assert len(set(codes)) == 10
    assert all(len(code) == 19 and code.count("-") == 3 for code in codes)


def test_six_digits_are_a_totp_code_and_anything_else_a_recovery_code() -> None:
    assert two_factor.is_totp_code("123 456")
    assert not two_factor.is_totp_code("12345")
    assert not two_factor.is_totp_code("١٢٣٤٥٦")  # Arabic-Indic digits: not ASCII


def test_an_absent_or_empty_code_is_none_and_a_long_one_is_refused() -> None:
    assert two_factor.optional_code({}, "Code") is None
    assert two_factor.optional_code({"Code": ""}, "Code") is None
    with pytest.raises(InvalidInput, match="Code"):
        two_factor.optional_code({"Code": "1" * 65}, "Code")
    with pytest.raises(InvalidInput, match="code"):
        two_factor.optional_code({"code": 123456}, "code")


def test_the_provisioning_uri_names_the_issuer_and_the_account() -> None:
    uri = two_factor.provisioning_uri(SECRET, "alice")
    assert uri.startswith(f"otpauth://totp/chat:alice?secret={SECRET}&issuer=chat")
