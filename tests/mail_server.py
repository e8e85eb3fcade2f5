"""A real SMTP server for the tests (aiosmtpd on loopback, tests/smtp_child.py): it keeps
every mail it receives, for a test to read."""

from __future__ import annotations

import email
import re
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email.message import Message
from pathlib import Path

import trio


@dataclass
class Inbox:
    """The mails the server received (files in `directory`), and where it listens."""

    directory: Path
    url: str = ""

    @property
    def mails(self) -> list[Message]:
        return [
            email.message_from_bytes(path.read_bytes())
            for path in sorted(self.directory.glob("*.eml"))
        ]

    async def next_mail(self, to: str, *, seen: int = 0) -> Message:
        """The first mail to `to` after the first `seen` of them, waited for (10 s)."""
        with trio.fail_after(10):
            while True:
                theirs = self.to(to)
                if len(theirs) > seen:
                    return theirs[seen]
                await trio.sleep(0.02)

    def to(self, address: str) -> list[Message]:
        return [mail for mail in self.mails if mail["To"] == address]


def link_token(mail: Message, page: str) -> str:
    """The token of the link to `page` (``verify-email``, ``reset-password``) in `mail`."""
    body = mail.get_payload(decode=True)
    assert isinstance(body, bytes)
    found = re.search(rf"#{page}=([A-Za-z0-9_-]+)", body.decode())
    assert found is not None, body
    return found.group(1)


def link_url(mail: Message) -> str:
    body = mail.get_payload(decode=True)
    assert isinstance(body, bytes)
    found = re.search(r"(http://\S+)", body.decode())
    assert found is not None, body
    return found.group(1)


@contextmanager
def smtp_server(tls: tuple[Path, Path] | None = None) -> Iterator[Inbox]:
    """A running SMTP server on loopback (a child process); stopped at the end. With
    `tls` (a certificate and its key) it requires STARTTLS."""
    with tempfile.TemporaryDirectory() as directory:
        script = str(Path(__file__).with_name("smtp_child.py"))
        child = subprocess.Popen(
            [sys.executable, script, directory, *(str(path) for path in tls or ())],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert child.stdout is not None
            port = int(child.stdout.readline())
            yield Inbox(Path(directory), f"smtp://127.0.0.1:{port}")
        finally:
            child.terminate()
            child.wait(10)
            if child.stdout is not None:
                child.stdout.close()
