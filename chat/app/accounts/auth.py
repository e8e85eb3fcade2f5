"""Passwords (bcrypt) and tokens (JWT, HS256).

bcrypt is deliberately slow (about 0.25 s at cost 12), so it never runs on the Trio
thread: every hash and check goes to a worker thread, at most `workers` at a time,
queued fairly by client address (`chat.app.limits.password_queue`). Unknown users are
checked against a dummy hash of the same cost, so the answer takes as long as for a real
user with a wrong password and response times do not reveal which names exist.

Tokens carry ``sub`` (the user id, as a string), ``name``, ``iat``, ``exp`` and ``ver``, the
user's token version when it was issued, and, when a browser session issued them, ``sid``
(its id: ending that session closes the WebSockets they opened). Verification accepts
HS256 only (``alg: none`` and every other algorithm are refused) and requires the first
four claims. ``ver`` is not required: tokens issued before it existed lack it, and count
as version 0. Whether a version is still current is the core's question
(`ChatService.identify`), since only the database knows: raising a user's version revokes
every token issued before.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import bcrypt
import jwt

from chat.app.limits.password_queue import PasswordQueue
from chat.core.errors import InvalidToken
from chat.store.private_paths import PRIVATE_FILE, make_private_directory

#: The address of work that is no client's (a command, the dummy hash).
LOCAL = "local"

_ALGORITHM = "HS256"
#: The header segment of every token `Tokens.issue` writes (PyJWT's, for HS256).
_OWN_HEADER = jwt.encode({}, "k" * 32, algorithm=_ALGORITHM).partition(".")[0]
#: The claims `Tokens.issue` writes: a token with any other is left to PyJWT.
_OWN_CLAIMS = frozenset({"sub", "name", "iat", "exp", "ver", "sid"})
SECRET_FILE_NAME = "jwt-secret"


class Passwords:
    """Hashes and checks passwords in worker threads.

    At most `workers` run at once; at most `queue` more wait for a thread, in a queue
    that is fair to every client address and puts existing accounts first
    (`chat.app.limits.password_queue`). A request past its share gets `Overloaded` (503) at once
    instead of waiting behind seconds of bcrypt: 50 concurrent logins once made an
    ordinary one take 11 s.
    """

    def __init__(self, cost: int, workers: int = 2, *, queue: int = 16) -> None:
        self._cost = cost
        self._queue = PasswordQueue(workers, queue)
        self._dummy_hash: bytes | None = None

    async def prepare(self) -> None:
        """Compute the dummy hash now, so the first unknown-user check is not slower."""
        if self._dummy_hash is None:
            self._dummy_hash = (await self.hash(secrets.token_hex(16))).encode("ascii")

    async def hash(self, password: str, *, address: str = LOCAL) -> str:
        """A new bcrypt hash of `password`, for a request from `address`."""

        def work() -> bytes:
            return bcrypt.hashpw(password.encode("utf-8"), bcrypt.gensalt(self._cost))

        hashed = await self._queue.run(work, address=address, known=True)
        return hashed.decode("ascii")

    async def check(
        self, password: str, password_hash: str | None, *, address: str = LOCAL
    ) -> bool:
        """True if `password` matches; with no hash (unknown user) spend the same time, then
        return False. `address` is the client's, for its share of the queue."""
        if password_hash is None:
            await self.prepare()
            assert self._dummy_hash is not None
            target = self._dummy_hash
        else:
            target = password_hash.encode("ascii")

        def work() -> bool:
            return bcrypt.checkpw(password.encode("utf-8"), target)

        known = password_hash is not None
        matched = await self._queue.run(work, address=address, known=known)
        return matched and known


@dataclass(frozen=True, slots=True)
class TokenClaims:
    user_id: int
    name: str
    issued_at: int
    expires_at: int
    #: The user's token version when the token was issued (0 for tokens without ``ver``).
    version: int
    #: The browser session that issued it (``sid``; None for tokens no session issued).
    session_id: str | None = None


class Tokens:
    """Issues and verifies signed tokens. Cheap enough to run on the Trio thread."""

    def __init__(self, secret: str, ttl_seconds: int) -> None:
        self._secret = secret
        self._key = secret.encode("utf-8")
        self._ttl = ttl_seconds

    def issue(
        self,
        user_id: int,
        name: str,
        version: int,
        *,
        ttl: int | None = None,
        session_id: str | None = None,
    ) -> str:
        """A token for the user, valid for `ttl` seconds (the configured lifetime unless
        given) while the user's token version stays `version`; `session_id` names the
        browser session that asked for it (the ``sid`` claim)."""
        now = int(time.time())
        claims: dict[str, object] = {
            "sub": str(user_id),
            "name": name,
            "iat": now,
            "exp": now + (self._ttl if ttl is None else ttl),
            "ver": version,
        }
        if session_id is not None:
            claims["sid"] = session_id
        return jwt.encode(claims, self._secret, algorithm=_ALGORITHM)

    def verify(self, token: str) -> TokenClaims:
        """The token's claims, or `InvalidToken` saying why it was refused."""
        claims = self.valid_own_claims(token)
        if claims is None:
            claims = self._decoded_by_pyjwt(token)
        sub, name, version = claims["sub"], claims["name"], claims.get("ver", 0)
        if not (isinstance(sub, str) and sub.isdigit() and isinstance(name, str)):
            raise InvalidToken("invalid token")
        if isinstance(version, bool) or not isinstance(version, int) or version < 0:
            raise InvalidToken("invalid token")
        session_id = claims.get("sid")
        if session_id is not None and not isinstance(session_id, str):
            raise InvalidToken("invalid token")
        issued, expires = int(claims["iat"]), int(claims["exp"])
        return TokenClaims(int(sub), name, issued, expires, version, session_id)

    def valid_own_claims(self, token: str) -> dict[str, Any] | None:
        """The claims of `token` if it is one `issue` wrote, intact and in force; None
        for any other, which `verify` leaves to PyJWT to accept or refuse with its reason.

        Every connection's handshake verifies a token, and PyJWT's checks of the key and of
        each segment's alphabet cost several times the HMAC. A token accepted here is one
        PyJWT accepts: the exact header written above (HS256, nothing critical), each
        segment in its one base64url spelling, the signature compared in constant time,
        only the claims `issue` writes, ``exp`` in the future and ``iat`` not."""
        header, _, rest = token.partition(".")
        payload, _, signature = rest.partition(".")
        if header != _OWN_HEADER:
            return None
        text, signed = _segment(payload), _segment(signature)
        if text is None or signed is None:
            return None
        # Both segments are base64url (ASCII) by now: the bytes PyJWT would sign.
        expected = hmac.new(self._key, f"{header}.{payload}".encode("ascii"), hashlib.sha256)
        if not hmac.compare_digest(expected.digest(), signed):
            return None
        try:
            claims = json.loads(text)
        except ValueError:
            return None
        if not isinstance(claims, dict) or not _OWN_CLAIMS.issuperset(claims):
            return None
        issued, expires = claims.get("iat"), claims.get("exp")
        if type(issued) is not int or type(expires) is not int or "sub" not in claims:
            return None
        if "name" not in claims or not issued <= time.time() < expires:
            return None
        return claims

    def _decoded_by_pyjwt(self, token: str) -> dict[str, Any]:
        """The claims PyJWT finds valid in `token`, or `InvalidToken` saying why not."""
        try:
            return jwt.decode(
                token,
                self._secret,
                algorithms=[_ALGORITHM],
                options={"require": ["sub", "name", "iat", "exp"]},
            )
        except jwt.ExpiredSignatureError:
            raise InvalidToken("token has expired") from None
        except jwt.InvalidTokenError:
            raise InvalidToken("invalid token") from None


def _segment(text: str) -> bytes | None:
    """A token segment's bytes if `text` is base64url in its one unpadded spelling (any
    other spelling of the same bytes, padding or stray characters, is not ours), else None."""
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, binascii.Error):
        return None
    if base64.urlsafe_b64encode(raw).rstrip(b"=") != text.encode("ascii"):
        return None
    return raw


def load_or_create_secret(data_dir: Path) -> str:
    """The signing key kept in ``data_dir/jwt-secret``, generated (mode 0600) on first use.

    Blocking file I/O: call it through `trio.to_thread.run_sync`.
    """
    path = data_dir / SECRET_FILE_NAME
    make_private_directory(data_dir)
    if not path.exists():
        # Write a complete file under a private name, then link it into place: the link
        # fails if another process got there first, and nobody ever reads a half-written
        # secret. Mode 0600 from the start, so it is never readable by others.
        temporary = data_dir / f".{SECRET_FILE_NAME}.{os.getpid()}.tmp"
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE)
        try:
            with os.fdopen(fd, "w", encoding="ascii") as file:
                file.write(secrets.token_urlsafe(48) + "\n")
            os.link(temporary, path)
        except FileExistsError:
            pass
        finally:
            temporary.unlink()
    secret = path.read_text(encoding="ascii").strip()
    if len(secret) < 32:
        raise ValueError(f"{path} holds a secret shorter than 32 characters")
    return secret


def bearer_token(authorization: str | None) -> str | None:
    """The token in an Authorization header value, raw or after "Bearer"; None if empty."""
    if authorization is None:
        return None
    value = authorization.strip()
    scheme, _, rest = value.partition(" ")
    if scheme.lower() == "bearer":
        value = rest.strip()
    return value or None
