"""A real OpenID Provider for the tests: the npm package oidc-provider (OpenID
Certified), run by node on loopback from tests/oidc_provider.mjs, and a client that
signs in through it the way a browser would (httpx, one cookie jar).

oidc-provider comes from npm at test time (`npm install oidc-provider@9` into a cache
directory outside the repository, once), as axe-core does (tests/axe.py).
`CHAT_TEST_OIDC_DIR` names the directory (default: ~/.cache/chat-tests/oidc). Without
node and npm, the tests that need it skip, or fail with CI=true.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from html import unescape
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import httpx
import trio
from npm_packages import installed, unavailable
from support import TLS, Server

OIDC_DIR = Path(os.environ.get("CHAT_TEST_OIDC_DIR", Path.home() / ".cache/chat-tests/oidc"))
MODULES = OIDC_DIR / "node_modules"
SCRIPT = Path(__file__).with_name("oidc_provider.mjs")
#: The client the chat server is registered as, and its secret.
CLIENT_ID = "chat-server"
CLIENT_SECRET = "a client secret the provider and the server share"


async def _modules() -> Path:
    """oidc-provider's node_modules, installed from npm first if it is not there yet."""
    if shutil.which("node") is None:
        unavailable("oidc-provider", "node is not installed (apt-get install nodejs)")
    await installed(OIDC_DIR, "oidc-provider@9", MODULES / "oidc-provider/package.json")
    return MODULES


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Provider:
    """One oidc-provider process on a loopback port; `rotate_keys` restarts it on the
    same port with a new signing key."""

    def __init__(self, modules: Path, log_path: Path, clients: list[dict[str, str]]) -> None:
        self.port = _free_port()
        self.issuer = f"http://127.0.0.1:{self.port}"
        self._modules = modules
        self._log_path = log_path
        self._clients = clients
        self._process: trio.Process | None = None

    def setting(self, name: str = "Test", **changes: str) -> dict[str, str]:
        """The provider's entry of `CHAT_OIDC_PROVIDERS`."""
        entry = {
            "Name": name,
            "Issuer": self.issuer,
            "ClientID": CLIENT_ID,
            "ClientSecret": CLIENT_SECRET,
        }
        return entry | changes

    async def start(self) -> None:
        environment = os.environ | {
            "OIDC_PORT": str(self.port),
            "OIDC_CLIENTS": json.dumps(self._clients),
            "NODE_PATH": str(self._modules),
        }
        log = self._log_path.open("ab")
        self._process = await trio.lowlevel.open_process(
            ["node", str(SCRIPT)], stdout=subprocess.PIPE, stderr=log, env=environment
        )
        log.close()
        assert self._process.stdout is not None
        seen = b""
        with trio.fail_after(20):
            while b"ready" not in seen:
                chunk = await self._process.stdout.receive_some(1024)
                if not chunk:
                    raise RuntimeError(f"the provider ended: {self._log_path.read_text()[-2000:]}")
                seen += chunk

    async def stop(self) -> None:
        if self._process is not None:
            self._process.kill()
            with trio.CancelScope(shield=True):
                await self._process.wait()
            self._process = None

    async def rotate_keys(self) -> None:
        """The provider's keys changed: the old ones are no longer published."""
        await self.stop()
        await self.start()

    async def jwks_fetches(self) -> int:
        """How many times its keys were asked for."""
        async with httpx.AsyncClient(verify=TLS) as client:
            answer = await client.get(f"{self.issuer}/test/jwks-fetches")
        return int(answer.json()["fetches"])

    async def next_id_token(self, **claims: Any) -> None:
        """The next token answer's ID token carries `claims` instead (signed again with
        the provider's own key)."""
        async with httpx.AsyncClient(verify=TLS) as client:
            answer = await client.post(f"{self.issuer}/test/next-id-token", json=claims)
        assert answer.status_code == 204, answer.text


@asynccontextmanager
async def running_provider(
    tmp_path: Path, clients: list[dict[str, str]] | None = None
) -> AsyncIterator[Provider]:
    """A provider for this test, stopped at its end."""
    clients = clients or [{"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}]
    provider = Provider(await _modules(), tmp_path / "oidc-provider.log", clients)
    await provider.start()
    try:
        yield provider
    finally:
        await provider.stop()


def replace_query(url: str, **values: str) -> str:
    """`url` with some of its query's parameters replaced."""
    parts = urlsplit(url)
    query = {key: value[0] for key, value in parse_qs(parts.query).items()} | values
    return urlunsplit(parts._replace(query=urlencode(query)))


def query_of(url: str) -> dict[str, str]:
    return {key: value[0] for key, value in parse_qs(urlsplit(url).query).items()}


class Browser:
    """Signs in through the provider as a browser would: one cookie jar, redirects
    followed by hand (so each can be looked at)."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.client = httpx.AsyncClient(timeout=20, verify=TLS)
        #: The authorization URL of the last sign-in begun.
        self.authorization_url = ""

    async def __aenter__(self) -> Browser:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.client.aclose()

    async def begin(self, provider: str = "Test") -> str:
        """The provider's authorization URL our server sends the browser to."""
        answer = await self.client.get(f"{self.server.http}/oidc/{provider}/login")
        assert answer.status_code == 302, answer.text
        self.authorization_url = answer.headers["location"]
        return self.authorization_url

    async def at_provider(self, url: str, login: str) -> str:
        """Sign in at the provider as `login` from `url`: the callback URL it sends the
        browser back to (not followed)."""
        answer = await self.client.get(url)
        for _hop in range(10):
            if answer.status_code in (302, 303):
                location = str(answer.url.join(answer.headers["location"]))
                if urlsplit(location).path.endswith("/callback"):
                    return location
                answer = await self.client.get(location)
                continue
            assert answer.status_code == 200, answer.text
            action = unescape(re.search(r'<form[^>]*action="([^"]+)"', answer.text)[1])  # type: ignore[index]
            form = {"prompt": "login", "login": login, "password": "anything"}
            answer = await self.client.post(str(answer.url.join(action)), data=form)
        raise AssertionError("the provider never sent the browser back")

    async def callback(self, url: str) -> httpx.Response:
        return await self.client.get(url)

    async def sign_in(
        self, login: str, *, provider: str = "Test", tamper: Callable[[str], str] | None = None
    ) -> httpx.Response:
        """The whole sign-in: our server's answer to the callback."""
        url = await self.begin(provider)
        return await self.callback(await self.at_provider(tamper(url) if tamper else url, login))

    def error(self, answer: httpx.Response) -> str | None:
        """The reason a failed sign-in left for the login view, if any."""
        from urllib.parse import unquote

        value = answer.cookies.get("chat_sso_error")
        return None if value is None else unquote(value)

    async def session(self) -> dict[str, Any]:
        """Our server's answer to the page's first question: who is signed in here."""
        answer = await self.client.post(
            f"{self.server.http}/session/refresh", headers={"Origin": self.server.http}
        )
        assert answer.status_code == 200, answer.text
        return dict(answer.json())
