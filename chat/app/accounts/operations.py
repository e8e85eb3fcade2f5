"""Accounts, for every adapter: registering, logging in (by name or by e-mail, under the
failed-login limits, with the second factor when the account has one on), tokens and who
they prove, passwords, names.

`AccountOperations` is a part of `ChatService` (a mixin, as the stores' concerns are):
the HTTP routes and the dialects call these through the one service, and the attributes
it reads are the service's own.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC
from typing import TYPE_CHECKING, Protocol

from chat.app.accounts.auth import LOCAL, Passwords, Tokens
from chat.app.accounts.invites import SPENT, InviteService
from chat.app.accounts.revocations import TOKEN_REVOKED, Revocations
from chat.app.accounts.two_factor import CODE_MISSING, CODE_WRONG, TwoFactorService, Verdict
from chat.app.limits.rate_limits import RateLimits
from chat.core import names, validation
from chat.core.api_tokens import PREFIX as API_TOKEN_PREFIX
from chat.core.errors import (
    ACCOUNT_DEACTIVATED,
    AccountDeactivated,
    CodeNeeded,
    Conflict,
    EmailTaken,
    Forbidden,
    InvalidCredentials,
    InvalidToken,
    NameHeld,
    NotFound,
    Overloaded,
    Unavailable,
)
from chat.core.invites import Invite
from chat.core.records import Identity, User
from chat.store import AccountData, Accounts, Invites

if TYPE_CHECKING:
    from chat.app.history.from_memory import HistoryFromMemory
    from chat.app.reads.batched_point_reads import PointReads

log = logging.getLogger(__name__)

#: The 403's error for a password login or a registration when only single sign-on is on.
SSO_ONLY = (
    "this server signs people in through single sign-on only: passwords and"
    ' registrations are off (use a "Sign in with ..." button)'
)


class TokenIdentifier(Protocol):
    """Who a personal access token proves (`chat.app.accounts.api_tokens`)."""

    async def identify(self, token: str) -> Identity: ...


class AccountStore(Accounts, AccountData, Invites, Protocol):
    """What accounts need of the store: users, the names erased accounts hold, and the
    invites a registration takes a use of."""


async def require_name_free(store: AccountStore, name: str, *, user_id: int | None = None) -> None:
    """Raise `NameHeld` if an erased account released `name` (or a name too like it)
    less than `chat.app.accounts.data`'s 30 days ago: a new account or a rename must not
    take it over at once (the erased one's contacts would take it for them). Raise
    `Conflict` if it is, or looks like, the display name of a user other than
    `user_id` (the one renamed): a login name must not pass for someone's display name."""
    until = await store.name_held_until(names.name_key(name), names.look_key(name))
    if until is not None:
        raise NameHeld(name, f"{until.astimezone(UTC):%Y-%m-%d %H:%M} UTC")
    holder = await store.display_name_holder(name, user_id=user_id)
    if holder is not None:
        raise Conflict(f"user name {name!r} is taken: it looks like {holder!r}'s display name")


def _account(user: User | None, unknown: str) -> str:
    """The key failed logins are counted under: the user's id, whichever way the login
    named the account (by name or by e-mail), else what it asked for (`unknown`)."""
    return f"user:{user.id}" if user is not None else unknown


class AccountOperations:
    """Registering, logging in, tokens, passwords and names (part of `ChatService`)."""

    store: AccountStore
    passwords: Passwords
    tokens: Tokens
    rate_limits: RateLimits
    revocations: Revocations
    history_cache: HistoryFromMemory
    point_reads: PointReads
    api_tokens: TokenIdentifier
    two_factor: TwoFactorService
    invites: InviteService
    #: Only single sign-on signs people in (`CHAT_SSO_ONLY`): no password logins, and
    #: no registrations but those of a first sign-in (`chat.app.accounts.oidc`).
    sso_only: bool

    async def register(
        self,
        name: str,
        password: str,
        *,
        email: str | None = None,
        is_admin: bool = False,
        address: str | None = None,
        invite: str | None = None,
        single_sign_on: bool = False,
    ) -> User:
        """Create an account. Raises `InvalidInput`, `NameTaken` or `EmailTaken`, and
        `RateLimited` past the registrations allowed from the client's `address` (None:
        an administrator's command, not limited), `NameHeld` for a name an erased
        account released less than 30 days ago; `Forbidden` when only single sign-on
        is on, unless this is the first sign-in of someone it vouched for
        (`single_sign_on`: every other check applies to it all the same).

        Every registration route comes here, so every one obeys the registration policy
        (`chat.app.accounts.invites`): `Forbidden` when it is closed, when it asks for an
        invite code and `invite` is none, for a code that is not valid or has no use
        left, and for an e-mail address outside the allowed domains (without a code). A
        code's use is taken with the user's insert, in one transaction; its rooms are
        joined after.

        The name is stored as `chat.core.names` normalises it; it is taken if it shares a key
        with any user's name (the same name in another case, or in look-alike letters).
        """
        if self.sso_only and address is not None and not single_sign_on:
            raise Forbidden(SSO_ONLY)
        if address is not None:
            self.rate_limits.hit(self.rate_limits.register, address)
        # Before the name is judged: a refused registration learns nothing about which
        # names are free, and costs no bcrypt.
        admitted = await self.invites.admission(invite)
        name = names.new_user_name(name)
        validation.new_password(password)
        await require_name_free(self.store, name)
        if email is not None:
            email = validation.email(email)
        if admitted is None:
            self.invites.require_email_domain(email)
        # Checked first so that when both are taken the answer names the e-mail
        # (spec 003); the unique index still decides races.
        if email is not None and await self.store.user_by_email(email) is not None:
            raise EmailTaken()
        password_hash = await self.passwords.hash(password, address=address or LOCAL)
        return await self.create_admitted(
            name, password_hash, email=email, admitted=admitted, is_admin=is_admin
        )

    async def create_admitted(
        self,
        name: str,
        password_hash: str,
        *,
        email: str | None,
        admitted: Invite | None,
        is_admin: bool = False,
    ) -> User:
        """Create an account the registration policy admitted (`InviteService.admission`,
        and `require_email_domain` without an invite), its name and e-mail checked:
        with `admitted`, taking one of the invite's uses in the same transaction
        (`Forbidden` if its last went to another registration meanwhile), then joining
        its rooms. `register`'s last step, and that of any other way in (single sign-on)."""
        if admitted is None:
            return await self.store.create_user(name, password_hash, email=email, is_admin=is_admin)
        made = await self.store.register_with_invite(
            admitted.invite_id, name, password_hash, email=email, now=int(time.time())
        )
        if made is None:
            raise Forbidden(SPENT)
        user, taken = made
        await self.invites.join_rooms(user, taken)
        return user

    async def login(
        self, name: str, password: str, *, address: str, code: str | None = None
    ) -> User:
        """The user these credentials belong to, or `InvalidCredentials`; `RateLimited`
        when the client at `address` tried too often (`chat.app.limits.rate_limits`);
        `CodeNeeded` when the account has two-factor authentication on and `code` (a TOTP
        or a recovery code) is missing, wrong or used already (a wrong one is a failure).

        The user called exactly `name`, else the one whose name has its `name_key` (so
        `Alice` logs in as `alice`). Only stored names are compared, so names and
        passwords set before the current rules still log in. Unknown names cost the same
        bcrypt check as wrong passwords (`Passwords.check`). `Forbidden` when only single
        sign-on is on.
        """
        if self.sso_only:
            raise Forbidden(SSO_ONLY)
        names.login_name(name)
        validation.password(password)
        asked_for = f"name:{names.name_key(name)}"
        self.rate_limits.before_login(address, asked_for)
        user = await self.store.user_like_name(name)
        account = _account(user, asked_for)
        return await self._check_password(user, password, account, address, code=code)

    async def login_by_email(
        self, email: str, password: str, *, address: str, code: str | None = None
    ) -> User:
        """Like `login`, with the account's e-mail address (case-insensitive)."""
        if self.sso_only:
            raise Forbidden(SSO_ONLY)
        email = validation.email(email)
        validation.password(password)
        self.rate_limits.before_login(address, f"email:{email}")
        user = await self.store.user_by_email(email)
        account = _account(user, f"email:{email}")
        return await self._check_password(user, password, account, address, code=code)

    async def _check_password(
        self, user: User | None, password: str, account: str, address: str, *, code: str | None
    ) -> User:
        """Check `password` against `user`'s (or a dummy, for no user), and then their
        second factor with `code` if they have one on, under the failed login limits of
        `account` at `address`; remember `address` as the owner's on success. A bot never
        logs in with a password: checked as no user.

        A right password without a code is not a failure (the client asks for the code
        next, `CodeNeeded`); a wrong code is one, as a wrong password is."""
        if user is not None and user.kind == "bot":
            user = None
        limits = self.rate_limits
        if limits.under_attack(account) and not (
            user is not None and await self.store.is_login_address(user.id, address)
        ):
            limits.slow_down(account)
        # Counted as a failure from here until the password proves right, so guesses sent
        # at once are held to the limit; one cut short (its client left) stays counted.
        limits.reserve_failure(account, address)
        matched: bool | None = None
        verdict = Verdict.NOT_ENROLLED
        try:
            matched = await self.passwords.check(
                password, user.password_hash if user else None, address=address
            )
            if matched and user is not None:
                # Still inside the reservation: a wrong code settles as a failure.
                verdict = await self.two_factor.verify(user.id, code)
                matched = verdict is not Verdict.REFUSED
        except Overloaded:
            matched = True  # never checked, so not an attempt: as if it had succeeded
            raise
        finally:
            if matched:
                limits.login_succeeded(account, address)
            else:
                limits.login_failed(account, address)
        if verdict is Verdict.REFUSED:
            raise CodeNeeded(CODE_WRONG)
        if not matched:
            raise InvalidCredentials()
        if verdict is Verdict.MISSING:
            raise CodeNeeded(CODE_MISSING)
        assert user is not None
        if not user.active:
            raise AccountDeactivated()
        if limits.enabled:
            # Only slow mode asks for the owner's addresses, and only with limits on.
            await self._remember_login_address(user.id, address)
        return user

    async def _remember_login_address(self, user_id: int, address: str) -> None:
        try:
            await self.store.remember_login_address(user_id, address)
        except Unavailable:
            # The login itself succeeded; the owner is at worst slowed down once if
            # the account comes under attack before their next login.
            log.warning("could not remember a login address of user %d", user_id)

    def issue_token(self, user: User) -> str:
        """A token for `user`, valid until it expires or the user's tokens are revoked."""
        return self.tokens.issue(user.id, user.name, user.token_version)

    async def identify(self, token: str, *, enrolling: bool = False) -> Identity:
        """The identity a token proves, or `InvalidToken`. The user must still exist, and
        the token's version must be the user's current one (a password change or a
        logout-everywhere revokes the tokens issued before it); the name is the current
        one (tokens stay valid across renames). A personal access token is the
        `ApiTokenService`'s to judge. `Forbidden` for a person without a second factor
        when the server requires one, unless `enrolling` (the routes that turn it on)."""
        if token.startswith(API_TOKEN_PREFIX):
            identity = await self.api_tokens.identify(token)
            if self.two_factor.required and not enrolling:
                await self.require_enrolled(await self.point_reads.users.get(identity.user_id))
            return identity
        claims = self.tokens.verify(token)
        # Batched with the other requests' (`chat.app.reads.batched_point_reads`), read
        # after this call.
        user = await self.point_reads.users.get(claims.user_id)
        if user is None:
            raise InvalidToken("token names an unknown user")
        if not user.active:
            raise InvalidToken(ACCOUNT_DEACTIVATED)
        if claims.version != user.token_version:
            raise InvalidToken(TOKEN_REVOKED)
        if not enrolling:
            await self.require_enrolled(user)
        return Identity(user.id, user.name, user.is_admin, user.token_version, claims.session_id)

    async def require_enrolled(self, user: User | None) -> None:
        """`Forbidden` for a person without a second factor in force when the server
        requires one (`TwoFactorService.require_enrolled`)."""
        await self.two_factor.require_enrolled(user)

    async def change_password(
        self,
        identity: Identity,
        old_password: str,
        new_password: str,
        *,
        address: str,
        code: str | None = None,
    ) -> User:
        """Change the caller's password, given the old one (`InvalidCredentials` if it is
        wrong) and, if they have two-factor authentication on, a code (`CodeNeeded`), and
        revoke every token issued before: the caller's other sessions, on every instance,
        are closed. Returns the user as changed, for a new token.

        The old password is not held to today's rules for new ones: it only has to match.
        The new hash replaces the old one only if it is still the hash just checked, so
        two changes at once cannot both succeed with the same old password. Checking the
        old password is a login attempt, and rate-limited as one (`RateLimited`).
        """
        validation.new_password(new_password)
        # bcrypt refuses anything over its limit: such a password cannot be the old one.
        if len(old_password.encode("utf-8")) > validation.MAX_PASSWORD_BYTES:
            raise InvalidCredentials()
        self.rate_limits.before_login(address, f"user:{identity.user_id}")
        user = await self._check_password(
            await self.store.user_by_id(identity.user_id),
            old_password,
            f"user:{identity.user_id}",
            address,
            code=code,
        )
        new_hash = await self.passwords.hash(new_password, address=address)
        changed = await self.store.change_password(user.id, user.password_hash, new_hash)
        if changed is None:
            raise InvalidCredentials()  # changed meanwhile: the old password is not it now
        await self.revocations.revoked(user.id)
        return changed

    async def logout_everywhere(self, identity: Identity) -> None:
        """Revoke every token of the caller's, the one in use included: every session of
        theirs, on every instance, is closed."""
        await self.store.revoke_tokens(identity.user_id)
        await self.revocations.revoked(identity.user_id)

    async def session_ended(self, user_id: int, session_id: str) -> None:
        """One browser session of the user's was just ended (``DELETE /sessions/{id}``):
        the WebSockets it opened, on every instance, are closed."""
        await self.revocations.session_ended(user_id, session_id)

    async def user(self, user_id: int) -> User:
        user = await self.store.user_by_id(user_id)
        if user is None:
            raise NotFound(f"no user with UID {user_id}")
        return user

    async def rename(self, identity: Identity, new_name: str) -> User:
        """Change the caller's name. Old tokens keep working; messages show the new name
        from now on (names are joined in when messages are read, never copied)."""
        new_name = names.new_user_name(new_name, "new name")
        await require_name_free(self.store, new_name, user_id=identity.user_id)
        user = await self.store.rename_user(identity.user_id, new_name)
        # Names are in the windows of history kept in memory: they go, everywhere.
        await self.history_cache.names_changed()
        return user

    async def set_display_name(self, identity: Identity, display_name: str | None) -> User:
        """Set the caller's display name (None or "": none): checked as a user name is
        (`chat.core.names.display_name`), and refused if it is or looks like another
        user's name (`DisplayNameTaken`). Messages show it from now on, on every
        instance (names are joined in when messages are read; the windows of history
        kept in memory are dropped everywhere)."""
        checked = names.display_name(display_name)
        user = await self.store.set_display_name(identity.user_id, checked)
        await self.history_cache.names_changed()
        return user

    async def confirm_password(
        self, identity: Identity, password: str, *, address: str, code: str | None = None
    ) -> User:
        """The caller's account, if `password` is its password (`InvalidCredentials` if
        not) and `code` its second factor when it has one on (`CodeNeeded`): what an
        irreversible request (``DELETE /me``, ``DELETE /me/2fa``) asks for besides the
        token. Rate-limited as a login attempt (`RateLimited`)."""
        if len(password.encode("utf-8")) > validation.MAX_PASSWORD_BYTES:
            raise InvalidCredentials()
        self.rate_limits.before_login(address, f"user:{identity.user_id}")
        return await self._check_password(
            await self.store.user_by_id(identity.user_id),
            password,
            f"user:{identity.user_id}",
            address,
            code=code,
        )
