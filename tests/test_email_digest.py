"""Digests of missed mentions and direct messages, against a real SMTP server: mailed
after the quiet period to a verified address, never for what was read meanwhile, a few
quoted and the rest counted, off by the user's switch, and once per message in a
cluster of two instances."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from email.message import Message
from pathlib import Path

import pytest
import trio
from cluster import open_cluster
from mail_server import Inbox, link_token, smtp_server
from support import (
    Account,
    Server,
    account,
    create_room,
    entered,
    http_client,
    open_clients,
    server_config,
    throwaway_postgres_schema,
)
from test_token_revocation import closed

from chat.core.config import Config
from chat.core.mail import DIGEST_QUOTE_CHARS, Missed, digest_mail

#: The quiet period of these tests (CHAT_EMAIL_DIGEST_SECONDS), seconds.
QUIET = 1


@pytest.fixture
def inbox() -> Iterator[Inbox]:
    with smtp_server() as running:
        yield running


@pytest.fixture
def config(tmp_path: Path, database_url: str | None, inbox: Inbox) -> Config:
    return server_config(tmp_path, database_url, smtp_url=inbox.url, email_digest_seconds=QUIET)


async def _verified(server: Server, inbox: Inbox, who: Account) -> None:
    async with http_client(server) as client:
        asked = await client.put("/me/email", headers=who.auth, json={"Email": who.email})
        assert asked.status_code == 202, asked.text
        token = link_token(await inbox.next_mail(who.email), "verify-email")
        verified = await client.post("/email/verify", json={"Token": token})
        assert verified.status_code == 200, verified.text


async def _post(server: Server, who: Account, room_id: int, text: str) -> int:
    async with http_client(server) as client:
        posted = await client.post(f"/messages/{room_id}", headers=who.auth, json={"Text": text})
    assert posted.status_code in (200, 201), posted.text
    message_id: int = posted.json()["MessageID"]
    return message_id


async def _dm(server: Server, who: Account, other: Account) -> int:
    async with http_client(server) as client:
        made = await client.get(f"/dm/{other.uid}", headers=who.auth)
    assert made.status_code in (200, 201), made.text
    room_id: int = made.json()["RoomID"]
    return room_id


def _text(mail: Message) -> str:
    body = mail.get_payload(decode=True)
    assert isinstance(body, bytes)
    return body.decode().replace("\r\n", "\n")


async def _digest(inbox: Inbox, who: Account) -> Message:
    # The verification mail came first.
    return await inbox.next_mail(who.email, seen=1)


async def test_an_unread_mention_is_mailed_after_the_quiet_period(
    server: Server, inbox: Inbox
) -> None:
    alice, bob = await account(server, "alice"), await account(server, "bob")
    await _verified(server, inbox, bob)
    room = await create_room(server, alice, "garden", bob)
    await _post(server, alice, room, "@bob the roses are out")
    mail = await _digest(inbox, bob)
    assert mail["Subject"] == "1 message you missed"
    assert "alice in #garden:\n> @bob the roses are out" in _text(mail)


async def test_a_mention_read_within_the_quiet_period_is_never_mailed(
    server: Server, inbox: Inbox
) -> None:
    alice, bob = await account(server, "alice"), await account(server, "bob")
    await _verified(server, inbox, bob)
    room = await create_room(server, alice, "garden", bob)
    async with open_clients(server) as clients:
        ws = await entered(clients, bob, room)
        read = await _post(server, alice, room, "@bob read this one")
        await ws.receive()  # the message itself
        answer = await ws.request({"Type": "read", "RoomID": room, "MessageID": read})
        assert answer["MessageID"] == read
    await _post(server, alice, room, "@bob but not this one")
    text = _text(await _digest(inbox, bob))
    assert "not this one" in text
    assert "read this one" not in text


async def test_unread_direct_messages_are_mailed_each_once(server: Server, inbox: Inbox) -> None:
    alice, bob = await account(server, "alice"), await account(server, "bob")
    await _verified(server, inbox, bob)
    room = await _dm(server, alice, bob)
    for number in range(7):
        await _post(server, alice, room, f"note {number}")
    await _digest(inbox, bob)
    await trio.sleep(3 * QUIET)  # passes enough for any the first digest left
    # The passes may split them in several digests: each message is in one, quoted or
    # counted.
    digests = [_text(mail) for mail in inbox.to(bob.email)[1:]]
    quoted = [text.count(f"> note {number}\n") for number in range(7) for text in digests]
    counted = sum(int(n) for text in digests for n in re.findall(r"and (\d+) more", text))
    assert max(quoted) == 1
    assert sum(quoted) + counted == 7


@pytest.mark.unit
def test_a_digest_quotes_five_messages_and_counts_the_rest() -> None:
    missed = [Missed("#garden", "alice", f"note {n}") for n in range(5)]
    mail = digest_mail("bob@example.com", "bob", missed, 7, None)
    assert mail.subject == "7 messages you missed"
    assert mail.text.count("alice in #garden:") == 5
    assert "… and 2 more messages." in mail.text


@pytest.mark.unit
def test_a_digest_cuts_a_long_message() -> None:
    mail = digest_mail("bob@example.com", "bob", [Missed("#garden", "alice", "x" * 500)], 1, None)
    assert "> " + "x" * DIGEST_QUOTE_CHARS + "…\n" in mail.text


async def test_a_user_who_turned_digests_off_gets_none(server: Server, inbox: Inbox) -> None:
    alice, bob, carol = [await account(server, name) for name in ("alice", "bob", "carol")]
    for who in (bob, carol):
        await _verified(server, inbox, who)
    async with http_client(server) as client:
        off = await client.put("/me/email/digest", headers=bob.auth, json={"Digest": False})
    assert off.json()["Digest"] is False
    room = await create_room(server, alice, "garden", bob, carol)
    await _post(server, alice, room, "@bob @carol tea?")
    await _digest(inbox, carol)
    # Carol's came after a pass that saw Bob's message too; two more passes for Bob's.
    await trio.sleep(QUIET)
    assert len(inbox.to(bob.email)) == 1


@pytest.fixture
async def postgres_url() -> AsyncIterator[str]:
    async with throwaway_postgres_schema() as url:
        yield url


async def test_two_instances_mail_a_message_in_one_digest_only(
    tmp_path: Path, postgres_url: str, inbox: Inbox
) -> None:
    async with open_cluster(
        tmp_path, postgres_url, 2, smtp_url=inbox.url, email_digest_seconds=QUIET
    ) as (a, b):
        alice, bob = await account(a.server, "alice"), await account(a.server, "bob")
        await _verified(b.server, inbox, bob)
        room = await create_room(a.server, alice, "garden", bob)
        for number in range(3):
            await _post(a.server if number % 2 else b.server, alice, room, f"@bob {number}")
            await trio.sleep(QUIET / 2)
        await _digest(inbox, bob)
        # Several passes of both instances later, every message is in exactly one digest.
        await trio.sleep(3 * QUIET)
        quoted = "".join(_text(mail) for mail in inbox.to(bob.email)[1:])
        assert [quoted.count(f"> @bob {number}\n") for number in range(3)] == [1, 1, 1]


async def test_a_reset_on_one_instance_closes_the_users_sockets_on_the_other(
    tmp_path: Path, postgres_url: str, inbox: Inbox
) -> None:
    async with open_cluster(tmp_path, postgres_url, 2, smtp_url=inbox.url) as (a, b):
        alice = await account(a.server, "alice")
        await _verified(a.server, inbox, alice)
        async with open_clients(b.server) as on_b:
            alice_on_b = await on_b.json("/ws", token=alice.token)
            async with http_client(a.server) as client:
                asked = await client.post("/password-reset", json={"Email": alice.email})
                assert asked.status_code == 202
                token = link_token(await inbox.next_mail(alice.email, seen=1), "reset-password")
                reset = await client.post(
                    f"/password-reset/{token}", json={"Password": "brand-new-pw"}
                )
                assert reset.status_code == 200, reset.text
            _, code, reason = await closed(alice_on_b.ws, within=2.0)
            assert (code, reason) == (1008, "token has been revoked")
