"""The server's VAPID key (RFC 8292): how push services know that pushes come from the
server the browser subscribed with.

A browser subscribes with the server's public key (``GET /push/key``, the
``applicationServerKey`` of ``PushManager.subscribe``), and its push service then accepts
only pushes signed with the matching private key. So every instance must sign with the
same key, for as long as the subscriptions live: the first instance to start makes one
and stores it in the database (`Push.vapid_private_key`: insert if none, then read back,
so instances starting together agree), unless `CHAT_VAPID_PRIVATE_KEY` gives one.

Keys are P-256 (ES256). A private key is written as base64url of its 32-byte scalar (what
this module stores), as base64url DER, or as PEM; py-vapid reads all three.
"""

from __future__ import annotations

import base64
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from py_vapid import Vapid02

from chat.core.vapid_key import load_private_key
from chat.store import Push

#: How long a signed token is valid (RFC 8292 allows at most 24 hours).
TOKEN_LIFETIME_S = 12 * 3600
#: A token is signed again once it has less than this left.
TOKEN_RENEW_S = 3600


def b64url(data: bytes) -> str:
    """base64url without padding, as Web Push writes keys."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """The bytes of base64url text (padding optional); ValueError if it is not that."""
    if any(ch not in _B64URL for ch in text):
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


_B64URL = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_=")


def generate_private_key() -> str:
    """A new private key, as base64url of its 32-byte scalar."""
    key = ec.generate_private_key(ec.SECP256R1())
    return b64url(key.private_numbers().private_value.to_bytes(32, "big"))


@dataclass
class VapidKey:
    """The key pair and the subject (`CHAT_VAPID_SUBJECT`) pushes are signed with."""

    vapid: Vapid02
    subject: str
    #: Signed tokens by audience (a push service's origin) with their expiry: signing
    #: is cheap, but a busy server pushes to few origins, so each is signed once an hour.
    _tokens: dict[str, tuple[str, float]] = field(default_factory=dict)

    @property
    def public_key(self) -> str:
        """The public key as browsers take it: base64url of the uncompressed point."""
        point = self.vapid.public_key.public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        return b64url(point)

    def authorization(self, endpoint: str) -> str:
        """The ``Authorization`` header (``vapid t=..., k=...``) for a push to `endpoint`:
        a JWT whose audience is the endpoint's origin."""
        parts = urlsplit(endpoint)
        audience = f"{parts.scheme}://{parts.netloc}"
        now = time.time()
        cached = self._tokens.get(audience)
        if cached is not None and cached[1] - now > TOKEN_RENEW_S:
            return cached[0]
        expires = int(now) + TOKEN_LIFETIME_S
        claims = {"aud": audience, "sub": self.subject, "exp": expires}
        header = str(self.vapid.sign(claims)["Authorization"])
        if len(self._tokens) > 64:
            self._tokens.clear()
        self._tokens[audience] = (header, expires)
        return header


async def load_vapid_key(store: Push, configured: str | None, subject: str) -> VapidKey:
    """The key every instance signs with: `configured` (`CHAT_VAPID_PRIVATE_KEY`), else
    the one stored in the database, made by whichever instance started first."""
    text = configured
    if text is None:
        text = await store.vapid_private_key(generate_private_key())
    return VapidKey(load_private_key(text), subject)
