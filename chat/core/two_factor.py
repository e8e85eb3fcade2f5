"""The second factor's values, without I/O: TOTP codes (RFC 6238 with pyotp: SHA-1, six
digits, 30-second steps), recovery codes, the QR code an authenticator app scans, and
the record the store keeps of a user's (`TwoFactorState`).

A TOTP code is matched at the current step and the one on either side (clocks drift;
RFC 6238 section 5.2), and names the step it matched: the caller accepts it only if that
step is later than the last one accepted (`chat.store.two_factor`), so a code works once.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pyotp
import segno

from chat.core.errors import InvalidInput

#: Seconds a TOTP code stands for, and the steps either side of now that still count.
STEP_SECONDS = 30
DRIFT_STEPS = 1
#: Recovery codes made at enrolment; each is 16 base32 letters (80 bits), shown in groups
#: of four.
RECOVERY_CODES = 10
_RECOVERY_GROUPS = 4
#: The longest code a client may send (a recovery code with dashes and spaces fits).
MAX_CODE_CHARS = 64
#: The issuer an authenticator app shows beside the account.
ISSUER = "chat"

_BASE32 = "abcdefghijklmnopqrstuvwxyz234567"


@dataclass(frozen=True, slots=True)
class TwoFactorState:
    """A user's second factor: their TOTP secret (base32), whether it is in force or
    still waits for a first code, the last time-step a code was accepted at, and how
    many recovery codes are unused."""

    secret: str = field(repr=False)
    enabled: bool
    last_step: int
    recovery_codes_left: int


def new_secret() -> str:
    """A new TOTP secret: 160 random bits in base32, as RFC 4226 recommends for SHA-1."""
    return pyotp.random_base32(32)


def provisioning_uri(secret: str, account: str) -> str:
    """The ``otpauth://`` URI an authenticator app reads (from the QR code)."""
    return pyotp.TOTP(secret).provisioning_uri(name=account, issuer_name=ISSUER)


def qr_svg_data_uri(uri: str) -> str:
    """`uri` as a QR code: an SVG ``data:`` URI, for an ``<img>`` of the account screen."""
    return str(segno.make(uri, error="m").svg_data_uri(scale=4, border=2))


def checked_code(code: object, field_name: str = "Code") -> str:
    """The code a client sent, as a string of bounded length (`InvalidInput` if not)."""
    if not isinstance(code, str) or not code.strip():
        raise InvalidInput(f'field "{field_name}" must be a six-digit code or a recovery code')
    if len(code) > MAX_CODE_CHARS:
        raise InvalidInput(f'field "{field_name}" is at most {MAX_CODE_CHARS} characters')
    return code


def optional_code(body: Mapping[str, Any], field_name: str) -> str | None:
    """The second factor a login's body carries under `field_name` (``Code``, or ``code``
    in the lower-case dialects): None when absent, null or empty."""
    code = body.get(field_name)
    if code is None or code == "":
        return None
    return checked_code(code, field_name)


def is_totp_code(code: str) -> bool:
    """Whether `code` has a TOTP code's form (six digits, spaces allowed); anything else
    is taken for a recovery code."""
    digits = code.replace(" ", "")
    return len(digits) == 6 and digits.isascii() and digits.isdigit()


def current_step(now: float | None = None) -> int:
    return int((time.time() if now is None else now) // STEP_SECONDS)


def totp_step(secret: str, code: str, *, now: float | None = None) -> int | None:
    """The time-step at which `code` is `secret`'s TOTP code, within `DRIFT_STEPS` of now,
    or None. Compared in constant time."""
    totp = pyotp.TOTP(secret)
    digits = code.replace(" ", "")
    step = current_step(now)
    matched = None
    for candidate in range(step - DRIFT_STEPS, step + DRIFT_STEPS + 1):
        if hmac.compare_digest(totp.at(candidate * STEP_SECONDS), digits):
            matched = candidate
    return matched


def new_recovery_codes() -> list[str]:
    """`RECOVERY_CODES` new codes, shown once (``abcd-efgh-ijkl-mnop``)."""
    codes = []
    for _ in range(RECOVERY_CODES):
        letters = "".join(secrets.choice(_BASE32) for _ in range(4 * _RECOVERY_GROUPS))
        codes.append("-".join(letters[i : i + 4] for i in range(0, len(letters), 4)))
    return codes


def recovery_code_hash(code: str) -> str:
    """What is stored of a recovery code: the SHA-256 of its letters, lower-case, without
    dashes or spaces (80 random bits each: a fast hash is enough)."""
    letters = "".join(code.split()).replace("-", "").lower()
    return hashlib.sha256(letters.encode("utf-8")).hexdigest()
