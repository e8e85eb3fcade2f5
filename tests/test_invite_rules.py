"""The registration policy's pure rules: which addresses the domain allow-list admits
(a subdomain yes, a look-alike suffix no), the form of an invite code, and the settings'
parsers."""

from __future__ import annotations

import pytest

from chat.core.invites import RegistrationPolicy, new_code, parse
from chat.core.settings_accounts import email_domains, registration_mode


def test_the_allow_list_admits_its_domains_and_their_subdomains_only() -> None:
    policy = RegistrationPolicy(email_domains=("example.org",))
    assert policy.email_allowed("ann@example.org")
    assert policy.email_allowed("ann@staff.example.org")
    assert not policy.email_allowed("eve@evilexample.org")
    assert not policy.email_allowed("eve@example.org.evil.test")
    assert not policy.email_allowed(None)


def test_without_a_list_any_address_or_none_passes() -> None:
    assert RegistrationPolicy().email_allowed(None)
    assert RegistrationPolicy().email_allowed("anyone@anywhere.test")


def test_a_new_code_parses_back_to_its_id_and_secret() -> None:
    invite_id, secret, code = new_code()
    assert parse(code) == (invite_id, secret)


@pytest.mark.parametrize(
    "code",
    [
        "",
        "chat_pat_0123456789abcdef_x",
        "chat_inv_short_x",
        "chat_inv_0123456789abcdef_",
        "x" * 500,
    ],
)
def test_anything_else_is_no_code(code: str) -> None:
    assert parse(code) is None


def test_the_settings_parsers_refuse_what_they_cannot_use() -> None:
    assert registration_mode(" Invite ") == "invite"
    assert email_domains("Example.org, @corp.example.com,") == ("example.org", "corp.example.com")
    for bad in ("sometimes", ""):
        with pytest.raises(ValueError, match="open, invite, closed"):
            registration_mode(bad)
    for bad in ("localhost", "exa mple.org", "a..b"):
        with pytest.raises(ValueError, match=r"domains like example\.com"):
            email_domains(bad)
