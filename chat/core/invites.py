"""Who may register, and invite links: the registration policy in force, what an invite
is, the form of its code, and the bounds of every field a client sizes.

A code reads ``chat_inv_<InviteID>_<secret>``: the id finds its row, the secret (32
random bytes, URL-safe base64) proves it. Only the secret's SHA-256 is stored (256
random bits need no slow hash), compared in constant time, with personal access tokens'
functions (`secret_hash`, `secret_matches`, re-exported from `chat.core.api_tokens`).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from chat.core.api_tokens import secret_hash as secret_hash
from chat.core.api_tokens import secret_matches as secret_matches

#: The registration policies (``CHAT_REGISTRATION``): anyone may register; only with a
#: valid invite code; nobody (accounts come from operators' ``chat user add``).
REGISTRATION_MODES = ("open", "invite", "closed")
#: What every code starts with: a log scanner or a secret scanner can tell one.
PREFIX = "chat_inv_"
#: The most registrations one invite admits.
MAX_USES = 1000
#: How long an invite lasts when its creator says nothing, and at most (seconds).
DEFAULT_LIFETIME = 7 * 24 * 3600
MAX_LIFETIME = 90 * 24 * 3600
#: The most rooms one invite joins its users to.
MAX_ROOMS = 20
#: The most standing (neither spent nor expired) invites one user may hold.
MAX_STANDING_PER_USER = 100
#: The most invites one listing shows (an operator's: everyone's), the newest first.
MAX_LISTED = 500
#: The longest code worth looking at: anything longer is no code of ours.
MAX_CODE_CHARS = 100


@dataclass(frozen=True, slots=True)
class RegistrationPolicy:
    """Who may register (`mode`, one of `REGISTRATION_MODES`); which e-mail domains a
    registration without an invite must have an address at (empty: any, or none); and
    whether members, not only operators, may make invites."""

    mode: str = "open"
    email_domains: tuple[str, ...] = ()
    member_invites: bool = False

    def email_allowed(self, email: str | None) -> bool:
        """Whether `email` (already checked and lower-cased, or None) passes the
        allow-list: its domain, or a subdomain of one, is listed; with no list, yes."""
        if not self.email_domains:
            return True
        if email is None:
            return False
        domain = email.rpartition("@")[2].lower()
        return any(domain == d or domain.endswith(f".{d}") for d in self.email_domains)


@dataclass(frozen=True, slots=True)
class Invite:
    """An invite as stored, without its secret: who made it, how many registrations it
    admits and has admitted, the rooms it joins them to. Times are Unix seconds."""

    invite_id: str
    created_by: int
    uses: int
    used: int
    room_ids: tuple[int, ...]
    created_at: int
    expires_at: int
    secret_hash: str = ""
    #: The creator's name, as listings show it (filled in by the store's reads).
    created_by_name: str = ""

    def standing(self, now: float) -> bool:
        """Whether it still admits someone at `now`."""
        return self.used < self.uses and now < self.expires_at


def new_code() -> tuple[str, str, str]:
    """A new invite's id, its secret, and the code its creator is given once."""
    invite_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    return invite_id, secret, f"{PREFIX}{invite_id}_{secret}"


def parse(code: str) -> tuple[str, str] | None:
    """(invite id, secret) of a code of this form; None for anything else."""
    if len(code) > MAX_CODE_CHARS or not code.startswith(PREFIX):
        return None
    invite_id, _, secret = code[len(PREFIX) :].partition("_")
    if len(invite_id) != 16 or not secret:
        return None
    return invite_id, secret


def room_ids_text(room_ids: tuple[int, ...]) -> str:
    """How the rooms are stored: their ids, space-separated ("" for none)."""
    return " ".join(str(room_id) for room_id in room_ids)


def room_ids_of(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split())
