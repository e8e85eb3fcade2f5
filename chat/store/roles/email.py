"""The store's role for e-mail (`chat.app.email` decides; chat/store/email.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from chat.core.mail import Missed


class Email(Protocol):
    """Verified addresses, the digest switch and cursor, and the mailed links' tokens
    (kept as their SHA-256; one-time; expiring)."""

    async def email_state(self, user_id: int) -> tuple[str, str | None, bool, bool] | None:
        """The user's name, address, whether it is verified, and their digest switch."""

    async def user_by_verified_email(self, email: str) -> tuple[int, str] | None:
        """The active user whose verified address `email` is: their UID and name."""

    async def add_email_token(
        self,
        token_hash: str,
        user_id: int,
        purpose: str,
        email: str,
        *,
        created: datetime,
        expires: datetime,
    ) -> None:
        """Keep a link's token ("verify" or "reset"), replacing the user's earlier one."""

    async def take_email_token(
        self, token_hash: str, purpose: str, now: datetime
    ) -> tuple[int, str] | None:
        """Use a token once: whose it was and its address (None: unknown, used, expired)."""

    async def verify_email(self, user_id: int, email: str, now: datetime) -> bool:
        """Make `email` the user's verified address (`EmailTaken` if another holds it)."""

    async def set_email_digest(self, user_id: int, on: bool) -> bool: ...

    async def digest_readers(self, after: int, limit: int) -> list[tuple[int, str, str, int]]:
        """Users past UID `after` who get digests: UID, name, address, digested through."""

    async def newest_message_before(self, after: int, moment: datetime) -> int:
        """The newest message id past `after` written at `moment` or before (0: none)."""

    async def claim_digest(self, user_id: int, through: int, up_to: int) -> bool:
        """Move the user's digest cursor from `through` to `up_to`, unless another
        instance moved it first (False): one instance of a cluster mails each message."""

    async def missed_messages(
        self, user_id: int, through: int, up_to: int, most: int
    ) -> tuple[int, list[Missed]]:
        """How many unread mentions and direct messages in (through, up_to], and the
        first `most` of them."""
