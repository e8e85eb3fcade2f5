"""Single sign-on's routes (`chat.app.accounts.oidc`):

- ``GET /oidc/providers``         -> 200 {"Providers": [{"Name", "LoginURL"}], "PasswordLogin"}
- ``GET /oidc/{Name}/login``      -> 302 to the provider, and the sign-in cookie
- ``GET /oidc/{Name}/callback``   -> 302 to ``/`` with the session cookie (as ``POST
  /session`` sets it); on any failure 302 to ``/`` with the reason in a short-lived
  cookie the login view shows (`ERROR_COOKIE`), the failure logged once

The sign-in cookie binds a sign-in to the browser that began it (a callback from another
browser is refused: a login CSRF). It is ``SameSite=Lax``, so that the provider's
redirect back, a top-level navigation from another site, carries it; ``HttpOnly``, on
``/oidc/`` only, ten minutes long.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote

from quart import Blueprint, Request, Response, jsonify, request

from chat.app.accounts.oidc import LOGIN_TTL_S, SingleSignOn, browser_secret
from chat.app.accounts.sessions import BrowserSessions
from chat.core.client_address import ClientAddresses
from chat.core.config import Config
from chat.core.errors import ChatError, NotFound
from chat.core.oidc import SignInFailed
from chat.http.identity import caller_address
from chat.http.openapi import BOOLEAN, ERROR, STRING, Answer, describe, exact_object
from chat.http.sessions import CookieJar

log = logging.getLogger(__name__)

#: The cookie binding a sign-in to its browser.
SIGN_IN_COOKIE = "chat_oidc"
#: The cookie a failed sign-in leaves for the login view (readable by its script).
ERROR_COOKIE = "chat_sso_error"
#: The longest query a callback is read from, per parameter.
_MAX_PARAMETER_CHARS = 4096

_PROVIDERS = exact_object(
    {
        "Providers": {
            "type": "array",
            "maxItems": 10,
            "items": exact_object({"Name": STRING, "LoginURL": STRING}),
        },
        "PasswordLogin": BOOLEAN,
    }
)
_NO_PROVIDER = Answer("no single sign-on provider of that name", ERROR)


def oidc_routes(
    sso: SingleSignOn, sessions: BrowserSessions, config: Config, addresses: ClientAddresses
) -> Blueprint:
    routes = Blueprint("oidc", __name__)
    jar = CookieJar(config, addresses)
    public_url = (config.public_url or "").rstrip("/")

    def redirect_uri(name: str) -> str:
        """The callback's URL, as registered at the provider: under `CHAT_PUBLIC_URL`
        when it is set, else under the address the browser used."""
        base = public_url or f"{request.scheme}://{request.host}"
        return f"{base}/oidc/{name}/callback"

    def known(name: str) -> str:
        provider = sso.provider(name)
        if provider is None:
            raise NotFound(f"no single sign-on provider {name[:40]!r}")
        return provider.name

    def to_login_view(name: str, error: SignInFailed | ChatError) -> Response:
        log.warning("a sign-in with %s failed: %s", name, error)
        response = Response("", 302, {"Location": "/", "Cache-Control": "no-store"})
        clear_sign_in(request, response)
        response.set_cookie(
            ERROR_COOKIE,
            quote(f"Sign-in with {name} failed: {error}"),
            max_age=60,
            path="/",
            secure=jar.https(request),
            samesite="Lax",
        )
        return response

    def clear_sign_in(request: Request, response: Response) -> None:
        response.delete_cookie(
            SIGN_IN_COOKIE, path="/oidc/", secure=jar.https(request), httponly=True, samesite="Lax"
        )

    @routes.get("/oidc/providers")
    @describe(
        "The single sign-on providers people may sign in with (the login view's buttons)",
        description=(
            "PasswordLogin is false when only single sign-on signs people in"
            " (CHAT_SSO_ONLY): the password form and registration answer 403."
        ),
        answers={200: Answer("the providers, in the setting's order", _PROVIDERS)},
    )
    async def providers() -> Any:
        listed = [{"Name": name, "LoginURL": f"/oidc/{name}/login"} for name in sso.names]
        return jsonify({"Providers": listed, "PasswordLogin": not config.sso_only})

    @routes.get("/oidc/<name>/login")
    @describe(
        "Begin a sign-in with a provider: 302 to its authorization endpoint",
        description=(
            "The authorization code flow with PKCE (S256), a state and a nonce; a cookie"
            " binds the sign-in to this browser for ten minutes. A provider that cannot"
            " be reached sends the browser back to / with the reason for the login view."
        ),
        path={"name": STRING},
        answers={
            302: Answer("to the provider (or back to / with the reason it failed)"),
            404: _NO_PROVIDER,
        },
    )
    async def login(name: str) -> Any:
        name = known(name)
        browser = browser_secret(request.cookies.get(SIGN_IN_COOKIE))
        try:
            url = await sso.begin(
                name,
                redirect_uri=redirect_uri(name),
                browser=browser,
                address=caller_address(request, addresses),
            )
        except (SignInFailed, ChatError) as error:
            # A ChatError too (the database unavailable, a limit): the browser is on a
            # navigation, and a JSON body would be all it showed.
            return to_login_view(name, error)
        response = Response("", 302, {"Location": url, "Cache-Control": "no-store"})
        response.set_cookie(
            SIGN_IN_COOKIE,
            browser,
            max_age=LOGIN_TTL_S,
            path="/oidc/",
            secure=jar.https(request),
            httponly=True,
            samesite="Lax",
        )
        return response

    @routes.get("/oidc/<name>/callback")
    @describe(
        "Where the provider sends the browser back: the sign-in finished, the session begun",
        description=(
            "The state must be a sign-in this browser began (one use, ten minutes); the"
            " code is exchanged with the client's secret and the PKCE verifier; the ID"
            " token's signature (the provider's JWKS), issuer, audience, expiry and nonce"
            " are checked. The account is the one linked to the provider's subject, or a"
            " new one (under the registration rules). Sets the session cookie as POST"
            " /session does. Any failure: back to / with the reason for the login view."
        ),
        path={"name": STRING},
        query={"state": STRING, "code": STRING, "error": STRING, "iss": STRING},
        answers={
            302: Answer("to / signed in (the session cookie), or with the reason it failed"),
            404: _NO_PROVIDER,
        },
    )
    async def callback(name: str) -> Any:
        name = known(name)
        query = {
            key: request.args[key][:_MAX_PARAMETER_CHARS]
            for key in ("state", "code", "error", "iss")
            if key in request.args
        }
        try:
            granted = await sso.finish(
                name,
                query,
                browser=request.cookies.get(SIGN_IN_COOKIE),
                redirect_uri=redirect_uri(name),
                address=caller_address(request, addresses),
                device=request.headers.get("User-Agent"),
            )
        except (SignInFailed, ChatError) as error:
            # A ChatError too (the database unavailable, a limit): the browser is on a
            # navigation, and a JSON body would be all it showed.
            return to_login_view(name, error)
        log.info("user %d signed in with %s", granted.user.id, name)
        response = Response("", 302, {"Location": "/", "Cache-Control": "no-store"})
        clear_sign_in(request, response)
        jar.set(request, response, granted)
        return response

    return routes
