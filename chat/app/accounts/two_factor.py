"""Two-factor authentication: enrolling a TOTP authenticator (``POST /me/2fa``, then
``POST /me/2fa/confirm`` with a first code), turning it off (``DELETE /me/2fa``), and the
second factor's verdict on a login (`TwoFactorService.verify`, asked by
`chat.app.accounts.operations` after the password proved right, on every route).

A TOTP code is accepted once: its time-step must be later than the last one accepted,
and the store moves that mark in one conditional statement (`TwoFactor.use_totp_step`),
so the same code shown to two instances at once lets one login through. A recovery code
is deleted as it is used, likewise once. Wrong codes are counted as failed logins by the
caller (`chat.app.limits.rate_limits`), as wrong passwords are.

With ``CHAT_REQUIRE_2FA`` on, a person without a second factor in force may log in, but
their token or session serves only the two-factor routes, their profile and logging out
(`require_enrolled`, asked by `ChatService.identify` and the browser sessions): they
enrol first. Bots never log in with a password and are exempt.
"""

from __future__ import annotations

import enum
import time

from chat.core import two_factor as totp
from chat.core.errors import Conflict, Forbidden, InvalidCredentials, NotFound
from chat.core.moderation_records import AuditEntry
from chat.core.records import Identity, User
from chat.core.two_factor import TwoFactorState
from chat.store import TwoFactor

#: The 403 of a person without a second factor on a server that requires one.
ENROL_FIRST = (
    "this server requires two-factor authentication: turn it on first"
    " (POST /me/2fa, then POST /me/2fa/confirm)"
)


#: Why `CodeNeeded` is raised: no code sent, or a wrong (or used) one.
CODE_MISSING = "a two-factor code is needed: send it as Code"
CODE_WRONG = "the two-factor code is wrong, or was used already"


class Verdict(enum.Enum):
    """What the second factor says of a login whose password was right."""

    NOT_ENROLLED = "not enrolled"  # no second factor in force: the password is enough
    ACCEPTED = "accepted"
    MISSING = "missing"  # in force, and no code was sent
    REFUSED = "refused"  # wrong, or used already: a failed attempt


class TwoFactorService:
    """Enrolment, the verdict on a login's code, and the server-wide requirement."""

    def __init__(self, store: TwoFactor, *, required: bool = False) -> None:
        self._store = store
        #: Whether every person must have a second factor (``CHAT_REQUIRE_2FA``).
        self.required = required

    async def state(self, user_id: int) -> TwoFactorState | None:
        return await self._store.two_factor(user_id)

    async def start(self, identity: Identity, user: User) -> tuple[str, str, str]:
        """Begin an enrolment: a new secret, pending until `confirm` (one begun before and
        never confirmed is replaced). Returns the secret, its ``otpauth://`` URI and that
        URI as a QR code (an SVG ``data:`` URI). `Conflict` if one is in force already."""
        _by_login(identity)
        secret = totp.new_secret()
        if not await self._store.start_two_factor(user.id, secret, now=int(time.time())):
            raise Conflict("two-factor authentication is on already: turn it off first")
        uri = totp.provisioning_uri(secret, user.name)
        return secret, uri, totp.qr_svg_data_uri(uri)

    async def confirm(self, identity: Identity, code: object) -> list[str]:
        """Put the pending secret in force, given a code it makes now; the new recovery
        codes, shown this once. `NotFound` for no enrolment begun, `Conflict` if it is in
        force already, `InvalidCredentials` for a wrong code."""
        _by_login(identity)
        checked = totp.checked_code(code)
        state = await self._store.two_factor(identity.user_id)
        if state is None:
            raise NotFound("no two-factor enrolment was begun: POST /me/2fa first")
        if state.enabled:
            raise Conflict("two-factor authentication is on already")
        step = totp.totp_step(state.secret, checked) if totp.is_totp_code(checked) else None
        if step is None:
            raise InvalidCredentials()
        codes = totp.new_recovery_codes()
        enabled = await self._store.enable_two_factor(
            identity.user_id,
            state.secret,
            now=int(time.time()),
            step=step,
            code_hashes=[totp.recovery_code_hash(code) for code in codes],
            audit=_entry(identity, "2fa-enable"),
        )
        if not enabled:
            raise Conflict("the enrolment changed meanwhile: begin again")
        return codes

    async def disable(self, identity: Identity) -> None:
        """Turn the caller's second factor off (the caller has checked their password and
        a code); `NotFound` if none was in force."""
        _by_login(identity)
        if not await self._store.disable_two_factor(
            identity.user_id, _entry(identity, "2fa-disable")
        ):
            raise NotFound("two-factor authentication is not on")

    async def verify(self, user_id: int, code: str | None) -> Verdict:
        """The second factor's verdict on a login of `user_id` whose password was right,
        with `code` (None: none sent), using the code up if it is accepted."""
        state = await self._store.two_factor(user_id)
        if state is None or not state.enabled:
            return Verdict.NOT_ENROLLED
        if code is None:
            return Verdict.MISSING
        if totp.is_totp_code(code):
            step = totp.totp_step(state.secret, code)
            if step is not None and await self._store.use_totp_step(user_id, step):
                return Verdict.ACCEPTED
            return Verdict.REFUSED
        if await self._store.use_recovery_code(user_id, totp.recovery_code_hash(code)):
            return Verdict.ACCEPTED
        return Verdict.REFUSED

    async def require_enrolled(self, user: User | None) -> None:
        """`Forbidden` for a person without a second factor in force, when the server
        requires one; nothing otherwise (nor for a bot, nor for an unknown user: the
        caller refuses those)."""
        if not self.required or user is None or user.kind != "person":
            return
        state = await self._store.two_factor(user.id)
        if state is None or not state.enabled:
            raise Forbidden(ENROL_FIRST)


def _by_login(identity: Identity) -> None:
    """A second factor is changed with a login, never with a personal access token."""
    if identity.token_id is not None:
        raise Forbidden("two-factor authentication is changed with a login, not with a token")


def _entry(identity: Identity, action: str) -> AuditEntry:
    return AuditEntry(
        room_id=None,
        action=action,
        actor_id=identity.user_id,
        actor_name=identity.name,
        target_id=identity.user_id,
        target_name=identity.name,
    )
