"""E-mail against a real SMTP server (aiosmtpd, tests/mail_server.py): verified
addresses, password resets by one-time links (202 whatever the address; only verified
addresses mailed; a token works once, expires, and is kept hashed; every session ends),
the 503 of a server without SMTP, and a mailer that survives a server that is down."""

from __future__ import annotations

import logging
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio
from mail_server import Inbox, link_token, link_url, smtp_server
from support import (
    Account,
    Server,
    account,
    execute_sql,
    http_client,
    select_rows,
    server_config,
    start_server,
)

from chat.app.email.mailer import Mailer
from chat.core.config import Config, ConfigError, load
from chat.core.mail import Mail, SmtpServer, token_hash


@pytest.fixture
def inbox() -> Iterator[Inbox]:
    with smtp_server() as running:
        yield running


@pytest.fixture
def config(tmp_path: Path, database_url: str | None, inbox: Inbox) -> Config:
    return server_config(tmp_path, database_url, smtp_url=inbox.url)


async def _call(
    server: Server, method: str, path: str, body: Any = None, who: Account | None = None
) -> httpx.Response:
    async with http_client(server) as client:
        headers = who.auth if who is not None else {}
        return await client.request(method, path, json=body, headers=headers)


async def _verified(server: Server, inbox: Inbox, who: Account) -> None:
    asked = await _call(server, "PUT", "/me/email", {"Email": who.email}, who)
    assert asked.status_code == 202, asked.text
    token = link_token(await inbox.next_mail(who.email), "verify-email")
    verified = await _call(server, "POST", "/email/verify", {"Token": token})
    assert verified.status_code == 200, verified.text


async def _reset_token(server: Server, inbox: Inbox, who: Account) -> str:
    seen = len(inbox.to(who.email))
    asked = await _call(server, "POST", "/password-reset", {"Email": who.email})
    assert asked.status_code == 202, asked.text
    return link_token(await inbox.next_mail(who.email, seen=seen), "reset-password")


async def _log_in(server: Server, name: str, password: str) -> httpx.Response:
    return await _call(server, "POST", "/auth", {"name": name, "password": password})


# --- verified addresses ---


async def test_a_registered_address_is_not_verified(server: Server) -> None:
    alice = await account(server, "alice")
    state = (await _call(server, "GET", "/me/email", who=alice)).json()
    assert state == {
        "Email": alice.email,
        "Verified": False,
        "Digest": False,
        "MailEnabled": True,
    }


async def test_following_the_mailed_link_verifies_the_new_address(
    server: Server, inbox: Inbox
) -> None:
    alice = await account(server, "alice")
    asked = await _call(server, "PUT", "/me/email", {"Email": "Alice@Elsewhere.org"}, alice)
    assert asked.status_code == 202, asked.text
    mail = await inbox.next_mail("alice@elsewhere.org")
    assert mail["Subject"] == "Confirm your e-mail address"
    assert mail["From"] == "chat@localhost"
    before = (await _call(server, "GET", "/me/email", who=alice)).json()
    assert (before["Email"], before["Verified"]) == (alice.email, False)
    token = link_token(mail, "verify-email")
    verified = await _call(server, "POST", "/email/verify", {"Token": token})
    assert verified.json() == {"Email": "alice@elsewhere.org"}
    after = (await _call(server, "GET", "/me/email", who=alice)).json()
    assert after == {
        "Email": "alice@elsewhere.org",
        "Verified": True,
        "Digest": True,
        "MailEnabled": True,
    }


async def test_fetching_the_link_as_a_mail_scanner_would_verifies_nothing(
    server: Server, inbox: Inbox
) -> None:
    alice = await account(server, "alice")
    await _call(server, "PUT", "/me/email", {"Email": alice.email}, alice)
    url = link_url(await inbox.next_mail(alice.email))
    async with httpx.AsyncClient() as scanner:
        fetched = await scanner.get(url)
    assert fetched.status_code == 200
    state = (await _call(server, "GET", "/me/email", who=alice)).json()
    assert state["Verified"] is False


async def test_a_verification_link_works_once(server: Server, inbox: Inbox) -> None:
    alice = await account(server, "alice")
    await _call(server, "PUT", "/me/email", {"Email": alice.email}, alice)
    token = link_token(await inbox.next_mail(alice.email), "verify-email")
    assert (await _call(server, "POST", "/email/verify", {"Token": token})).status_code == 200
    again = await _call(server, "POST", "/email/verify", {"Token": token})
    assert again.status_code == 404
    assert "not valid" in again.json()["error"]


async def test_an_address_another_account_holds_is_refused_409(server: Server) -> None:
    alice, bob = await account(server, "alice"), await account(server, "bob")
    taken = await _call(server, "PUT", "/me/email", {"Email": bob.email}, alice)
    assert taken.status_code == 409


async def test_the_database_keeps_only_each_tokens_hash(
    server: Server, inbox: Inbox, config: Config
) -> None:
    alice = await account(server, "alice")
    await _call(server, "PUT", "/me/email", {"Email": alice.email}, alice)
    token = link_token(await inbox.next_mail(alice.email), "verify-email")
    rows = await select_rows(config, "SELECT token_hash FROM email_tokens")
    assert rows == [(token_hash(token),)]


# --- password reset ---


async def test_a_reset_for_an_unknown_address_answers_202_and_mails_nothing(
    server: Server, inbox: Inbox
) -> None:
    alice = await account(server, "alice")
    await _verified(server, inbox, alice)
    asked = await _call(server, "POST", "/password-reset", {"Email": "nobody@example.com"})
    assert (asked.status_code, asked.json()) == (202, {})
    mailed = await _call(server, "POST", "/password-reset", {"Email": alice.email})
    assert (mailed.status_code, mailed.json()) == (202, {})
    await inbox.next_mail(alice.email, seen=1)
    assert inbox.to("nobody@example.com") == []


async def test_a_reset_mails_nothing_to_an_unverified_address(server: Server, inbox: Inbox) -> None:
    alice, bob = await account(server, "alice"), await account(server, "bob")
    await _verified(server, inbox, bob)
    asked = await _call(server, "POST", "/password-reset", {"Email": alice.email})
    assert asked.status_code == 202
    # Bob's reset, asked after Alice's, arrives: Alice's would have come first.
    await _reset_token(server, inbox, bob)
    assert inbox.to(alice.email) == []


async def test_a_reset_link_sets_the_password_once_and_ends_every_session(
    server: Server, inbox: Inbox
) -> None:
    alice = await account(server, "alice")
    await _verified(server, inbox, alice)
    token = await _reset_token(server, inbox, alice)
    reset = await _call(server, "POST", f"/password-reset/{token}", {"Password": "brand-new-pw"})
    assert reset.json() == {"Username": "alice"}
    assert (await _call(server, "GET", "/me/email", who=alice)).status_code == 401
    assert (await _log_in(server, "alice", alice.password)).status_code == 401
    assert (await _log_in(server, "alice", "brand-new-pw")).status_code == 200
    again = await _call(server, "POST", f"/password-reset/{token}", {"Password": "another-pw-1"})
    assert again.status_code == 404
    assert (await _log_in(server, "alice", "brand-new-pw")).status_code == 200


async def test_a_reset_link_expires(server: Server, inbox: Inbox, config: Config) -> None:
    alice = await account(server, "alice")
    await _verified(server, inbox, alice)
    token = await _reset_token(server, inbox, alice)
    past = "now() - interval '1 second'" if config.is_postgres else "0"
    await execute_sql(config, f"UPDATE email_tokens SET expires_at = {past}")
    reset = await _call(server, "POST", f"/password-reset/{token}", {"Password": "brand-new-pw"})
    assert reset.status_code == 404
    assert (await _log_in(server, "alice", alice.password)).status_code == 200


async def test_a_new_reset_link_replaces_the_one_before(server: Server, inbox: Inbox) -> None:
    alice = await account(server, "alice")
    await _verified(server, inbox, alice)
    first = await _reset_token(server, inbox, alice)
    second = await _reset_token(server, inbox, alice)
    old = await _call(server, "POST", f"/password-reset/{first}", {"Password": "brand-new-pw"})
    assert old.status_code == 404
    new = await _call(server, "POST", f"/password-reset/{second}", {"Password": "brand-new-pw"})
    assert new.status_code == 200


async def test_a_short_new_password_is_refused_and_the_link_still_works(
    server: Server, inbox: Inbox
) -> None:
    alice = await account(server, "alice")
    await _verified(server, inbox, alice)
    token = await _reset_token(server, inbox, alice)
    short = await _call(server, "POST", f"/password-reset/{token}", {"Password": "x"})
    assert short.status_code == 400
    good = await _call(server, "POST", f"/password-reset/{token}", {"Password": "brand-new-pw"})
    assert good.status_code == 200


async def test_reset_requests_are_rate_limited_per_address(
    nursery: trio.Nursery, tmp_path: Path, database_url: str | None, inbox: Inbox
) -> None:
    config = server_config(
        tmp_path, database_url, smtp_url=inbox.url, rate_limits=True, rate_emails="2/hour"
    )
    server = await start_server(nursery, config)
    statuses = []
    for _ in range(3):
        answer = await _call(server, "POST", "/password-reset", {"Email": "who@example.com"})
        statuses.append(answer.status_code)
    assert statuses == [202, 202, 429]


# --- without SMTP ---


async def test_without_smtp_the_routes_that_mail_answer_503(
    nursery: trio.Nursery, tmp_path: Path, database_url: str | None
) -> None:
    server = await start_server(nursery, server_config(tmp_path, database_url))
    alice = await account(server, "alice")
    asked = await _call(server, "PUT", "/me/email", {"Email": alice.email}, alice)
    assert asked.status_code == 503
    reset = await _call(server, "POST", "/password-reset", {"Email": alice.email})
    assert reset.status_code == 503
    state = (await _call(server, "GET", "/me/email", who=alice)).json()
    assert state["MailEnabled"] is False


# --- the mailer ---


@pytest.mark.unit
async def test_a_mail_the_server_refuses_every_time_is_logged_once_and_the_mailer_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with smtp_server() as running:
        closed_url = running.url
    mailer = Mailer(closed_url, "chat@localhost", retry_delays=(0.01, 0.01))
    with trio.fail_after(10), caplog.at_level(logging.DEBUG, "chat.app.email.mailer"):
        async with trio.open_nursery() as nursery:
            await nursery.start(mailer.run)
            assert mailer.send_nowait(Mail("a@example.com", "one", "text"))
            assert mailer.send_nowait(Mail("b@example.com", "two", "text"))
            for _ in range(1000):
                if mailer.failed == 2:
                    break
                await trio.sleep(0.01)
            nursery.cancel_scope.cancel()
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2
    assert [r.levelno for r in caplog.records].count(logging.DEBUG) == 6


@pytest.mark.unit
def test_an_smtp_url_names_the_server_its_tls_and_its_login() -> None:
    plain = SmtpServer.parse("smtp://mailer%40corp:p%2Fw@mail.example.com:587")
    assert (plain.host, plain.port, plain.tls) == ("mail.example.com", 587, False)
    assert (plain.username, plain.password) == ("mailer@corp", "p/w")
    assert SmtpServer.parse("smtps://mail.example.com").port == 465
    assert SmtpServer.parse("smtp://mail.example.com").port == 25


@pytest.mark.unit
def test_a_setting_that_is_not_an_smtp_url_is_refused() -> None:
    with pytest.raises(ConfigError, match="CHAT_SMTP_URL"):
        load(environ={"CHAT_SMTP_URL": "http://mail.example.com"})


def _certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1, and its key."""
    cert, key = directory / "smtp.pem", directory / "smtp.key"
    made = ["-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1"]
    names = ["-addext", "subjectAltName=IP:127.0.0.1"]
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", *made, *names],
        check=True,
        capture_output=True,
    )
    return cert, key


async def test_mail_goes_over_starttls_when_the_server_offers_it(
    nursery: trio.Nursery,
    tmp_path: Path,
    database_url: str | None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cert, key = _certificate(tmp_path)
    # The mailer checks the server's certificate against the default CAs: this one.
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    with smtp_server(tls=(cert, key)) as tls_inbox:
        config = server_config(tmp_path, database_url, smtp_url=tls_inbox.url)
        server = await start_server(nursery, config)
        alice = await account(server, "alice")
        asked = await _call(server, "PUT", "/me/email", {"Email": alice.email}, alice)
        assert asked.status_code == 202
        # The server refuses mail before STARTTLS: this one came over TLS.
        assert (await tls_inbox.next_mail(alice.email))["Subject"] == "Confirm your e-mail address"
