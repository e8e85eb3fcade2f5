"""The seam between chat/ws/transport.py (with its stand-ins, chat/ws/standins.py) and the
trio-websocket and wsproto it reaches into, read from the installed libraries' code.

`ServerConnection` runs trio-websocket's reader in the task that waits for a message,
rewritten (`read`), with smaller stand-ins for the objects a reader task needs, and it
lets go of parts of wsproto's connection once it is open. A release of either library
that changes what that was written from must fail a test here, by name, before it fails
in production. So these tests compare:

- the reader's table of handlers with ours;
- a fingerprint of each piece of trio-websocket that transport.py rewrites or overrides
  with the one recorded from the release it was written from (comments, docstrings and
  layout do not count);
- every use trio-websocket makes of an object we replace, and wsproto of what
  `forget_handshake` replaces (trio-websocket of the request target it shortens), with
  the uses the stand-ins were written for;
- the names we add with trio-websocket's.

tests/test_websocket_reader.py compares what trio-websocket's reader and ours do.
"""

from __future__ import annotations

import ast
import hashlib
import inspect
import io
import textwrap
import tokenize
from collections.abc import Callable
from typing import Any

import pytest
import trio
import trio.testing
import trio_websocket
import trio_websocket._impl as upstream_module
import wsproto
from trio_websocket import WebSocketConnection
from wsproto import ConnectionType, WSConnection
from wsproto.connection import Connection
from wsproto.events import Event

from chat.ws import transport
from chat.ws.transport import ServerConnection

# --- what transport.py was written from ---

#: Fingerprints of the pieces of trio-websocket 0.12.2 that transport.py rewrites (the
#: reader, the request, `get_message`, `wrap_server_stream`), overrides (the handlers), or
#: whose objects it replaces (`__init__`): `fingerprint` of each.
WRITTEN_FROM = {
    "WebSocketConnection._reader_task": "2085d8fdc993af6b",
    "WebSocketConnection._get_request": "81070633bc5aa1e7",
    "WebSocketConnection.get_message": "7515118f949b7115",
    "WebSocketConnection._handle_request_event": "8c527e5dda943b57",
    "WebSocketConnection._handle_ping_event": "8b48967505ee7d6e",
    "WebSocketConnection._handle_message_event": "121e01931c14a687",
    "WebSocketConnection._handle_close_connection_event": "68f02ad92eca6fc8",
    "WebSocketConnection.__init__": "f8e2cddc11143b70",
    "wrap_server_stream": "53ea748eb24c9077",
    # Overridden for a request parsed from the front door's head (`chat.ws.upgrade`),
    # with `_send` written out for bytes made there.
    "WebSocketConnection._accept": "a0967fe2714753d8",
    "WebSocketConnection._reject": "eadcfcc54fc5038e",
    "WebSocketConnection._send": "e6ba0f018929094d",
}

#: Every use trio-websocket's connection makes of an object ServerConnection replaces:
#: (method, what it does with it). The stand-in does each one that can happen on a
#: server connection; the others are in code a server connection never runs (marked).
STAND_IN_USES = {
    "_send_channel": {
        ("__init__", "="),
        ("_close_web_socket", ".aclose"),
        ("_handle_message_event", ".send"),
        ("_reader_task", "async with"),  # rewritten (`read`)
    },
    "_recv_channel": {
        ("__init__", "="),
        ("_aclose", ".aclose"),
        ("_handle_message_event", ".aclose"),
        ("get_message", ".receive"),  # rewritten
    },
    "_open_handshake": {
        ("__init__", "="),
        ("_accept", ".set"),
        ("_handle_accept_connection_event", ".set"),
    },
    "_close_handshake": {
        ("__init__", "="),
        ("_abort_web_socket", ".set"),
        ("_aclose", ".set"),
        ("_aclose", ".wait"),
        ("_handle_close_connection_event", ".set"),
        ("_reject", ".set"),
    },
    "_for_testing_peer_closed_connection": {
        ("__init__", "="),
        ("_handle_close_connection_event", ".set"),
    },
    "_connection_proposal": {  # None: `read_request` replaces `_get_request`
        ("__init__", "="),
        ("_get_request", ".wait_value"),
        ("_get_request", "="),
        ("_get_request", "is"),
        ("_handle_request_event", ".set_value"),  # overridden
        ("_handle_request_event", "is not"),  # overridden
    },
    "_stream_lock": {("__init__", "="), ("_send", "async with")},
    "_pings": {
        ("__init__", "="),
        ("_handle_pong_event", ".popitem"),  # only after a pong matched a ping of ours
        ("_handle_pong_event", "[]"),
        ("_handle_pong_event", "truth"),
        ("ping", "[]="),  # a server never pings
        ("ping", "in"),
    },
}

#: What trio-websocket does with the request target it keeps as the connection's `path`,
#: which `forget_handshake` cuts to the path alone (the query string may hold a token):
#: sets it, and reports it (the `path` property, which chat does not read).
PATH_USES = {("__init__", "="), ("_accept", "="), ("path", "Return")}

#: What wsproto does with what `forget_handshake` replaces once the connection is open.
#: `WSConnection.handshake`: only `events` once `connection` is set (every other use is
#: behind `if self.connection is None`). `Connection._events`: append, test, popleft.
WSPROTO_USES = {
    (wsproto.WSConnection, "handshake"): {
        ("__init__", "="),
        ("events", ".events"),
        ("initiate_upgrade_connection", ".initiate_upgrade_connection"),
        ("receive_data", ".connection"),
        ("receive_data", ".receive_data"),
        ("send", ".connection"),
        ("send", ".send"),
        ("state", ".state"),
    },
    (Connection, "_events"): {
        ("__init__", "="),
        ("events", ".popleft"),
        ("events", "truth"),
        ("receive_data", ".append"),
    },
}


def fingerprint(function: Callable[..., object]) -> str:
    """A digest of `function`'s code without its comments, docstring and layout: of its
    text, the same on every Python version (a dump of its syntax tree would not be)."""
    source = textwrap.dedent(inspect.getsource(function))
    lines = source.splitlines(keepends=True)
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            row, column = token.start
            lines[row - 1] = lines[row - 1][:column] + "\n"
    (definition,) = ast.parse(source).body
    assert isinstance(definition, ast.FunctionDef | ast.AsyncFunctionDef)
    first = definition.body[0]
    if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
        del lines[first.lineno - 1 : first.end_lineno]  # the docstring
    return hashlib.sha256(" ".join("".join(lines).split()).encode()).hexdigest()[:16]


_COMPARISONS = {ast.In: "in", ast.NotIn: "not in", ast.Is: "is", ast.IsNot: "is not"}


def uses(cls: type, attribute: str) -> set[tuple[str, str]]:
    """What `cls`'s methods do with `self.<attribute>`: (method, use) pairs, the use being
    the attribute or method taken from it (".set"), or "=", "[]", "[]=", "in", "is",
    "truth", "async with"."""
    found = set()
    (definition,) = ast.parse(textwrap.dedent(inspect.getsource(cls))).body
    assert isinstance(definition, ast.ClassDef)
    for method in definition.body:
        if not isinstance(method, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        parents = {child: node for node in ast.walk(method) for child in ast.iter_child_nodes(node)}
        for node in ast.walk(method):
            if not (
                isinstance(node, ast.Attribute)
                and node.attr == attribute
                and isinstance(node.value, ast.Name)
                and node.value.id == "self"
            ):
                continue
            parent = parents[node]
            if isinstance(node.ctx, ast.Store) or isinstance(parent, ast.AnnAssign):
                use = "="
            elif isinstance(parent, ast.Attribute):
                use = "." + parent.attr
            elif isinstance(parent, ast.Subscript):
                use = "[]=" if isinstance(parent.ctx, ast.Store) else "[]"
            elif isinstance(parent, ast.Compare):
                use = " ".join(
                    sorted({_COMPARISONS.get(type(op), type(op).__name__) for op in parent.ops})
                )
            elif isinstance(parent, ast.If | ast.While | ast.BoolOp | ast.UnaryOp):
                use = "truth"
            elif isinstance(parent, ast.withitem):
                use = "async with"
            else:
                use = type(parent).__name__
            found.add((method.name, use))
    return found


def upstream(name: str) -> Any:
    """trio-websocket's `name` ("WebSocketConnection._reader_task"), as installed."""
    found: Any = upstream_module
    for part in name.split("."):
        found = getattr(found, part)
    return found


def upstream_handlers() -> dict[type[Event], str]:
    """The table in trio-websocket's `_reader_task`: event type -> handler method."""
    source = textwrap.dedent(inspect.getsource(WebSocketConnection._reader_task))
    for node in ast.walk(ast.parse(source)):
        if (
            isinstance(node, ast.Assign)
            and [ast.unparse(target) for target in node.targets] == ["handlers"]
            and isinstance(node.value, ast.Dict)
        ):
            return {
                getattr(upstream_module, ast.unparse(key)): ast.unparse(value).removeprefix("self.")
                for key, value in zip(node.value.keys, node.value.values, strict=True)
                if key is not None
            }
    raise AssertionError("trio-websocket's reader has no `handlers` table any more")


# --- the seam, read from the installed code ---


def test_our_reader_sends_each_event_to_the_handler_upstreams_reader_does() -> None:
    assert upstream_handlers() == transport._HANDLERS


@pytest.mark.parametrize("name", WRITTEN_FROM)
def test_trio_websocket_still_has_what_transport_was_written_from(name: str) -> None:
    found = fingerprint(upstream(name))
    assert found == WRITTEN_FROM[name], (
        f"trio-websocket {trio_websocket.__version__}'s {name} is not the one "
        "chat/ws/transport.py was written from (0.12.2): compare the two, bring "
        f"ServerConnection in line, then record its fingerprint here ({found!r})"
    )


@pytest.mark.parametrize("attribute", STAND_IN_USES)
def test_trio_websocket_uses_each_stand_in_only_as_it_was_written_for(attribute: str) -> None:
    found = uses(WebSocketConnection, attribute)
    assert (found - STAND_IN_USES[attribute], STAND_IN_USES[attribute] - found) == (set(), set()), (
        f"trio-websocket {trio_websocket.__version__} uses `{attribute}` differently (new "
        "uses, then gone ones): does ServerConnection's stand-in for it still do them all?"
    )


def test_trio_websocket_keeps_the_request_target_only_to_report_it() -> None:
    found = uses(WebSocketConnection, "_path")
    assert (found - PATH_USES, PATH_USES - found) == (set(), set()), (
        f"trio-websocket {trio_websocket.__version__} uses `_path` differently (new uses, "
        "then gone ones): may `forget_handshake` still cut it to the path?"
    )


@pytest.mark.parametrize(
    ("cls", "attribute"), WSPROTO_USES, ids=lambda x: getattr(x, "__name__", x)
)
def test_wsproto_uses_what_forget_handshake_replaces_only_as_it_was_written_for(
    cls: type, attribute: str
) -> None:
    found = uses(cls, attribute)
    expected = WSPROTO_USES[cls, attribute]
    assert (found - expected, expected - found) == (set(), set()), (
        f"wsproto {wsproto.__version__} uses {cls.__name__}.{attribute} differently (new "
        "uses, then gone ones): does `forget_handshake`'s replacement still do them all?"
    )


def connections() -> tuple[dict[str, Any], dict[str, Any]]:
    """The attributes of a new server connection of trio-websocket's, and of ours."""
    stream, _ = trio.testing.memory_stream_pair()
    theirs = WebSocketConnection(stream, WSConnection(ConnectionType.SERVER))
    ours = ServerConnection(stream, max_message_size=1024, close_timeout=1.0)
    return vars(theirs), vars(ours)


def test_server_connection_replaces_the_objects_it_has_stand_ins_for_and_no_other() -> None:
    theirs, ours = connections()
    assert {name for name in theirs if type(ours[name]) is not type(theirs[name])} == set(
        STAND_IN_USES
    )


def test_the_attributes_server_connection_adds_are_not_trio_websockets() -> None:
    # Were trio-websocket to add one by the same name, we would overwrite it (or it ours).
    theirs, ours = connections()
    assert set(ours) - set(theirs) == {
        "_close_timeout",
        "_messages",
        "_request",
        "_reading",
        "_read_done",
    }
    assert not set(ServerConnection.__slots__) & set(theirs)


def test_what_server_connection_overrides_is_what_it_means_to() -> None:
    # A method of ours that trio-websocket also has (a new release may add one by the
    # same name) replaces trio-websocket's: only these may.
    overrides = {
        name
        for name, value in vars(ServerConnection).items()
        if inspect.isfunction(value) and hasattr(WebSocketConnection, name) and name != "__init__"
    }
    assert overrides == {
        "get_message",
        "_accept",
        "_reject",
        "_handle_request_event",
        "_handle_ping_event",
        "_handle_message_event",
        "_handle_close_connection_event",
    }
