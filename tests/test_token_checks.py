"""Checking a token (chat/app/accounts/auth.py): a token `Tokens.issue` wrote is checked by
`Tokens.valid_own_claims` with one HMAC; every other goes to PyJWT. Whatever a token is,
`verify` answers what PyJWT alone would: the same claims, or the same refusal."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from typing import Any

import jwt
import pytest
from fuzz_strategies import signed_token
from hypothesis import given, settings
from hypothesis import strategies as st

from chat.app.accounts.auth import Tokens
from chat.core.errors import InvalidToken

SECRET = "a test secret of at least thirty-two bytes"
TOKENS = Tokens(SECRET, 3600)


class PyJwtOnly(Tokens):
    """`Tokens` without the quick check: the reference `verify` must agree with."""

    def valid_own_claims(self, token: str) -> dict[str, Any] | None:
        return None


REFERENCE = PyJwtOnly(SECRET, 3600)


def outcome(tokens: Tokens, token: str) -> object:
    """What `verify` answers: the claims, or the refusal's words."""
    try:
        return tokens.verify(token)
    except InvalidToken as refusal:
        return f"refused: {refusal}"


def claims(**changes: object) -> dict[str, object]:
    now = int(time.time())
    base: dict[str, object] = {"sub": "7", "name": "alice", "iat": now, "exp": now + 60, "ver": 0}
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


def segments(token: str) -> list[str]:
    return token.split(".")


def test_a_token_issued_here_is_checked_without_pyjwt() -> None:
    token = TOKENS.issue(7, "alice", 2, session_id="s1")
    assert TOKENS.valid_own_claims(token) == jwt.decode(token, SECRET, algorithms=["HS256"])
    assert TOKENS.verify(token) == REFERENCE.verify(token)


def test_an_expired_token_is_refused_as_expired() -> None:
    token = TOKENS.issue(7, "alice", 0, ttl=-1)
    assert TOKENS.valid_own_claims(token) is None
    assert outcome(TOKENS, token) == "refused: token has expired"


def test_a_token_signed_with_another_key_is_refused() -> None:
    token = Tokens("another secret of thirty-two bytes!!", 60).issue(7, "alice", 0)
    assert TOKENS.valid_own_claims(token) is None
    assert outcome(TOKENS, token) == "refused: invalid token"


def test_a_token_whose_payload_was_changed_is_refused() -> None:
    header, _, signature = segments(TOKENS.issue(7, "alice", 0))
    forged = base64.urlsafe_b64encode(json.dumps(claims(sub="1")).encode()).rstrip(b"=")
    token = f"{header}.{forged.decode()}.{signature}"
    assert TOKENS.valid_own_claims(token) is None
    assert outcome(TOKENS, token) == "refused: invalid token"


def test_a_signature_in_another_base64_spelling_is_refused() -> None:
    """The last character of a 32-byte signature carries two unused bits: flipping one
    spells the same bytes differently, which PyJWT refuses, and so must the quick check."""
    header, payload, signature = segments(TOKENS.issue(7, "alice", 0))
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    other = alphabet[alphabet.index(signature[-1]) ^ 1]
    token = f"{header}.{payload}.{signature[:-1]}{other}"
    assert TOKENS.valid_own_claims(token) is None
    assert outcome(TOKENS, token) == outcome(REFERENCE, token) == "refused: invalid token"


def test_a_padded_token_is_left_to_pyjwt() -> None:
    header, payload, signature = segments(TOKENS.issue(7, "alice", 0))
    token = f"{header}.{payload}.{signature}="
    assert TOKENS.valid_own_claims(token) is None
    assert outcome(TOKENS, token) == outcome(REFERENCE, token)


def test_a_token_with_another_header_goes_through_pyjwt() -> None:
    token = signed_token({"typ": "JWT", "alg": "HS256"}, claims(), SECRET)
    assert TOKENS.valid_own_claims(token) is None
    assert TOKENS.verify(token).user_id == 7


def _now() -> int:
    return int(time.time())


#: Claims `issue` never writes, each made when the test runs (times relative to then).
OTHER_CLAIMS: dict[str, Callable[[], dict[str, object]]] = {
    "audience": lambda: {"aud": "elsewhere"},
    "not-before": lambda: {"nbf": _now() + 600},
    "issued-later": lambda: {"iat": _now() + 600},
    "bool-exp": lambda: {"exp": True},
    "float-iat": lambda: {"iat": 1.5},
    "no-name": lambda: {"name": None},
    "no-exp": lambda: {"exp": None},
}


@pytest.mark.parametrize("kind", OTHER_CLAIMS)
def test_claims_issue_never_writes_are_left_to_pyjwt(kind: str) -> None:
    token = signed_token({"alg": "HS256", "typ": "JWT"}, claims(**OTHER_CLAIMS[kind]()), SECRET)
    assert TOKENS.valid_own_claims(token) is None
    assert outcome(TOKENS, token) == outcome(REFERENCE, token)


claim_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**40), 2**40),
    st.floats(allow_nan=False),
    st.text(max_size=8),
    st.sampled_from(["7", "0", "-1", "07"]),
)
any_claims = st.fixed_dictionaries(
    {},
    optional={
        "sub": claim_values,
        "name": claim_values,
        # Times drawn relative to the moment of the draw: a run may last longer than these.
        "iat": claim_values | st.builds(lambda ago: _now() - ago, st.integers(0, 60)),
        "exp": claim_values | st.builds(lambda ahead: _now() + ahead, st.integers(60, 600)),
        "ver": claim_values,
        "sid": claim_values,
        "jti": claim_values,
    },
)
headers = st.one_of(
    st.just({"alg": "HS256", "typ": "JWT"}),
    st.fixed_dictionaries(
        {}, optional={"alg": st.sampled_from(["HS256", "none", "HS512"]), "typ": claim_values}
    ),
)


@settings(max_examples=300, deadline=None)
@given(headers, any_claims, st.sampled_from([SECRET, "another secret of thirty-two bytes!!"]))
def test_verify_answers_what_pyjwt_alone_answers(
    header: dict[str, object], body: dict[str, object], secret: str
) -> None:
    token = signed_token(header, body, secret)
    assert outcome(TOKENS, token) == outcome(REFERENCE, token)
    own = TOKENS.valid_own_claims(token)
    if own is not None:
        assert own == jwt.decode(token, SECRET, algorithms=["HS256"])


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 200), st.text(max_size=4))
def test_a_mangled_token_gets_what_pyjwt_gives(cut: int, junk: str) -> None:
    token = TOKENS.issue(7, "alice", 0)
    mangled = token[:cut] + junk + token[cut:]
    assert outcome(TOKENS, mangled) == outcome(REFERENCE, mangled)
