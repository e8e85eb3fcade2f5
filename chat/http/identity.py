"""Who is calling: the token in the Authorization header.

Spec 004's examples send the bare token (``Authorization: eyJ...``); the usual form is
``Authorization: Bearer eyJ...``. Both work, for a personal access token
(``chat_pat_...``) too.
"""

from __future__ import annotations

from quart import Request

from chat.app.accounts.auth import bearer_token
from chat.app.service import ChatService
from chat.core.api_tokens import require_write
from chat.core.client_address import ClientAddresses
from chat.core.errors import NotAuthenticated
from chat.core.records import Identity


def caller_address(request: Request, addresses: ClientAddresses) -> str:
    """The client's address as the limits count it (`ClientAddresses.key`: an IPv6
    client's /64): of the connection's peer, or of the client a trusted proxy names. What
    the rate limits and the login code are given; log lines show the full address."""
    peer = request.scope.get("client")
    peer_address = str(peer[0]) if peer else "unknown"
    return addresses.resolve_key(peer_address, request.headers.getlist("X-Forwarded-For"))


#: The methods that change nothing: all a ``read`` token may call.
_READING = frozenset({"GET", "HEAD", "OPTIONS"})


async def optional_identity(service: ChatService, request: Request) -> Identity | None:
    """The caller's identity if a token was sent; a bad token is still an error (401), and
    a read-only token (a personal access token without ``write``) may only read (403)."""
    token = bearer_token(request.headers.get("Authorization"))
    return None if token is None else await token_identity(service, request, token)


async def token_identity(service: ChatService, request: Request, token: str) -> Identity:
    """Who `token` proves (401 if nobody), if it may make this request (403: a read-only
    token, for a method that changes something)."""
    identity = await service.identify(token)
    if request.method not in _READING:
        require_write(identity)
    return identity


async def require_identity(service: ChatService, request: Request) -> Identity:
    identity = await optional_identity(service, request)
    if identity is None:
        raise NotAuthenticated(
            "missing token: send it in the Authorization header (raw or as 'Bearer <token>')"
        )
    return identity
