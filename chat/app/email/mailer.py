"""Sending mail through the SMTP server ``CHAT_SMTP_URL`` names, off the Trio thread.

`Mailer.send_nowait` queues a mail (a bounded queue: False when it is full, and the
caller says so); `Mailer.run`'s workers send them with the standard library's smtplib in
worker threads, at most `SENDERS` at once, each attempt under `ATTEMPT_TIMEOUT_S`. A
failed attempt is tried again after `RETRY_DELAYS_S`; a mail that fails every attempt is
logged once (a warning) and dropped: a mail server down never ends a task.

Resource handling: each worker holds a clone of the receiving end and closes it; the
queue is dropped with the process (nothing is stored). Without ``CHAT_SMTP_URL`` the
mailer is off: `enabled` is False and `run` only waits.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from urllib.parse import urlsplit

import trio

from chat.core.config import Config
from chat.core.mail import Mail, SmtpServer

log = logging.getLogger(__name__)

#: Mails waiting to be sent, at most (more: `send_nowait` answers False).
QUEUE = 256
#: Mails being sent at once (threads).
SENDERS = 2
#: Seconds one attempt (connect, STARTTLS, login, send) may take.
ATTEMPT_TIMEOUT_S = 15.0
#: Pauses before the second and third attempts.
RETRY_DELAYS_S = (2.0, 30.0)


def _send(server: SmtpServer, sender: str, mail: Mail) -> None:
    """Send one mail (blocking: in a worker thread)."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = mail.to
    message["Subject"] = mail.subject
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or None)
    message.set_content(mail.text)
    context = ssl.create_default_context()
    smtp: smtplib.SMTP
    if server.tls:
        smtp = smtplib.SMTP_SSL(
            server.host, server.port, timeout=ATTEMPT_TIMEOUT_S, context=context
        )
    else:
        smtp = smtplib.SMTP(server.host, server.port, timeout=ATTEMPT_TIMEOUT_S)
    with smtp:
        smtp.ehlo()
        if not server.tls and smtp.has_extn("starttls"):
            smtp.starttls(context=context)
            smtp.ehlo()
        if server.username is not None:
            smtp.login(server.username, server.password or "")
        smtp.send_message(message)


class Mailer:
    """The queue of mails to send and the workers that send them."""

    def __init__(
        self,
        smtp_url: str | None,
        sender: str,
        *,
        retry_delays: tuple[float, ...] = RETRY_DELAYS_S,
    ) -> None:
        self._retry_delays = retry_delays
        self.server = None if smtp_url is None else SmtpServer.parse(smtp_url)
        self.sender = sender
        self._send, self._receive = trio.open_memory_channel[Mail](QUEUE)
        self._threads = trio.CapacityLimiter(SENDERS)
        #: Mails sent, and mails given up on (after every attempt failed).
        self.sent = 0
        self.failed = 0

    @property
    def enabled(self) -> bool:
        return self.server is not None

    def send_nowait(self, mail: Mail) -> bool:
        """Queue `mail`; False when the mailer is off or its queue is full."""
        if self.server is None:
            return False
        try:
            self._send.send_nowait(mail)
        except trio.WouldBlock:
            log.warning("the mail queue is full: a mail to %s was not sent", mail.to)
            return False
        return True

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Send the queued mails. Runs until cancelled."""
        # Holds the `SENDERS` workers; ends only by cancellation (the send end is never
        # closed: the mailer lives as long as the server).
        async with trio.open_nursery() as workers, self._receive:
            for _ in range(SENDERS):
                workers.start_soon(self._worker, self._receive.clone())
            task_status.started()
            await trio.sleep_forever()

    async def _worker(self, receive: trio.MemoryReceiveChannel[Mail]) -> None:
        async with receive:
            async for mail in receive:
                await self._deliver(mail)

    async def _deliver(self, mail: Mail) -> None:
        assert self.server is not None
        server = self.server
        last: Exception | None = None
        for attempt in range(len(self._retry_delays) + 1):
            if attempt:
                await trio.sleep(self._retry_delays[attempt - 1])
            try:
                # A cancelled send abandons its thread, which ends by its socket timeout.
                await trio.to_thread.run_sync(
                    _send, server, self.sender, mail, limiter=self._threads, abandon_on_cancel=True
                )
            except (OSError, smtplib.SMTPException) as error:
                # One failure must not end the worker: try again, then give up and log once.
                last = error
                log.debug("sending a mail to %s failed (attempt %d): %s", mail.to, attempt, error)
                continue
            self.sent += 1
            return
        self.failed += 1
        log.warning("a mail to %s could not be sent: %s", mail.to, last)


def mail_sender(config: Config) -> str:
    """The From address: ``CHAT_SMTP_FROM``, else ``chat@`` the public URL's host."""
    if config.smtp_from is not None:
        return config.smtp_from
    host = urlsplit(config.public_url).hostname if config.public_url else None
    return f"chat@{host or 'localhost'}"
