"""Opening a connection: subscribed before the client is told that it is open.

A message published at any instant after the server answered the client (the 101, or
``authenticated`` on ``/ws?auth=frame``) must reach the connection. So the order is
(`subscribe_then_open`):

1. the session is filed in its registries (its user's notices and rooms' activity find
   it there) and every dialect subscribes (`chat.ws.dispatch.Dispatcher.listen`: the
   user's direct messages, TokenTalker's lobby), with no await between. From here on
   everything meant for the connection is offered to it, and waits in its outbox's
   queue (its stream writes nothing directly until `opened`: nothing may go out before
   the 101);
2. `answer`: the server waits until what was just filed is in force (the user's rooms
   indexed for activity frames), answers the upgrade with 101 and, on ``?auth=frame``,
   reads the first frame, becomes its user (`ClientSession.set_identity`, which
   subscribes to that user's topics and files it anew), waits again, and answers
   ``authenticated``;
3. the stream is `opened`: from here on frames may be written at once, behind those
   queued, which the writer writes, in order, right behind the answer, as soon as the
   session runs (`chat.ws.server`, with no await from here to `ClientSession.run`).

Resource handling: if `answer` fails or is cancelled (the client left, a bad first
frame, the drain, a shutdown), the session is discarded and unfiled before the error
goes on: no subscription and no registry entry outlives a connection that never opened.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol
from urllib.parse import parse_qs, urlsplit

import trio
from trio_websocket import ConnectionClosed

from chat.core.errors import Forbidden, InvalidInput, InvalidToken, Unavailable
from chat.core.frames import CLOSE_POLICY_VIOLATION
from chat.core.records import Identity
from chat.core.untrusted_json import parse as parse_json
from chat.ws.session.client_session import ClientSession, Registry
from chat.ws.transport import ServerConnection


class Listener(Protocol):
    """What subscribes a connection's dialects (`chat.ws.dispatch.Dispatcher`)."""

    def listen(self) -> None: ...


class Opening(Protocol):
    """The connection's stream (`chat.ws.stream.DirectWriteStream`), which writes nothing
    directly until `opened`."""

    opened: bool


async def subscribe_then_open(
    session: ClientSession,
    stream: Opening,
    dialects: Listener,
    registries: Sequence[Registry[ClientSession]],
    answer: Callable[[], Awaitable[None]],
) -> None:
    """File `session`, subscribe its `dialects`, `answer` the client, then open its
    `stream` (the module's docstring says why in this order). Cancelled or failed
    anywhere, nothing of it is left filed or subscribed."""
    session.registries = tuple(registries)
    try:
        for registry in session.registries:
            registry.file(session)
        dialects.listen()
        await answer()
    except BaseException:
        # Synchronous: a cancellation cannot stop the release half-way.
        session.discard()
        for registry in reversed(session.registries):
            registry.unfile(session)
        raise
    stream.opened = True


# --- ``/ws?auth=frame``: the identity comes with the first frame ---

#: How long a client that asked for ``?auth=frame`` has to send its ``auth`` frame.
AUTH_FRAME_TIMEOUT_S = 10.0
AUTH_FRAME = '{"Type": "auth", "Token": "<token>"}'


def wants_auth_frame(path: str) -> bool:
    """``?auth=frame`` in the request's `path`: the client authenticates with its first
    frame."""
    return parse_qs(urlsplit(path).query).get("auth") == ["frame"]


def _auth_frame_token(message: str | bytes) -> str:
    """The token of a first frame, or `InvalidInput` saying what was expected."""
    if not isinstance(message, str):
        raise InvalidInput(f"the first frame must be {AUTH_FRAME}")
    frame = parse_json(message, "the first frame")
    if not (isinstance(frame, dict) and frame.get("Type") == "auth"):
        raise InvalidInput(f"the first frame must be {AUTH_FRAME}")
    token = frame.get("Token")
    if not isinstance(token, str) or not token:
        raise InvalidInput(f"the first frame must be {AUTH_FRAME}")
    return token


async def first_frame_identity(
    ws: ServerConnection, identify: Callable[[str], Awaitable[Identity]], close_timeout: float
) -> Identity | None:
    """Who the client's first frame says it is: a valid token in ``{"Type": "auth",
    "Token": ...}`` within `AUTH_FRAME_TIMEOUT_S`, checked by `identify`. Anything else
    closes the connection (1008, saying why): None, as when the client leaves. The
    caller answers (`authenticated`) once the connection is subscribed as that user."""
    try:
        with trio.fail_after(AUTH_FRAME_TIMEOUT_S):
            message = await ws.get_message()
        return await identify(_auth_frame_token(message))
    except trio.TooSlowError:
        problem = f"no auth frame within {AUTH_FRAME_TIMEOUT_S:g} s"
    except (InvalidInput, InvalidToken, Forbidden) as error:
        problem = str(error)
    except Unavailable:
        problem = "cannot check the token now: try again"
    except ConnectionClosed:
        return None
    with trio.move_on_after(close_timeout):
        await ws.aclose(CLOSE_POLICY_VIOLATION, problem[:120])
    return None


async def authenticated(ws: ServerConnection, identity: Identity) -> bool:
    """Answer the first frame ``{"Type": "authenticated", "UID", "Username"}``; False if
    the client has gone."""
    answer = {"Type": "authenticated", "UID": identity.user_id, "Username": identity.name}
    try:
        await ws.send_message(json.dumps(answer))
    except ConnectionClosed:
        return False
    return True
