"""Single sign-on with OpenID Connect, against a real OpenID Provider (oidc-provider,
tests/oidc.py) on loopback: the code flow with PKCE, accounts linked by subject, and
each way a sign-in must fail (a wrong audience, an expired token, a replayed nonce, a
wrong state, another browser) and the provider's keys rotating."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trio
from oidc import Browser, Provider, query_of, replace_query, running_provider
from support import Server, account, http_client, start_server
from test_support import operator

from chat.app.accounts.oidc_provider import KEY_REFETCH_S
from chat.core.config import Config

pytestmark = pytest.mark.server


@pytest.fixture
async def provider(tmp_path: Path) -> AsyncIterator[Provider]:
    async with running_provider(tmp_path) as running:
        yield running


@pytest.fixture
async def sso_server(nursery: trio.Nursery, config: Config, provider: Provider) -> Server:
    return await start_server(
        nursery, config.replace(oidc_providers=json.dumps([provider.setting()]))
    )


async def test_a_first_sign_in_makes_an_account_and_starts_a_session(sso_server: Server) -> None:
    async with Browser(sso_server) as browser:
        answer = await browser.sign_in("alice")
        assert answer.status_code == 302, answer.text
        assert answer.headers["location"] == "/"
        assert browser.error(answer) is None
        session = await browser.session()
    assert session["Username"] == "alice"


async def test_the_authorization_request_uses_pkce_s256_a_state_and_a_nonce(
    sso_server: Server,
) -> None:
    async with Browser(sso_server) as browser:
        query = query_of(await browser.begin())
    assert query["code_challenge_method"] == "S256"
    assert len(query["code_challenge"]) == 43
    assert len(query["state"]) == 43 and len(query["nonce"]) == 43
    assert query["response_type"] == "code"
    assert query["redirect_uri"] == f"{sso_server.http}/oidc/Test/callback"


async def test_a_second_sign_in_finds_the_account_of_the_same_subject(sso_server: Server) -> None:
    async with Browser(sso_server) as first:
        await first.sign_in("carol")
        uid = (await first.session())["UID"]
    async with Browser(sso_server) as second:
        await second.sign_in("carol")
        assert (await second.session())["UID"] == uid


async def test_a_deactivated_account_is_not_signed_in(sso_server: Server) -> None:
    async with Browser(sso_server) as browser:
        await browser.sign_in("rita")
        uid = (await browser.session())["UID"]
    op = await operator(sso_server)
    async with http_client(sso_server) as client:
        changed = await client.put(f"/admin/users/{uid}", headers=op.auth, json={"Active": False})
    assert changed.status_code == 200, changed.text
    async with Browser(sso_server) as browser:
        answer = await browser.sign_in("rita")
        assert "deactivated" in (browser.error(answer) or "")
        assert "chat_session" not in answer.cookies


async def test_a_name_taken_by_a_password_account_gets_a_number(sso_server: Server) -> None:
    bob = await account(sso_server, "bob")
    async with Browser(sso_server) as browser:
        await browser.sign_in("bob")
        session = await browser.session()
    assert session["Username"] == "bob-2"
    assert session["UID"] != bob.uid


async def test_a_name_missing_from_the_id_token_is_read_from_user_info(
    sso_server: Server, provider: Provider
) -> None:
    await provider.next_id_token(preferred_username=None)
    async with Browser(sso_server) as browser:
        answer = await browser.sign_in("pat")
        assert browser.error(answer) is None
        assert (await browser.session())["Username"] == "pat"


async def test_an_id_token_for_another_audience_is_refused(
    sso_server: Server, provider: Provider
) -> None:
    await provider.next_id_token(aud="another-client")
    async with Browser(sso_server) as browser:
        answer = await browser.sign_in("dave")
        assert answer.headers["location"] == "/"
        assert "audience" in (browser.error(answer) or "")
        assert "chat_session" not in answer.cookies


async def test_an_expired_id_token_is_refused(sso_server: Server, provider: Provider) -> None:
    now = int(time.time())
    await provider.next_id_token(iat=now - 7200, exp=now - 3600)
    async with Browser(sso_server) as browser:
        answer = await browser.sign_in("erin")
        assert "expired" in (browser.error(answer) or "")
        assert "chat_session" not in answer.cookies


async def test_a_replayed_nonce_is_refused(sso_server: Server) -> None:
    async with Browser(sso_server) as browser:
        await browser.sign_in("frank")
        used = query_of(browser.authorization_url)["nonce"]
    async with Browser(sso_server) as browser:
        answer = await browser.sign_in("frank", tamper=lambda url: replace_query(url, nonce=used))
        assert "nonce" in (browser.error(answer) or "")
        assert "chat_session" not in answer.cookies


async def test_a_wrong_state_is_refused(sso_server: Server) -> None:
    async with Browser(sso_server) as browser:
        callback = await browser.at_provider(await browser.begin(), "grace")
        answer = await browser.callback(replace_query(callback, state=secrets.token_urlsafe(32)))
        assert "unknown" in (browser.error(answer) or "")
        assert "chat_session" not in answer.cookies


async def test_an_answer_naming_another_issuer_is_refused(sso_server: Server) -> None:
    async with Browser(sso_server) as browser:
        callback = await browser.at_provider(await browser.begin(), "quinn")
        assert query_of(callback)["iss"]  # oidc-provider names itself (RFC 9207)
        answer = await browser.callback(replace_query(callback, iss="https://evil.example"))
        assert "another issuer" in (browser.error(answer) or "")
        assert "chat_session" not in answer.cookies


async def test_a_callback_used_twice_is_refused_the_second_time(sso_server: Server) -> None:
    async with Browser(sso_server) as browser:
        callback = await browser.at_provider(await browser.begin(), "heidi")
        assert browser.error(await browser.callback(callback)) is None
        again = await browser.callback(callback)
        assert "finished already" in (browser.error(again) or "")


async def test_a_callback_in_another_browser_is_refused(sso_server: Server) -> None:
    async with Browser(sso_server) as victim, Browser(sso_server) as attacker:
        callback = await attacker.at_provider(await attacker.begin(), "mallory")
        answer = await victim.callback(callback)
        assert "another browser" in (victim.error(answer) or "")
        assert "chat_session" not in answer.cookies


async def test_rotated_keys_are_fetched_again(sso_server: Server, provider: Provider) -> None:
    async with Browser(sso_server) as browser:
        await browser.sign_in("ivan")
    await provider.rotate_keys()
    # The keys are fetched again for an unknown key at most every KEY_REFETCH_S.
    await trio.sleep(KEY_REFETCH_S)
    async with Browser(sso_server) as browser:
        answer = await browser.sign_in("ivan")
        assert browser.error(answer) is None
        assert (await browser.session())["Username"] == "ivan"


async def test_unknown_key_ids_fetch_the_keys_again_at_most_every_few_seconds(
    sso_server: Server, provider: Provider
) -> None:
    async with Browser(sso_server) as browser:
        await browser.sign_in("olivia")  # the keys fetched once
    refused = []
    for attempt in range(3):
        await provider.next_id_token(_kid=f"made-up-{attempt}")
        async with Browser(sso_server) as browser:
            refused.append(browser.error(await browser.sign_in("olivia")))
    assert all("a key the provider does not publish" in (error or "") for error in refused)
    # Three unknown key ids within moments: one fetch more at most (if the first was
    # KEY_REFETCH_S ago by then), not one each.
    assert await provider.jwks_fetches() <= 2


async def test_the_providers_are_listed_for_the_login_view(sso_server: Server) -> None:
    async with http_client(sso_server) as client:
        answer = await client.get("/oidc/providers")
    assert answer.json() == {
        "Providers": [{"Name": "Test", "LoginURL": "/oidc/Test/login"}],
        "PasswordLogin": True,
    }


async def test_an_unknown_provider_is_404(sso_server: Server) -> None:
    async with http_client(sso_server) as client:
        answer = await client.get("/oidc/Nobody/login")
    assert answer.status_code == 404
    assert "no single sign-on provider" in answer.json()["error"]


async def test_a_wrong_client_secret_is_refused_at_the_token_endpoint(
    nursery: trio.Nursery, config: Config, provider: Provider
) -> None:
    setting = provider.setting(ClientSecret="not the secret the provider knows")
    server = await start_server(nursery, config.replace(oidc_providers=json.dumps([setting])))
    async with Browser(server) as browser:
        answer = await browser.sign_in("judy")
        assert "refused the sign-in's code (invalid_client)" in (browser.error(answer) or "")
        assert "chat_session" not in answer.cookies


async def test_sso_only_refuses_password_logins_and_registrations(
    nursery: trio.Nursery, config: Config, provider: Provider
) -> None:
    server = await start_server(
        nursery, config.replace(oidc_providers=json.dumps([provider.setting()]), sso_only=True)
    )
    async with http_client(server) as client:
        registration = await client.post(
            "/api/reg", json={"username": "kim", "password": "password1"}
        )
        login = await client.post("/session", json={"Username": "kim", "Password": "password1"})
        listed = (await client.get("/oidc/providers")).json()
    assert registration.status_code == 403, registration.text
    assert "single sign-on only" in registration.json()["error"]
    assert login.status_code == 403, login.text
    assert "single sign-on only" in login.json()["error"]
    assert listed["PasswordLogin"] is False
    async with Browser(server) as browser:
        await browser.sign_in("kim")
        assert (await browser.session())["Username"] == "kim"


async def test_a_first_sign_in_obeys_the_registration_policy_and_a_linked_one_does_not_need_to(
    nursery: trio.Nursery, config: Config, provider: Provider
) -> None:
    """Under invite-only registration, a new person's first sign-in makes no account; an
    account linked before the policy changed keeps signing in."""
    setting = json.dumps([provider.setting()])
    async with trio.open_nursery() as first:  # stopped before the second starts
        open_server = await start_server(first, config.replace(oidc_providers=setting))
        async with Browser(open_server) as browser:
            await browser.sign_in("linda")
        first.cancel_scope.cancel()
    invite_only = await start_server(
        nursery, config.replace(oidc_providers=setting, registration="invite")
    )
    async with Browser(invite_only) as browser:
        refused = await browser.sign_in("newton")
        assert "invitation" in (browser.error(refused) or "")
        assert "chat_session" not in refused.cookies
    async with Browser(invite_only) as browser:
        await browser.sign_in("linda")
        assert (await browser.session())["Username"] == "linda"
