"""Registering browsers for Web Push (``POST`` and ``DELETE /push/subscriptions``), and
the server's public key they subscribe with (``GET /push/key``).

A subscription is what the browser's ``PushSubscription.toJSON()`` gives:
``{"endpoint", "keys": {"p256dh", "auth"}}``. Everything in it is checked before it is
stored: the endpoint against the allow-list (`chat.core.push_hosts`), p256dh must be a P-256
public key (65 bytes, uncompressed) and auth a 16-byte secret (RFC 8291), both base64url.
A user keeps at most `MAX_PER_USER` subscriptions (a browser each): registering one more
removes their oldest. An endpoint belongs to one browser, so registering one that another
account registered moves it (the browser's new user gets its pushes, the old one no
longer does).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives.asymmetric import ec

from chat.core.errors import InvalidInput
from chat.core.push_hosts import MAX_ENDPOINT_CHARS, PushHosts
from chat.push.vapid import VapidKey, b64url_decode
from chat.store import Push

if TYPE_CHECKING:
    from chat.app.people.pusher import Pusher
    from chat.core.records import Identity

#: Subscriptions (browsers) per user; past it, the oldest is replaced.
MAX_PER_USER = 10


@dataclass(frozen=True, slots=True)
class NewSubscription:
    endpoint: str
    p256dh: str
    auth: str


def _key(keys: Mapping[str, Any], name: str, size: int) -> str:
    value = keys.get(name)
    if not isinstance(value, str) or len(value) > 128:
        raise InvalidInput(f'field "keys.{name}" must be a base64url string')
    try:
        raw = b64url_decode(value)
    except ValueError:
        raise InvalidInput(f'field "keys.{name}" must be a base64url string') from None
    if len(raw) != size:
        raise InvalidInput(f'field "keys.{name}" must be {size} bytes (base64url)')
    return value


def subscription(body: Mapping[str, Any], hosts: PushHosts) -> NewSubscription:
    """A subscription as a browser sends it, checked; `InvalidInput` names what is wrong."""
    endpoint = hosts.check(body.get("endpoint"))
    keys = body.get("keys")
    if not isinstance(keys, Mapping):
        raise InvalidInput('field "keys" must be an object with "p256dh" and "auth"')
    p256dh = _key(keys, "p256dh", 65)
    try:
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b64url_decode(p256dh))
    except ValueError:
        raise InvalidInput('field "keys.p256dh" is not a P-256 public key') from None
    auth = _key(keys, "auth", 16)
    return NewSubscription(endpoint, p256dh, auth)


class PushSubscriptions:
    """The routes' side of Web Push: the public key, registering and removing browsers."""

    def __init__(self, store: Push, vapid: VapidKey, hosts: PushHosts, pusher: Pusher) -> None:
        self._store = store
        self._vapid = vapid
        self._hosts = hosts
        self._pusher = pusher

    @property
    def public_key(self) -> str:
        return self._vapid.public_key

    async def subscribe(self, identity: Identity, body: Mapping[str, Any]) -> NewSubscription:
        """Register the caller's browser (again, if it was: its keys are replaced)."""
        new = subscription(body, self._hosts)
        await self._store.add_push_subscription(
            identity.user_id, new.endpoint, new.p256dh, new.auth, limit=MAX_PER_USER
        )
        self._pusher.subscribed()
        return new

    async def unsubscribe(self, identity: Identity, body: Mapping[str, Any]) -> bool:
        """Remove one of the caller's browsers; False if it was not theirs (or gone)."""
        endpoint = body.get("endpoint")
        if not isinstance(endpoint, str) or not 0 < len(endpoint) <= MAX_ENDPOINT_CHARS:
            raise InvalidInput('field "endpoint" must be the URL the subscription was made with')
        return await self._store.remove_push_subscription(identity.user_id, endpoint)
