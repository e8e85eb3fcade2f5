"""A real RFC 8030 push service of the tests' own, on loopback, in the test process.

It plays what Chrome's, Firefox's or Safari's push service does with a push from the
server: it takes ``POST /push/{token}``, checks the VAPID signature (RFC 8292: an ES256
JWT over the key in ``Authorization: vapid t=..., k=...``, whose audience is this
service's origin, that has not expired and expires within 24 hours, with a subject),
checks it is the server's key (`expect_key`), and decrypts the aes128gcm body (RFC 8291)
with the private key and auth secret of the browser it made for the test (`browser`).
What arrived is in `pushes`; whatever did not pass is in `problems` (answered 400/401/403,
as a real push service would). A test makes a subscription answer 404, 410, 429 or 500
instead of 201 (`answer`).

Verification uses PyJWT and http-ece's decryption, not the server's code.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import h11
import http_ece
import jwt
import trio
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class Browser:
    """A browser's side of a subscription: its keys, and the endpoint to register."""

    token: str
    endpoint: str
    private_key: ec.EllipticCurvePrivateKey
    auth: bytes

    @property
    def subscription(self) -> dict[str, Any]:
        """What ``PushSubscription.toJSON()`` gives, the body of POST /push/subscriptions."""
        public = self.private_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        return {
            "endpoint": self.endpoint,
            "keys": {"p256dh": b64url(public), "auth": b64url(self.auth)},
        }


@dataclass
class Push:
    """A push that passed every check: to which browser, what it said, how it came."""

    token: str
    payload: dict[str, Any]
    headers: dict[str, str]
    claims: dict[str, Any]


@dataclass
class PushService:
    host: str = "127.0.0.1"
    port: int = 0
    #: The server's VAPID public key (GET /push/key), once the test knows it.
    expect_key: str | None = None
    pushes: list[Push] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    #: Every request's token and the status it was answered with, in order.
    answered: list[tuple[str, int]] = field(default_factory=list)
    _browsers: dict[str, Browser] = field(default_factory=dict)
    _answers: dict[str, list[int]] = field(default_factory=dict)
    _arrived: trio.Event = field(default_factory=trio.Event)

    @property
    def origin(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def host_entry(self) -> str:
        """This service as a `CHAT_PUSH_HOSTS` entry."""
        return f"{self.host}:{self.port}"

    def browser(self) -> Browser:
        """A new browser subscribed to this service."""
        token = secrets.token_urlsafe(12)
        browser = Browser(
            token,
            f"{self.origin}/push/{token}",
            ec.generate_private_key(ec.SECP256R1()),
            secrets.token_bytes(16),
        )
        self._browsers[token] = browser
        return browser

    def answer(self, browser: Browser, *statuses: int) -> None:
        """Answer the browser's next pushes with `statuses`, in turn; the last one for
        good (201, the default, after them if the last is 201)."""
        self._answers[browser.token] = list(statuses)

    def to(self, browser: Browser) -> list[dict[str, Any]]:
        """The payloads pushed to `browser`, in order of arrival."""
        return [push.payload for push in self.pushes if push.token == browser.token]

    async def wait_for(self, count: int, within: float = 15.0) -> list[Push]:
        """Wait until `count` pushes have arrived in all; all of them."""
        with trio.fail_after(within):
            while len(self.pushes) < count:
                await self._arrived.wait()
                self._arrived = trio.Event()
        return self.pushes

    async def wait_for_answers(self, count: int, within: float = 20.0) -> None:
        """Wait until `count` requests have been answered (whatever the answer)."""
        with trio.fail_after(within):
            while len(self.answered) < count:
                await self._arrived.wait()
                self._arrived = trio.Event()

    # --- serving ---

    async def _handle(self, stream: trio.SocketStream) -> None:
        conn = h11.Connection(h11.SERVER, max_incomplete_event_size=64 * 1024)
        request: h11.Request | None = None
        body = b""
        try:
            with trio.fail_after(10):
                while True:
                    event = conn.next_event()
                    if event is h11.NEED_DATA:
                        conn.receive_data(await stream.receive_some(65536))
                    elif isinstance(event, h11.Request):
                        request = event
                    elif isinstance(event, h11.Data):
                        body += event.data
                    elif isinstance(event, h11.EndOfMessage):
                        break
                    elif isinstance(event, h11.ConnectionClosed):
                        return
                assert request is not None
                status = self._receive(request, body)
                response = h11.Response(
                    status_code=status, headers=[("content-length", "0"), ("connection", "close")]
                )
                await stream.send_all(conn.send(response) + conn.send(h11.EndOfMessage()))
        except (trio.BrokenResourceError, trio.ClosedResourceError, h11.RemoteProtocolError):
            pass
        finally:
            await trio.aclose_forcefully(stream)

    def _receive(self, request: h11.Request, body: bytes) -> int:
        target = request.target.decode()
        token = target.removeprefix("/push/")
        status = self._check(request, token, body)
        self.answered.append((token, status))
        self._arrived.set()
        return status

    def _check(self, request: h11.Request, token: str, body: bytes) -> int:
        headers = {name.decode().lower(): value.decode() for name, value in request.headers}
        browser = self._browsers.get(token)
        if request.method != b"POST" or browser is None:
            return self._problem(
                404, f"{request.method!r} {request.target!r}: no such subscription"
            )
        scheme, _, params = headers.get("authorization", "").partition(" ")
        fields = dict(part.strip().split("=", 1) for part in params.split(",") if "=" in part)
        if scheme.lower() != "vapid" or "t" not in fields or "k" not in fields:
            return self._problem(401, f"no VAPID authorization: {headers.get('authorization')!r}")
        if self.expect_key is not None and fields["k"] != self.expect_key:
            return self._problem(403, "signed with another key than the server's GET /push/key")
        try:
            public = ec.EllipticCurvePublicKey.from_encoded_point(
                ec.SECP256R1(), b64url_decode(fields["k"])
            )
            claims = jwt.decode(
                fields["t"],
                key=public,
                algorithms=["ES256"],
                audience=self.origin,
                options={"require": ["exp", "aud", "sub"]},
            )
        except (jwt.InvalidTokenError, ValueError) as error:
            return self._problem(403, f"bad VAPID token: {error!r}")
        if claims["exp"] > time.time() + 24 * 3600:
            return self._problem(403, "the VAPID token expires more than 24 hours ahead")
        if headers.get("content-encoding") != "aes128gcm" or "ttl" not in headers:
            return self._problem(400, f"not an RFC 8291 push: {headers}")
        try:
            plain = http_ece.decrypt(
                body, private_key=browser.private_key, auth_secret=browser.auth, version="aes128gcm"
            )
            payload = json.loads(plain)
        except Exception as error:
            return self._problem(400, f"cannot decrypt the push: {error!r}")
        statuses = self._answers.get(token)
        status = 201
        if statuses:
            status = statuses.pop(0) if len(statuses) > 1 else statuses[0]
        if status == 201:
            self.pushes.append(Push(token, payload, headers, claims))
        return status

    def _problem(self, status: int, problem: str) -> int:
        self.problems.append(problem)
        return status


@asynccontextmanager
async def open_push_service(host: str = "127.0.0.1") -> AsyncIterator[PushService]:
    """A push service listening on `host`, a free port, until the block ends."""
    service = PushService(host)
    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(partial(trio.serve_tcp, service._handle, 0, host=host))
        service.port = listeners[0].socket.getsockname()[1]
        try:
            yield service
        finally:
            nursery.cancel_scope.cancel()
