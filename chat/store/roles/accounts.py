"""The storage roles of accounts: users and their passwords and tokens, browser sessions,
second factors, personal access tokens, invite links, a user's data (export and erasure),
the browsers registered for Web Push, and statuses.

See `chat.store.roles` for what a role is and what every method promises."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any, Protocol

from chat.core.api_tokens import ApiToken
from chat.core.invites import Invite
from chat.core.moderation_records import AuditEntry
from chat.core.oidc import PendingLogin
from chat.core.records import (
    PushCandidate,
    PushSubscription,
    Room,
    StoredFile,
    User,
)
from chat.core.session_records import SessionRecord, TokenState
from chat.core.statuses import UserStatus
from chat.core.two_factor import TwoFactorState


class Accounts(Protocol):
    """Users: registration, names, passwords, operators, token versions, the addresses
    they log in from, and finding them by name. An erased account (`AccountData`) is
    found by none of these: its row only names the sender of its tombstones."""

    async def create_user(
        self,
        name: str,
        password_hash: str,
        *,
        email: str | None = None,
        is_admin: bool = False,
        audit: AuditEntry | None = None,
    ) -> User:
        """Insert a user, with its name's keys (`chat.store.accounts.NAME_KEYS`), and
        `audit` (its target the new user) in the same transaction. Raises
        `NameTaken` (the name, or one of its keys, is taken) or `EmailTaken`
        (chat.core.errors). The store takes any name: chat.core.names.new_user_name is the check."""

    async def user_by_name(self, name: str) -> User | None:
        """The user called exactly `name`."""

    async def user_like_name(self, name: str) -> User | None:
        """The user called exactly `name`, else the one whose name has `name`'s
        `name_key` (chat.core.names: the same name in another case, or in look-alike letters)."""

    async def user_by_id(self, user_id: int) -> User | None: ...

    async def users_by_ids(self, user_ids: Sequence[int]) -> dict[int, User]:
        """The users among `user_ids` that exist (not erased), by id, in one read: the
        point reads of many requests at once (`chat.app.reads.batched_point_reads`)."""

    async def user_by_email(self, email: str) -> User | None:
        """`email` must already be lower-case (validation.email does that)."""

    async def rename_user(self, user_id: int, name: str) -> User:
        """Change a user's name and its keys. Raises `NameTaken`, as `create_user`."""

    async def set_display_name(self, user_id: int, display_name: str | None) -> User:
        """Set (None: clear) the user's display name, with its keys
        (`chat.store.profiles`). Raises `DisplayNameTaken` if another user's login name
        or display name shares a key with it, `Gone` if the user is gone. The store takes
        any name: chat.core.names.display_name is the check."""

    async def display_name_holder(self, name: str, *, user_id: int | None) -> str | None:
        """The login name of a user other than `user_id` whose display name shares a key
        with `name` (a new login name must not pass for it), or None."""

    async def set_avatar(
        self, user_id: int, key: str | None, content_type: str | None
    ) -> tuple[User, str | None]:
        """Set (None: clear) the storage key and type of the user's avatar; the user as
        changed and the key it replaced (None: none). `Gone` if the user is gone."""

    async def erased_accounts(self) -> int:
        """How many accounts have been erased: a count that moves whenever one is (names
        change then), read every few seconds by `chat.app.history.from_memory`."""

    async def change_password(self, user_id: int, old_hash: str, new_hash: str) -> User | None:
        """Replace the user's password hash, if it still is `old_hash`, with `new_hash` and
        revoke every token issued so far (token_version + 1), in one statement. None when
        nothing changed: the hash is no longer `old_hash` (changed meanwhile by another
        request, which the caller's check of the old password did not see), or the user
        is gone."""

    async def revoke_tokens(self, user_id: int) -> int:
        """Revoke every token issued so far to the user (token_version + 1); returns the
        new version. Raises `Gone` if the user no longer exists."""

    async def token_states(self, user_ids: Collection[int]) -> dict[int, TokenState]:
        """The current token version of each of these users, and whether the account is
        active, in one query; users that no longer exist (or were erased) are absent."""

    # --- administration (`chat user`) ---

    async def users(self) -> list[User]:
        """Every user, oldest first (erased accounts left out)."""

    async def set_password(
        self, user_id: int, new_hash: str, *, audit: AuditEntry | None = None
    ) -> User | None:
        """Replace the user's password hash, whatever it was, and revoke every token
        issued so far (token_version + 1), in one statement, with `audit` (its target the
        user) in the same transaction. None if the user is gone (and no entry)."""

    async def set_admin(
        self, user_id: int, is_admin: bool, *, audit: AuditEntry | None = None
    ) -> User | None:
        """Make the user an operator, or not, with `audit` (its target the user) in the
        same transaction; None if the user is gone (and no entry)."""

    async def delete_user(self, user_id: int) -> bool:
        """Delete the user as `chat.store.accounts` says, all or nothing;
        False if there was no such user. Running servers notice at their next revocation
        sweep."""

    # --- login addresses (chat/store/login_addresses.py) ---

    async def remember_login_address(self, user_id: int, address: str) -> None:
        """`user_id` has just logged in from `address`: keep it among their newest
        addresses (an address over `MAX_ADDRESS_CHARS` is not kept)."""

    async def is_login_address(self, user_id: int, address: str) -> bool:
        """Whether `user_id` has logged in from `address` (one of the newest kept)."""

    # --- finding people ---

    async def users_by_prefix(
        self, key_prefix: str, *, caller_id: int, limit: int
    ) -> list[tuple[int, str]]:
        """(id, name) of up to `limit` users but the caller whose `name_key` starts with
        `key_prefix` (taken literally), by name."""


class Sessions(Protocol):
    """Browser sessions (`chat.app.accounts.sessions` decides; chat/store/sessions.py).
    Times are Unix seconds; secrets are stored as their SHA-256, in hex."""

    async def create_session(self, session: SessionRecord) -> None:
        """Store a new session (generation 0, never rotated, not revoked), dropping every
        session that ended long ago. Raises `Gone` if the user no longer exists."""

    async def session(self, session_id: str) -> SessionRecord | None: ...

    async def rotate_session(
        self, session_id: str, old_hash: str, new_hash: str, *, now: int, expires_at: int
    ) -> bool:
        """Replace the session's secret with `new_hash`, keeping the current one as the
        previous one, if the current one is still `old_hash` and the session is not
        revoked (compare-and-swap); False if not."""

    async def revoke_session(self, session_id: str, *, now: int) -> None:
        """End the session (if it has not ended): revoked, and expiring now."""

    async def revoke_user_sessions(self, user_id: int, *, now: int) -> None:
        """End every session of the user's."""

    async def user_sessions(
        self, user_id: int, *, now: int, token_version: int, limit: int
    ) -> list[SessionRecord]:
        """The user's sessions that have not ended at `now` (nor with an older token
        version than `token_version`), most recently used first, at most `limit`."""

    async def ended_sessions(self, session_ids: Collection[str], *, now: int) -> set[str]:
        """Which of `session_ids` have ended by `now` (revoked, expired, or gone), in one
        query: the revocation sweep's question (`chat.app.accounts.revocations`)."""

    async def revoke_own_session(self, session_id: str, user_id: int, *, now: int) -> bool:
        """End the session `session_id` if it is `user_id`'s and has not ended; whether
        it did (False: no such session of theirs, or it had ended)."""


class Bots(Protocol):
    """Bot accounts: users of kind ``bot`` made by a user (chat/store/bots.py)."""

    async def create_bot(
        self, name: str, password_hash: str, owner_id: int, *, most: int
    ) -> User | None:
        """A new bot of `owner_id`'s (None: they have `most` already); `NameTaken` as
        for any user."""

    async def bots(self, owner_id: int | None) -> list[User]:
        """The bots of `owner_id` (None: everyone's) that are not deleted, oldest first."""

    async def delete_bot(self, bot_id: int) -> bool:
        """Delete the bot: erased (its row and messages stay), its tokens and memberships
        gone. Whether there was such a bot."""


class ApiTokens(Protocol):
    """Personal access tokens (`chat.app.accounts.api_tokens` decides;
    chat/store/api_tokens.py). Times are Unix seconds; secrets stored as their SHA-256."""

    async def add_api_token(self, token: ApiToken, *, most: int) -> bool:
        """Store a new token, unless its user holds `most` already (False)."""

    async def api_token(self, token_id: str) -> ApiToken | None: ...

    async def api_tokens_of(self, user_ids: Collection[int]) -> list[ApiToken]:
        """The users' tokens, the newest first (expired ones too)."""

    async def delete_api_token(self, token_id: str, user_ids: Collection[int]) -> int | None:
        """Revoke the token if it is one of `user_ids`': whose it was (None: none such)."""

    async def standing_api_tokens(self, token_ids: Collection[str], *, now: int) -> set[str]:
        """Which of `token_ids` are neither revoked nor expired at `now`, in one query: the
        revocation sweep's question (`chat.app.accounts.revocations`)."""


class TwoFactor(Protocol):
    """A user's second factor (`chat.app.accounts.two_factor` decides;
    chat/store/two_factor.py): a TOTP secret, pending until confirmed, the last
    time-step a code was accepted at, and recovery codes stored as their SHA-256. Times
    are Unix seconds."""

    async def two_factor(self, user_id: int) -> TwoFactorState | None:
        """The user's second factor, pending or in force; None if they have none."""

    async def start_two_factor(self, user_id: int, secret: str, *, now: int) -> bool:
        """Store `secret` as the user's pending one (replacing a pending one); False if
        their second factor is in force already."""

    async def enable_two_factor(
        self,
        user_id: int,
        secret: str,
        *,
        now: int,
        step: int,
        code_hashes: Sequence[str],
        audit: AuditEntry,
    ) -> bool:
        """Put the pending `secret` in force with `step` as the last one used, replacing
        the recovery codes, with `audit`, in one transaction; False if `secret` is no
        longer the user's pending one."""

    async def use_totp_step(self, user_id: int, step: int) -> bool:
        """Take `step` as the last one used if it is later than the last one: whether it
        was (one statement, so an instance racing another with the same code loses)."""

    async def use_recovery_code(self, user_id: int, code_hash: str) -> bool:
        """Delete the recovery code with `code_hash`: whether there was one."""

    async def disable_two_factor(self, user_id: int, audit: AuditEntry) -> bool:
        """Remove the user's second factor in force and its recovery codes, with `audit`;
        False if none was in force."""


class Invites(Protocol):
    """Invite links (`chat.app.accounts.invites` decides; chat/store/invites.py). Times
    are Unix seconds; secrets stored as their SHA-256."""

    async def add_invite(self, invite: Invite, audit: AuditEntry, *, most: int, now: int) -> bool:
        """Store a new invite with `audit`, after dropping its creator's spent and expired
        ones, unless they hold `most` others still (False)."""

    async def invite(self, invite_id: str) -> Invite | None: ...

    async def invites(self, created_by: int | None, *, limit: int) -> list[Invite]:
        """The invites of `created_by` (None: everyone's), the newest first, at most `limit`."""

    async def delete_invite(
        self, invite_id: str, created_by: int | None, audit: AuditEntry
    ) -> Invite | None:
        """Delete the invite (if `created_by` is not None, only one of theirs) with
        `audit`: the invite deleted, None if there was none such."""

    async def register_with_invite(
        self, invite_id: str, name: str, password_hash: str, *, email: str | None, now: int
    ) -> tuple[User, Invite] | None:
        """Create a user (not an operator) while taking one use of the invite, in one
        transaction: the user and the invite's creator and rooms, or None (nothing
        written) if the invite has no use left or has expired at `now`. `NameTaken` and
        `EmailTaken` as `Accounts.create_user`."""


class OidcLinks(Protocol):
    """Single sign-on (`chat.app.accounts.oidc` decides; chat/store/oidc.py): sign-ins
    begun, taken back once by their callback, and the accounts providers' subjects are
    linked to. Times are Unix seconds."""

    async def begin_oidc_login(self, login: PendingLogin, *, now: int) -> None:
        """Keep `login` (and forget those expired at `now`)."""

    async def take_oidc_login(self, state_hash: str) -> PendingLogin | None:
        """The sign-in of that state, deleted as it is read (None: none, or taken)."""

    async def oidc_user(self, issuer: str, subject: str) -> User | None:
        """The account `issuer`'s `subject` is linked to, if any."""

    async def link_oidc(self, issuer: str, subject: str, user_id: int, *, now: int) -> None:
        """Link them; `UniqueViolation` if that subject is linked already."""


class AccountData(Protocol):
    """A user's data (`chat.app.accounts.data`): read a page at a time for an export, and
    erased (their messages through `Changes`, the rest in `erase_account`); the names
    erased accounts left, held for a while."""

    async def name_held_until(self, name_key: str, look_key: str) -> datetime | None:
        """Until when a name with either key is held (an erased account's), or None."""
        ...

    async def is_erased(self, user_id: int) -> bool:
        """Whether user `user_id` is an erased account (False: never existed, or lives)."""
        ...

    async def export_messages(
        self, user_id: int, *, after: int, limit: int
    ) -> list[dict[str, Any]]:
        """The user's messages with ids above `after`, oldest first, each with its room,
        its edits and its files' ids, as the export writes them."""
        ...

    async def export_reactions(
        self, user_id: int, *, after: tuple[int, str], limit: int
    ) -> list[dict[str, Any]]:
        """The user's reactions after (message id, emoji), in that order."""
        ...

    async def export_read_markers(
        self, user_id: int, *, after: int, limit: int
    ) -> list[dict[str, Any]]:
        """The user's read markers of rooms with ids above `after`."""
        ...

    async def export_files(self, user_id: int, *, after: str, limit: int) -> list[StoredFile]:
        """The user's files' records with FileIDs above `after`."""
        ...

    async def unerased_messages(
        self, user_id: int, *, after: int, limit: int
    ) -> list[tuple[int, int]]:
        """(message id, room id) of the user's messages above `after` that are not
        tombstones."""
        ...

    async def unerased_reactions(
        self, user_id: int, *, after: tuple[int, str], limit: int
    ) -> list[tuple[int, int, str]]:
        """(message id, room id, emoji) of the user's reactions after (id, emoji)."""
        ...

    async def erase_account(
        self,
        user_id: int,
        *,
        name_key: str,
        look_key: str,
        held_until: datetime,
        password_hash: str,
        audit: AuditEntry | None = None,
    ) -> list[StoredFile] | None:
        """The rest of an erasure, in one transaction (`chat.store.account_data`), with
        `audit` if given: returns the records of the user's files it removed (their bytes
        are the caller's to remove), or None if there is no such user or it was erased
        already (and no entry)."""
        ...


class Push(Protocol):
    """Web Push (chat/push/): the browsers that asked for it, the server's VAPID key,
    and which instance pushes each message."""

    async def vapid_private_key(self, generated: str) -> str:
        """The cluster's VAPID private key: `generated` if none was stored yet (it is
        then stored), else the one stored first. Safe when instances race."""

    async def add_push_subscription(
        self, user_id: int, endpoint: str, p256dh: str, auth: str, *, limit: int
    ) -> None:
        """Register a browser for `user_id` (an endpoint already registered, by anyone,
        is replaced); past `limit` subscriptions the user's oldest are removed."""

    async def remove_push_subscription(self, user_id: int, endpoint: str) -> bool:
        """Remove one of the user's subscriptions; False if they had none there."""

    async def remove_gone_push_subscription(self, subscription: PushSubscription) -> bool:
        """Remove a subscription its push service no longer knows, unless it was
        registered again meanwhile (other keys). True if removed."""

    async def any_push_subscription(self) -> bool:
        """Whether anybody has a subscription at all."""

    async def push_candidates(
        self, room: Room, *, default_level: str, mentioned: bool
    ) -> list[PushCandidate]:
        """The subscriptions of everyone who may read `room` and whose level there
        (`default_level` unless set) is "all", or "mentions" when `mentioned` (a message
        mentions someone); with each one's level."""

    async def claim_pushes(self, message_ids: Sequence[int]) -> set[int]:
        """Take messages on to push: those of `message_ids` this caller claimed first
        (of every instance's callers)."""

    async def prune_push_claims(self, before: datetime) -> None:
        """Forget claims made before `before`."""


class Statuses(Protocol):
    """Users' statuses (chat/core/statuses.py): set, cleared, read while in force, and
    swept when their time has passed. `now` is the server's clock."""

    async def set_status(self, user_id: int, status: UserStatus) -> bool:
        """Set (or replace) the user's status; False if the account is gone."""

    async def clear_status(self, user_id: int) -> bool:
        """Clear the user's status; False if they had none."""

    async def status_of(self, user_id: int, now: datetime) -> UserStatus | None:
        """The user's status in force at `now` (None: none, or it has ended)."""

    async def statuses_in_force(self, now: datetime) -> dict[int, UserStatus]:
        """Every status in force at `now`, by user id."""

    async def clear_expired(self, now: datetime) -> list[int]:
        """Remove the statuses whose time has passed at `now`: whose they were (each
        once, to the one caller that removed it)."""
