"""``GET /openapi.json`` describes every HTTP route, and the server keeps to it.

The document is checked against OpenAPI 3.1's own schema (openapi-spec-validator) and
against the app's URL map, so a route without a description fails here. Schemathesis then
drives a real server on an ephemeral port (both backends) with requests generated from
the document, valid ones and invalid ones, and checks every answer: no 5xx, a status the
document lists for that route, its media type and its JSON shape, Retry-After where the
document promises it. Routes that need a token get a fresh, real one for every request
(two of them revoke the caller's tokens).

Budget: CHAT_SCHEMATHESIS_EXAMPLES examples per route, generation mode and backend
(default 8: 15 to 30 seconds per backend on a loaded two-core machine). Set it higher to
search longer. Schemathesis runs in a worker thread (its client is synchronous) while the
server runs on the test's Trio thread.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
import trio
from mail_server import smtp_server
from quart_trio import QuartTrio
from support import STEP, TLS, Server, http_client, server_config, start_server

from chat.app.accounts.auth import Passwords
from chat.app.accounts.data import AccountData, DataStore
from chat.app.accounts.oidc import SingleSignOn
from chat.app.accounts.sessions import BrowserSessions
from chat.app.database_probe import DatabaseProbe
from chat.app.email.accounts import EmailAccounts
from chat.app.limits.rate_limits import RateLimits
from chat.app.messages.files import FileLibrary
from chat.app.messages.link_preview_images import LinkPreviewImages
from chat.app.metrics import Metrics
from chat.app.people.avatars import Avatars
from chat.app.people.statuses import Statuses
from chat.app.service import ChatService
from chat.core.client_address import ClientAddresses
from chat.core.config import Config
from chat.core.host_names import HostPolicy
from chat.files.directory import DirectoryStorage
from chat.http.app import create_app
from chat.http.client import CONTENT_SECURITY_POLICY
from chat.http.openapi import Answer, describe
from chat.http.openapi_document import Undocumented, openapi_document
from chat.store import Files, Store

#: Who the document's examples are (chat/http/accounts.py).
ALICE, ALICES_PASSWORD = "alice@example.com", "wonderland"

EXAMPLES = int(os.environ.get("CHAT_SCHEMATHESIS_EXAMPLES", "8"))


@pytest.fixture
def config(tmp_path: Path, database_url: str | None) -> Iterator[Config]:
    """The server of the document's tests sends mail (to a test SMTP server): without
    one, the routes that mail answer 503, which schemathesis takes for a server error."""
    with smtp_server() as inbox:
        yield server_config(tmp_path, database_url, smtp_url=inbox.url)


@pytest.fixture
async def sqlite_server(nursery: trio.Nursery, tmp_path: Path) -> Server:
    """A real server on SQLite, for what does not depend on the database."""
    return await start_server(nursery, server_config(tmp_path, None))


async def _document(server: Server) -> dict[str, Any]:
    async with http_client(server) as client:
        response = await client.get("/openapi.json")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    return response.json()


def _app(tmp_path: Path) -> QuartTrio:
    """The app `chat serve` serves, built without a service (its routes are not called)."""
    config = server_config(tmp_path, None)
    app = create_app(
        cast(ChatService, None),
        hosts=HostPolicy(config),
        addresses=ClientAddresses(),
        max_body_bytes=config.max_body_bytes,
        body_timeout=config.body_timeout,
        metrics=Metrics("openapi-test"),
        probe=DatabaseProbe(cast(Store, None)),
        draining=trio.Event(),
        sessions=cast(BrowserSessions, None),
        config=config,
        files=FileLibrary(
            cast(Files, None),
            DirectoryStorage(tmp_path / "files"),
            uploads_dir=tmp_path / "uploads",
            max_file_bytes=config.max_file_bytes,
            user_quota_bytes=config.user_quota_bytes,
            rate_limits=RateLimits(config),
        ),
        avatars=cast(Avatars, None),
        link_images=cast(LinkPreviewImages, None),
        statuses=cast(Statuses, None),
        email=cast(EmailAccounts, None),
        account_data=AccountData(
            cast(DataStore, None), DirectoryStorage(tmp_path / "files"), Passwords(4)
        ),
        sso=cast(SingleSignOn, None),
    )
    while not isinstance(app, QuartTrio):
        app = app.app  # the ASGI wrappers around Quart: the access log, the Host check
    return app


# --- The document -------------------------------------------------------------------------


async def test_the_document_is_valid_openapi_3_1(sqlite_server: Server) -> None:
    from openapi_spec_validator import OpenAPIV31SpecValidator

    document = await _document(sqlite_server)
    assert document["openapi"] == "3.1.0"
    errors = [error.message for error in OpenAPIV31SpecValidator(document).iter_errors()]
    assert not errors, errors


def test_the_document_lists_every_route_the_app_serves(tmp_path: Path) -> None:
    app = _app(tmp_path)
    served = {
        (re.sub(r"<(?:[^<>:]+:)?([^<>]+)>", r"{\1}", rule.rule), method.lower())
        for rule in app.url_map.iter_rules()
        if rule.endpoint != "static" and not rule.websocket
        for method in rule.methods or ()
        if method not in {"HEAD", "OPTIONS"}
    }
    document = openapi_document(app)
    described = {(path, method) for path, item in document["paths"].items() for method in item}
    assert described == served
    assert ("/openapi.json", "get") in described and ("/docs", "get") in described


def test_a_route_without_a_description_is_refused() -> None:
    app = QuartTrio("undescribed")

    @app.get("/described")
    @describe("A described route", answers={200: Answer("fine")})
    async def described() -> str:
        return ""

    @app.post("/forgotten")
    async def forgotten() -> str:
        return ""

    with pytest.raises(Undocumented) as refused:
        openapi_document(app)
    assert refused.value.rules == ["POST /forgotten (forgotten)"]


async def test_the_served_document_is_the_apps(sqlite_server: Server, tmp_path: Path) -> None:
    assert await _document(sqlite_server) == openapi_document(_app(tmp_path))


def test_routes_that_read_a_token_name_the_bearer_scheme(tmp_path: Path) -> None:
    paths = openapi_document(_app(tmp_path))["paths"]
    assert paths["/profile"]["get"]["security"] == [{"bearerToken": []}]
    assert paths["/room/{room_id}"]["get"]["security"] == [{}, {"bearerToken": []}]
    assert "security" not in paths["/profile/{uid}"]["get"]
    assert "401" in paths["/profile"]["get"]["responses"]
    assert "401" not in paths["/profile/{uid}"]["get"]["responses"]


def test_request_bodies_list_their_required_fields(tmp_path: Path) -> None:
    paths = openapi_document(_app(tmp_path))["paths"]
    body = paths["/register"]["post"]["requestBody"]
    assert body["required"] is True
    schema = body["content"]["application/json"]["schema"]
    assert schema["required"] == ["Username", "Email", "Password"]
    optional = paths["/messages/{room_id}"]["get"]["requestBody"]
    assert optional["required"] is False


def test_writing_to_an_erased_account_is_described_as_410(tmp_path: Path) -> None:
    paths = openapi_document(_app(tmp_path))["paths"]
    assert "410" in paths["/messages/{room_id}"]["post"]["responses"]
    assert "410" in paths["/dm/{uid}"]["get"]["responses"]
    details = paths["/rooms/details"]["get"]["responses"]["200"]["content"]["application/json"]
    assert "Closed" in details["schema"]["items"]["properties"]


def test_a_page_of_members_takes_a_bounded_limit(tmp_path: Path) -> None:
    members = openapi_document(_app(tmp_path))["paths"]["/room/{room_id}/members"]["get"]
    (limit,) = [p for p in members["parameters"] if p["name"] == "limit"]
    assert (limit["schema"]["minimum"], limit["schema"]["maximum"]) == (1, 100)


def test_the_clients_json_files_are_described_as_json_not_as_strings(tmp_path: Path) -> None:
    static = openapi_document(_app(tmp_path))["paths"]["/static/{name}"]["get"]
    content = static["responses"]["200"]["content"]
    assert content["application/manifest+json"]["schema"] == {}
    assert content["text/javascript"]["schema"] == {"type": "string"}


def test_answers_that_ask_to_wait_promise_retry_after(tmp_path: Path) -> None:
    for item in openapi_document(_app(tmp_path))["paths"].values():
        for operation in item.values():
            for status in ("429", "503"):
                headers = operation["responses"][status]["headers"]
                assert headers["Retry-After"]["required"] is True, operation["operationId"]


async def test_the_error_texts_stay_as_they_were(sqlite_server: Server) -> None:
    async with http_client(sqlite_server) as client:
        response = await client.post("/api/reg", json={"username": "someone"})
    assert response.status_code == 400
    assert response.json() == {"error": 'field "password" is required'}


# --- The server keeps to it ---------------------------------------------------------------


def _fresh_token(base: str, email: str, password: str) -> Callable[[], str]:
    """A function that logs `email` in again: a new token, valid even after the last one
    was revoked (PUT /password, POST /logout-everywhere)."""

    def log_in() -> str:
        response = httpx.put(
            f"{base}/login",
            json={"Email": email, "Password": password},
            timeout=STEP,
            verify=TLS,  # one TLS context, not one per request (support.TLS)
        )
        assert response.status_code == 200, response.text
        return response.json()["token"]

    return log_in


def _schemathesis(base: str, token: Callable[[], str], examples: int) -> list[str]:
    """Run schemathesis against the server at `base`; what it found, one entry per route
    and kind of request that failed (each with the request that reproduces it).

    For every route: the document's own examples, then `examples` valid requests, then
    `examples` invalid ones."""
    import schemathesis
    from hypothesis.errors import Unsatisfiable
    from schemathesis.core.failures import FailureGroup
    from schemathesis.generation import GenerationMode

    schema = schemathesis.openapi.from_url(f"{base}/openapi.json")
    found = []
    for result in schema.get_all_operations():
        operation = result.ok()
        # A fresh token for every request: two routes revoke the caller's tokens.
        needs_token = bool(operation.definition.raw.get("security"))
        strategies = {
            "the document's examples": schema.get_strategies_from_examples(operation),
            "valid requests": [operation.as_strategy(GenerationMode.POSITIVE)],
            "invalid requests": [operation.as_strategy(GenerationMode.NEGATIVE)],
        }
        for kind, drawn in strategies.items():
            for strategy in drawn:
                try:
                    _exchange_all(strategy, token if needs_token else None, examples)
                except Unsatisfiable:
                    pass  # a route with no parameters and no body: nothing to send it wrong
                except (FailureGroup, Exception) as error:
                    found.append(f"{operation.label} ({kind}): {error}")
    return found


def _exchange_all(strategy: Any, token: Callable[[], str] | None, examples: int) -> None:
    """Send up to `examples` requests drawn from `strategy` and check every answer."""
    from hypothesis import HealthCheck, Phase, given, settings
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import (
        content_type_conformance,
        response_headers_conformance,
        response_schema_conformance,
        status_code_conformance,
    )

    checks = [
        not_a_server_error,
        status_code_conformance,
        content_type_conformance,
        response_schema_conformance,
        response_headers_conformance,
    ]

    @given(case=strategy)
    @settings(
        max_examples=examples,
        deadline=None,  # each example is a round trip to a real server
        database=None,  # nothing written into the repository
        phases=[Phase.generate],  # report what failed; shrinking would take the time
        suppress_health_check=list(HealthCheck),
    )
    def exchange(case: Any) -> None:
        headers = None if token is None else {"Authorization": f"Bearer {token()}"}
        case.call_and_validate(headers=headers, checks=checks, timeout=STEP)

    exchange()


async def test_schemathesis_finds_no_5xx_and_no_answer_the_document_does_not_describe(
    server: Server,
) -> None:
    # The account the document's examples log in to, so they reach the answers that
    # succeed, whose shapes random input would seldom reach.
    async with http_client(server) as client:
        registered = await client.post(
            "/register",
            json={"Username": "alice", "Email": ALICE, "Password": ALICES_PASSWORD},
        )
        assert registered.status_code == 201, registered.text
    token = _fresh_token(server.http, ALICE, ALICES_PASSWORD)
    found = await trio.to_thread.run_sync(_schemathesis, server.http, token, EXAMPLES)
    assert not found, "\n\n".join(found)


# --- The page -----------------------------------------------------------------------------


async def test_the_docs_page_is_served_under_the_clients_policy(sqlite_server: Server) -> None:
    async with http_client(sqlite_server) as client:
        response = await client.get("/docs")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert "<script>" not in response.text and "style=" not in response.text


async def test_the_docs_page_shows_every_route_without_a_csp_violation(
    sqlite_server: Server,
) -> None:
    from browser import WAIT_MS, in_browser

    document = await _document(sqlite_server)
    described = sorted(
        f"{method.upper()} {path}" for path, item in document["paths"].items() for method in item
    )

    def scenario(browser: Any) -> None:
        page = browser.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.on("console", lambda m: m.type == "error" and errors.append(m.text))
        # Injected by the browser itself, so the page's policy does not apply to it.
        page.add_init_script(
            "window.violations = [];"
            "document.addEventListener('securitypolicyviolation',"
            " e => window.violations.push(e.violatedDirective + ' ' + e.blockedURI));"
        )
        page.goto(f"{sqlite_server.http}/docs")
        page.wait_for_selector("#routes[data-state=ready]", timeout=WAIT_MS)
        shown = sorted(
            f"{method.upper()} {path}"
            for method, path in page.locator(".operation").evaluate_all(
                "nodes => nodes.map(n => [n.dataset.method, n.dataset.path])"
            )
        )
        assert shown == described
        register = page.locator('.operation[data-method=post][data-path="/api/reg"]')
        assert "Register (spec 002)" in register.inner_text()
        assert '{"token": string}' in register.locator("td.shape").all_text_contents()
        profile = page.locator('.operation[data-method=get][data-path="/profile"]')
        assert "Token: required" in profile.inner_text()
        if os.environ.get("CHAT_DOCS_SCREENSHOT"):
            page.screenshot(path=os.environ["CHAT_DOCS_SCREENSHOT"], full_page=False)
        assert page.evaluate("window.violations") == []
        assert not errors, errors

    await in_browser(scenario)
