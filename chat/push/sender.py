"""Sending one push (RFC 8030) to one subscription: the payload encrypted for the
browser (RFC 8291, aes128gcm, with http-ece), signed for its push service (RFC 8292,
VAPID, with py-vapid), and POSTed with httpx, which runs on Trio (through anyio).

Redirects are never followed (a push service answers directly; a redirect could lead
anywhere), and the endpoint is checked against the allow-list again before sending, so a
subscription stored under an older, wider list is not pushed to.

Error handling: the push service's answer becomes an `Outcome`: sent (2xx), gone (404,
410: the browser unsubscribed, the subscription should be removed), retry (429, 5xx, a
network error or a timeout: try again later, after Retry-After if it said), or refused
(anything else: another try would be refused too). An endpoint the HTTP client cannot
send to at all (one stored before endpoints were read with its parser: a host that is no
valid IDNA name) is refused without a request and "gone" too: nothing will ever reach it.
"""

from __future__ import annotations

import functools
import logging
import os
import ssl
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Literal

import http_ece
import httpx
from cryptography.hazmat.primitives.asymmetric import ec

from chat.core.errors import InvalidInput
from chat.core.push_hosts import PushHosts, UnusableEndpoint
from chat.core.records import PushSubscription
from chat.push.vapid import VapidKey, b64url_decode

log = logging.getLogger(__name__)

#: How long a push service keeps a push for a browser that is offline (seconds).
TTL_S = 12 * 3600
#: The longest Retry-After honoured (seconds); a longer one counts as this.
MAX_RETRY_AFTER_S = 60.0


@dataclass(frozen=True, slots=True)
class Outcome:
    kind: Literal["sent", "gone", "retry", "refused"]
    status: int | None = None
    #: For "retry": seconds the push service asked to wait (Retry-After), if it did.
    retry_after: float | None = None


def encrypt(subscription: PushSubscription, payload: bytes) -> bytes:
    """`payload` encrypted for the subscription's browser (RFC 8291, aes128gcm): with a
    fresh ECDH key pair and salt for every push, as the RFC requires."""
    return bytes(
        http_ece.encrypt(
            payload,
            salt=os.urandom(16),
            private_key=ec.generate_private_key(ec.SECP256R1()),
            dh=b64url_decode(subscription.p256dh),
            auth_secret=b64url_decode(subscription.auth),
            version="aes128gcm",
        )
    )


def _retry_after(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            moment = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = moment.timestamp() - time.time()
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_S)


def _unusable(error: Exception) -> Outcome:
    """A push to an endpoint no request can be sent to: logged in a line (no
    traceback: nothing is wrong with the server), and "gone", so the pusher removes the
    subscription."""
    log.warning("removing a push subscription whose endpoint cannot be sent to: %s", error)
    return Outcome("gone")


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """The TLS settings pushes are sent with (the system's CA certificates), made once per
    process: loading the certificates costs tens of milliseconds, which every server
    started in a process (the tests start thousands) would otherwise pay again. A context
    is safe to share between clients."""
    return ssl.create_default_context()


class PushSender:
    """Sends pushes through one HTTP client (its connections are reused per push
    service), which the caller opens and closes (`open_client`)."""

    def __init__(self, vapid: VapidKey, hosts: PushHosts) -> None:
        self._vapid = vapid
        self._hosts = hosts

    @staticmethod
    def open_client(timeout: float) -> httpx.AsyncClient:
        """The client pushes go through: no redirects, no proxy settings from the
        environment, `timeout` for connecting and for each read and write."""
        return httpx.AsyncClient(
            verify=_tls_context(),
            follow_redirects=False,
            trust_env=False,
            timeout=httpx.Timeout(timeout),
            limits=httpx.Limits(max_connections=64, max_keepalive_connections=16),
        )

    async def send(
        self,
        client: httpx.AsyncClient,
        subscription: PushSubscription,
        payload: bytes,
        *,
        urgency: str = "normal",
    ) -> Outcome:
        """POST one push; its `Outcome`. Never raises for what the push service or the
        network does."""
        try:
            self._hosts.check(subscription.endpoint)
        except UnusableEndpoint as error:
            return _unusable(error)
        except InvalidInput:
            log.warning("not pushing to a host CHAT_PUSH_HOSTS does not name")
            return Outcome("refused")
        headers = {
            "Authorization": self._vapid.authorization(subscription.endpoint),
            "Content-Encoding": "aes128gcm",
            "Content-Type": "application/octet-stream",
            "TTL": str(TTL_S),
            "Urgency": urgency,
        }
        body = encrypt(subscription, payload)
        try:
            response = await client.post(subscription.endpoint, content=body, headers=headers)
        except httpx.HTTPError as error:
            log.info("push not delivered (%s); will retry", type(error).__name__)
            return Outcome("retry")
        except (httpx.InvalidURL, ValueError) as error:
            # Not a network fault but the URL itself (the check above reads it with the
            # same parser, so this is belt and braces): no try will ever pass.
            return _unusable(error)
        status = response.status_code
        if 200 <= status < 300:
            return Outcome("sent", status)
        if status in (404, 410):
            return Outcome("gone", status)
        if status == 429 or status >= 500:
            return Outcome("retry", status, _retry_after(response.headers.get("Retry-After")))
        log.warning("a push service refused a push with %d: %s", status, response.text[:200])
        return Outcome("refused", status)
