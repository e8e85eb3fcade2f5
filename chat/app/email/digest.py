"""Digests: a mail of the mentions and direct messages a user left unread for
``CHAT_EMAIL_DIGEST_SECONDS``, to their verified address, unless they turned it off.

Each pass walks the users who get digests (a page at a time) and, for each, the messages
past their cursor (``users.digested_through``) written at least the quiet period ago.
It first claims them by moving the cursor with a compare-and-set (`Email.claim_digest`):
of several instances only the one whose update matched goes on, so each message is in at
most one digest in a cluster. Then it reads which of them are still unread mentions and
direct messages (past the user's read marker of the room, not their own, not deleted)
and queues a mail quoting the first few and counting the rest. A message read before its
quiet period ended is never mailed; one claimed is never mailed again, even if the mail
could not be sent (the mailer retries it, then logs it).

Error handling: a pass that fails (the database away) is logged through `TaskFailures`
and the next pass starts from the cursors, so nothing is lost or mailed twice.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import trio

from chat.app.email.accounts import MailQueue
from chat.core.mail import DIGEST_QUOTED, digest_mail
from chat.core.task_failures import TaskFailures
from chat.store import Email

log = logging.getLogger(__name__)

#: Users read per page of a pass.
PAGE = 200
#: The longest pause between two passes (seconds); a short quiet period checks oftener.
MOST_PERIOD_S = 60.0


class Digests:
    """The digest task of one instance."""

    def __init__(
        self,
        store: Email,
        mailer: MailQueue,
        *,
        quiet_seconds: int,
        public_url: str | None,
        failures: TaskFailures,
    ) -> None:
        self.store = store
        self.mailer = mailer
        self.quiet = quiet_seconds
        self.url = public_url
        self.period = min(MOST_PERIOD_S, max(quiet_seconds / 4, 0.2))
        self._failures = failures
        #: Digests queued by this instance.
        self.mailed = 0

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Mail digests every `period` seconds. Runs until cancelled."""
        task_status.started()
        if not self.mailer.enabled or self.quiet <= 0:
            await trio.sleep_forever()
        while True:
            # One failed pass must not end the task: the next starts from the cursors.
            with self._failures.contained("digests", "a pass of the e-mail digests"):
                await self.pass_once()
            await trio.sleep(self.period)

    async def pass_once(self) -> None:
        """Mail the digests due now."""
        cutoff = datetime.now(UTC) - timedelta(seconds=self.quiet)
        after = 0
        while readers := await self.store.digest_readers(after, PAGE):
            for user_id, name, email, through in readers:
                up_to = await self.store.newest_message_before(through, cutoff)
                if up_to <= through or not await self.store.claim_digest(user_id, through, up_to):
                    continue  # nothing new, or another instance took these
                count, missed = await self.store.missed_messages(
                    user_id, through, up_to, DIGEST_QUOTED
                )
                if count and self.mailer.send_nowait(
                    digest_mail(email, name, missed, count, self.url)
                ):
                    self.mailed += 1
            after = readers[-1][0]
