"""`CHAT_OIDC_PROVIDERS` and `CHAT_SSO_ONLY` checked at start-up, PKCE's challenge, and
the user names a first sign-in tries (chat/core/oidc.py)."""

from __future__ import annotations

import json

import pytest

from chat.core.config import ConfigError, load
from chat.core.oidc import name_candidates, pkce_challenge
from chat.core.settings_in_force import MASK, settings_in_force

pytestmark = pytest.mark.unit

GOOD = {
    "Name": "Corp",
    "Issuer": "https://login.example.com/",
    "ClientID": "chat",
    "ClientSecret": "s3cret",
}


def test_a_provider_is_read_with_its_defaults() -> None:
    config = load({"CHAT_OIDC_PROVIDERS": json.dumps([GOOD])})
    (provider,) = config.oidc
    assert provider.issuer == "https://login.example.com"
    assert provider.username_claim == "preferred_username"
    assert provider.host_port == "login.example.com:443"
    assert "s3cret" not in repr(config) and "s3cret" not in repr(provider)


@pytest.mark.parametrize(
    ("entries", "problem"),
    [
        ("{not json", "must be a JSON list"),
        ("{}", "non-empty JSON list"),
        (json.dumps([GOOD, GOOD]), "a Name of its own"),
        (json.dumps([GOOD | {"Name": "a b"}]), "Name must be 1 to 32 letters"),
        (json.dumps([GOOD | {"Issuer": "http://login.example.com"}]), "must be https://"),
        (json.dumps([GOOD | {"Issuer": "ftp://x"}]), "must be an https:// URL"),
        (json.dumps([{k: v for k, v in GOOD.items() if k != "ClientSecret"}]), "ClientSecret"),
        (json.dumps([GOOD | {"Scope": "openid"}]), "unknown keys ['Scope']"),
        (json.dumps([GOOD | {"UsernameClaim": "a b"}]), "UsernameClaim is not a claim"),
    ],
)
def test_a_bad_provider_setting_is_refused_at_start_up(entries: str, problem: str) -> None:
    with pytest.raises(ConfigError, match="CHAT_OIDC_PROVIDERS") as refused:
        load({"CHAT_OIDC_PROVIDERS": entries})
    assert problem in str(refused.value)
    assert "s3cret" not in str(refused.value)


def test_the_settings_in_force_show_the_providers_with_their_secrets_masked() -> None:
    config = load({"CHAT_OIDC_PROVIDERS": json.dumps([GOOD])})
    (shown,) = settings_in_force(config)["CHAT_OIDC_PROVIDERS"]
    assert shown == GOOD | {"ClientSecret": MASK}


def test_sso_only_without_providers_is_refused() -> None:
    with pytest.raises(ConfigError, match="CHAT_SSO_ONLY=on needs CHAT_OIDC_PROVIDERS"):
        load({"CHAT_SSO_ONLY": "on"})


def test_the_pkce_challenge_is_rfc_7636s_s256() -> None:
    # RFC 7636, Appendix B.
    verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    assert pkce_challenge(verifier) == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


def test_a_name_is_made_from_the_claim_and_numbered_when_taken() -> None:
    assert name_candidates("Jane Doe<script>", tries=3) == [
        "JaneDoescript",
        "JaneDoescript-2",
        "JaneDoescript-3",
    ]
    assert name_candidates("jane.doe@example.com")[0] == "jane.doe"
    assert name_candidates(None)[0] == "user"
    assert name_candidates("...")[0] == "user"
    assert len(name_candidates("x" * 300)[0]) <= 24
