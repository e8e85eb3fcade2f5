"""A user's data over HTTP (`chat.app.accounts.data`):

- ``GET /me/export``  (token or cookie) -> 200, a zip archive of everything the caller
  wrote and uploaded, streamed as it is written (``Content-Disposition: attachment``);
  429 past ``CHAT_RATE_EXPORTS``, 503 when ``CHAT_EXPORTS_AT_ONCE`` are under way here
- ``DELETE /me``      {"Password", "Code"?} (token or cookie) -> 200 {"status": "erased"}: the
  account is erased (their messages become tombstones, their files, sessions and
  subscriptions go, their name is held for 30 days); 401 for a wrong password, as
  ``PUT /password`` answers; the session cookie cleared

Both take the token, else the browser session's cookie (the client's "Download my data"
is a plain link); with the cookie, ``DELETE /me`` must come from this site's own pages
(CSRF, as every cookie route: chat.http.sessions).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from quart import Blueprint, Response, jsonify, request

from chat.app.accounts.data import AccountData, export_file_name
from chat.app.accounts.sessions import BrowserSessions
from chat.app.service import ChatService
from chat.core import validation
from chat.core.client_address import ClientAddresses
from chat.core.config import Config
from chat.core.host_names import HostPolicy
from chat.core.records import Identity
from chat.core.two_factor import optional_code
from chat.http.bodies import json_object
from chat.http.identity import caller_address
from chat.http.openapi import (
    CREDENTIALS_ERROR,
    ERROR,
    INVALID,
    SECOND_FACTOR,
    STRING,
    Answer,
    Token,
    body_fields,
    describe,
    exact_object,
)
from chat.http.sessions import CookieJar, token_or_cookie

#: The archive's media type.
ZIP = "application/zip"


def account_data_routes(
    service: ChatService,
    account_data: AccountData,
    sessions: BrowserSessions,
    hosts: HostPolicy,
    addresses: ClientAddresses,
    config: Config,
) -> Blueprint:
    routes = Blueprint("account_data", __name__)
    jar = CookieJar(config, addresses)

    async def caller(*, changes: bool) -> Identity:
        """The token, else the session cookie (from this site's pages, for a change)."""
        return await token_or_cookie(service, sessions, hosts, site_only=changes)

    @routes.get("/me/export")
    @describe(
        "Download everything the caller wrote and uploaded, as a zip archive",
        description=(
            "profile.json; messages.jsonl (each message with its room, text, first text"
            " and edits), reactions.jsonl, read_markers.jsonl, saved.jsonl (the messages"
            " saved, by MessageID, and when), files.jsonl (the files'"
            " records) and files/<FileID>/<name> (their bytes), one JSON object a line."
            " The archive is streamed as it is written."
        ),
        token=Token.REQUIRED,
        cookie=True,
        answers={
            200: Answer("the archive", media=(ZIP,)),
            429: Answer("too many exports (CHAT_RATE_EXPORTS)", ERROR, retry_after=True),
            503: Answer(
                "too many exports under way here (CHAT_EXPORTS_AT_ONCE)", ERROR, retry_after=True
            ),
        },
    )
    async def export() -> Any:
        identity = await caller(changes=False)
        user = await service.user(identity.user_id)
        chunks = account_data.start_export(user)
        name = export_file_name(user, datetime.now(UTC))
        headers = {
            "Content-Type": ZIP,
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        }
        response = Response(chunks, 200, headers)
        # An archive of many files may take longer than Quart's response timeout.
        response.timeout = None
        return response

    @routes.delete("/me")
    @describe(
        "Erase the caller's account (irreversible); needs the password",
        description=(
            "The caller's messages become tombstones (shown as deleted), their reactions,"
            " files, sessions, push subscriptions and read markers are removed, their"
            " tokens revoked on every instance, and their name held for 30 days. What"
            " others wrote to them stays, and so do the audit log's entries."
        ),
        body=body_fields({"Password": STRING}, {"Code": SECOND_FACTOR}),
        token=Token.REQUIRED,
        cookie=True,
        answers={
            200: Answer("erased", exact_object({"status": {"const": "erased"}})),
            400: INVALID,
            401: Answer(
                "the token is bad, or the password or the second factor is wrong (nothing"
                " changes); NeedsCode: the account's code is missing, wrong or used already",
                CREDENTIALS_ERROR,
            ),
            403: Answer("by the session cookie, from another site's page (CSRF)", ERROR),
        },
    )
    async def erase() -> Any:
        identity = await caller(changes=True)
        body = await json_object(request)
        password = validation.require_str(body, "Password")
        user = await service.confirm_password(
            identity,
            password,
            address=caller_address(request, addresses),
            code=optional_code(body, "Code"),
        )
        await account_data.erase(user)
        response: Response = jsonify({"status": "erased"})
        jar.clear(request, response)
        return response

    return routes
