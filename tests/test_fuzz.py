"""The fuzz suite: generated input for every HTTP route and every WebSocket dialect never
gets a 5xx, never closes a connection with 1011, never puts a traceback or an ERROR line
in the log, and never stops the server.

What is generated (tests/fuzz_strategies.py): for every route of docs/PROTOCOL.md, bodies
with the route's own field names and values of every JSON type (huge, negative and
fractional numbers, long strings, NUL and lone surrogates, nesting a thousand deep), any
JSON, any bytes, hostile path segments and query strings, odd headers (junk, forged and
valid tokens, Content-Type, the server's own Host names in odd spellings), uploads to
``POST /files`` (raw bodies under any claimed type, forms broken in many ways, hostile
``name`` values) and reads of ``GET /files/{FileID}/{name}`` and ``/thumbnail`` (real,
mangled and hostile ids and names; Range, If-Range and If-None-Match headers of every
shape), and request heads and WebSocket handshakes no client library would send; for
every WebSocket path, frames in each dialect's shape (TokenTalker, the room protocol,
direct messages, the support protocol), any JSON, any text (invalid UTF-8 included),
binary frames, WebSocket pings and frames over the size limit, with and without valid
tokens.

What is asserted, for every example: an HTTP answer below 500, and a 4xx carries a JSON
`{"error": ...}` (except the empty 403/404 spec 001 prescribes for /v1/auth/), the errors
the HTTP layer answers to raw heads included (a head that opens with HTTP/2's preface gets
HTTP/2's own refusal); a WebSocket connection answers a `ping` sent after the frames with
`pong`, unless it was closed with a code the frames deserve (1008 for the support
protocol's refusals, 1007 for invalid UTF-8, 1009 over the size limit, 1000/1001); every
frame the server sends is JSON;
once the client has closed, the server holds none of its connections (a connection left
open forever is a leak, and one that blocks shutdown); and the server's log gained no
traceback and no ERROR or CRITICAL line. After every test, the server process is alive
and `/healthz` answers 200; at the end SIGTERM stops it cleanly (exit code 0).

Why a server process: Hypothesis runs a test's examples one after another in one call of
the test function, so they cannot share pytest-trio's per-test server (an async fixture)
or run inside its event loop. Each backend gets one `chat serve` process for the whole
module (a module-scoped, synchronous fixture; SQLite, and PostgreSQL in a throwaway
schema), driven by synchronous clients (httpx, websockets' sync client, raw sockets). Its
log is a file, read after every example, so a traceback fails the example that caused it
and Hypothesis shrinks that example to a minimal reproducer. A bug found this way goes
into tests/corpus/hostile_inputs.json, which tests/test_hostile_corpus.py replays.

Budget: CHAT_FUZZ_EXAMPLES examples per test and backend (default 40: the module takes
well under a minute on both backends on a loaded two-core machine). Set it higher to fuzz
longer, e.g. CHAT_FUZZ_EXAMPLES=1000. Hypothesis keeps no example database (nothing is
written into the repository); a failure prints the example and how to reproduce it.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from files_support import png
from fuzz_strategies import (
    MAX_FRAME,
    HttpRequest,
    Known,
    WsPlan,
    any_body_requests,
    any_frame_plans,
    direct_plans,
    file_read_requests,
    file_upload_requests,
    header_requests,
    path_requests,
    raw_http_requests,
    room_plans,
    support_plans,
    tokentalker_plans,
    well_shaped_requests,
)
from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st
from support import (
    PASSWORD,
    STEP,
    TEST_SECRET,
    chat_environ,
    server_config,
    throwaway_postgres_schema_outside_trio,
)
from websockets.exceptions import (
    ConcurrencyError,
    ConnectionClosed,
    InvalidHandshake,
    InvalidStatus,
)
from websockets.sync.client import connect

from chat.core.config import Config
from chat.http.server import HTTP2_REFUSED
from chat.net.raw_response import http2_refusal

EXAMPLES = int(os.environ.get("CHAT_FUZZ_EXAMPLES", "40"))

fuzz = settings(
    max_examples=EXAMPLES,
    # Each example is a round trip to a real server: its time says nothing about the code.
    deadline=None,
    # Nothing written into the repository: a failure prints its example instead.
    database=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.large_base_example,
        HealthCheck.filter_too_much,
        # `server_survives` (autouse) checks the server once after all of a test's
        # examples, on purpose.
        HealthCheck.function_scoped_fixture,
    ],
)

#: How long `chat serve` may take to start listening, and to stop after SIGTERM.
START_TIMEOUT = 30.0
STOP_TIMEOUT = 15.0
#: How long a connection the server dropped may take to show in its log.
SETTLE_S = 0.2
#: How long the server may take to close a connection whose client closed it: longer
#: than its keep-alive timeout (5 s), because a client's close of an idle keep-alive
#: connection goes unnoticed until then. A connection held longer is held for good.
RELEASE_TIMEOUT = 7.0

_LISTENING = re.compile(rb"listening on http://(\S+?):(\d+) ")
#: A traceback, or a record at ERROR or above, in the format of chat/server/cli.py's logging.
_PROBLEM = re.compile(
    r"^.*Traceback \(most recent call last\).*$"
    r"|^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (?:ERROR|CRITICAL) .*$",
    re.MULTILINE,
)


@dataclass
class FuzzedServer:
    """A `chat serve` process of this module's, its log, and what it holds."""

    process: subprocess.Popen[bytes]
    log_path: Path
    port: int
    known: Known
    http: httpx.Client
    #: How far the log has been searched for problems.
    checked: int = 0

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_size(self) -> int:
        return self.log_path.stat().st_size

    def problems_since(self, offset: int) -> list[str]:
        """Tracebacks and ERROR lines logged since `offset`, each with what follows it."""
        with self.log_path.open("rb") as log:
            log.seek(offset)
            data = log.read()
        self.checked = offset + len(data)
        text = data.decode("utf-8", "replace")
        return [text[m.start() : m.start() + 2000] for m in _PROBLEM.finditer(text)]

    def judge(self, offset: int, what: str, problem: str | None = None) -> None:
        """Fail if there is a `problem` with the answer to `what`, if the server still holds
        a connection of the client that sent it, or if it logged a problem since `offset`;
        the message shows them all."""
        if problem is None:
            problem = self.connections_released()
        if problem is not None:
            time.sleep(SETTLE_S)  # what the server logs about it may come just after
        complaints = [problem] if problem is not None else []
        complaints += [f"the server logged:\n{logged}" for logged in self.problems_since(offset)]
        assert not complaints, f"{what}\n" + "\n---\n".join(complaints)

    def connections_released(self) -> str | None:
        """None once the server has closed every connection of ours (which are all closed
        between examples); what it still holds after RELEASE_TIMEOUT s otherwise."""
        deadline = time.monotonic() + RELEASE_TIMEOUT
        while (held := _held_connections(self.port)) and time.monotonic() < deadline:
            time.sleep(0.005)
        if not held:
            return None
        return f"{held} connection(s) still open on the server's side after the client left"


def _held_connections(port: int) -> int:
    """Sockets on the server's side of `port` still open: ESTABLISHED or CLOSE_WAIT (the
    client closed, the server has not), from the kernel's table of IPv4 TCP sockets."""
    held = 0
    with open("/proc/net/tcp") as table:
        next(table)
        for line in table:
            local, _, state = line.split()[1:4]
            if int(local.rpartition(":")[2], 16) == port and state in ("01", "08"):
                held += 1
    return held


# --- The server ---------------------------------------------------------------------------


def _wait_until_listening(process: subprocess.Popen[bytes], log_path: Path) -> int:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        match = _LISTENING.search(log_path.read_bytes())
        if match is not None:
            return int(match.group(2))
        if process.poll() is not None:
            break
        time.sleep(0.05)
    log = log_path.read_text(errors="replace")
    pytest.fail(f"chat serve did not start (exit code {process.poll()}):\n{log}")


def _stop(process: subprocess.Popen[bytes]) -> int:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            return process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
    return process.wait()


@contextlib.contextmanager
def _serving(config: Config, log_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "chat", "serve"],
            env=chat_environ(config),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        yield process, _wait_until_listening(process, log_path)
    finally:
        code = _stop(process)
    if code != 0:
        what = f"exited with {code}"
        if code == -signal.SIGKILL:
            what = f"did not stop within {STOP_TIMEOUT} s of SIGTERM (killed)"
        pytest.fail(f"chat serve {what}:\n" + log_path.read_text(errors="replace"))


def _add_operator(config: Config) -> None:
    """`chat user add operator --admin`, as an administrator creates one."""
    done = subprocess.run(
        [
            *(sys.executable, "-m", "chat", "user", "add", "operator", "--admin"),
            *("--password-stdin", "--email", "operator@example.com"),
        ],
        env=chat_environ(config),
        input=f"{PASSWORD}\n".encode(),
        capture_output=True,
        timeout=START_TIMEOUT,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode(errors="replace")


def _call(
    http: httpx.Client, method: str, path: str, token: str | None = None, **json_: Any
) -> Any:
    headers = {"Authorization": token} if token is not None else {}
    response = http.request(method, path, json=json_ or None, headers=headers)
    assert response.status_code < 300, f"{method} {path}: {response.status_code} {response.text}"
    return response.json()


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def fuzzed(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[FuzzedServer]:
    """One `chat serve` for the module, on each backend in turn, with two users (one an
    operator) and two rooms (one private); stopped (and its whole log checked) at the end."""
    tmp_path = tmp_path_factory.mktemp(f"fuzz-{request.param}")
    with contextlib.ExitStack() as stack:
        url = None
        if request.param == "postgres":
            url = stack.enter_context(throwaway_postgres_schema_outside_trio())
        # Rate limits stay off (server_config): the fuzzer is one address sending at
        # machine speed, and 429s from the limits and the connection cap would hide
        # everything behind them.
        # The fuzzer is a trusted proxy, so that its X-Forwarded-For values are read (and
        # keyed: chat/core/client_address.py), as a proxy's are.
        config = server_config(tmp_path, url, log_level="INFO", trusted_proxies=("127.0.0.1",))
        _add_operator(config)
        log_path = tmp_path / "chat.log"
        process, port = stack.enter_context(_serving(config, log_path))
        # A new connection per request: a request that breaks one cannot spoil the next.
        # `Connection: close` makes the server close it at once after answering, so each
        # example can check it let go (an idle keep-alive connection the client closed
        # lingers on the server's side until its keep-alive timeout, 5 s).
        http = stack.enter_context(
            httpx.Client(
                base_url=f"http://127.0.0.1:{port}",
                timeout=STEP,
                trust_env=False,
                limits=httpx.Limits(max_keepalive_connections=0),
                headers={"Connection": "close"},
            )
        )
        user = _call(
            http,
            "POST",
            "/register",
            Username="target",
            Email="target@example.com",
            Password=PASSWORD,
        )
        user_token = _call(http, "PUT", "/login", Email="target@example.com", Password=PASSWORD)
        operator_token = _call(
            http, "PUT", "/login", Email="operator@example.com", Password=PASSWORD
        )
        operator = _call(http, "GET", "/profile", operator_token["token"])
        public = _call(
            http, "POST", "/create-room", user_token["token"], Name="open", IsPrivate=False
        )
        private = _call(
            http, "POST", "/create-room", operator_token["token"], Name="closed", IsPrivate=True
        )
        known = Known(
            port=port,
            secret=TEST_SECRET,
            password=PASSWORD,
            user_token=user_token["token"],
            operator_token=operator_token["token"],
            user_uid=user["UID"],
            operator_uid=operator["UID"],
            names=("target", "operator", "Target"),
            emails=("target@example.com", "operator@example.com"),
            room_ids=(1, public["RoomID"], private["RoomID"]),
        )
        server = FuzzedServer(process, log_path, port, known, http)
        yield server
        offset = server.log_size()
    # It stopped cleanly (`_serving`), and logged no problem while stopping (each test
    # checked its own part of the log).
    server.judge(offset, "SIGTERM")


@pytest.fixture(autouse=True)
def server_survives(fuzzed: FuzzedServer) -> Iterator[None]:
    """After each test: the process is alive, answers /healthz, and logged no problem
    (not even one that surfaced after the example that caused it)."""
    fuzzed.checked = fuzzed.log_size()
    yield
    assert fuzzed.process.poll() is None, fuzzed.log_path.read_text(errors="replace")
    health = fuzzed.http.get("/healthz")
    assert health.status_code == 200, health.text
    # From where the examples' own checks stopped (a problem they found fails only them).
    fuzzed.judge(fuzzed.checked, "after the examples")


# --- HTTP ---------------------------------------------------------------------------------


def _throwaway_token(fuzzed: FuzzedServer) -> str:
    """A new account's token, for the routes that revoke the caller's tokens."""
    name = f"throwaway-{secrets.token_hex(6)}"
    return _call(fuzzed.http, "POST", "/api/reg", username=name, password=PASSWORD)["token"]


def _send(fuzzed: FuzzedServer, request: HttpRequest) -> httpx.Response:
    headers: dict[str, bytes] = {}
    known = fuzzed.known
    token = {
        "user": known.user_token,
        "operator": known.operator_token,
        "revoking": _throwaway_token(fuzzed) if request.auth == "revoking" else None,
    }.get(request.auth or "")
    if token is not None:
        headers["Authorization"] = f"Bearer {token}".encode()
    headers.update(request.headers)
    if request.auth == "revoking" and token is not None and "Authorization" in request.headers:
        # A route that revokes never gets a shared token (it would revoke it for the
        # tests that follow): the throwaway one stands in for it.
        for shared in known.tokens:
            headers["Authorization"] = headers["Authorization"].replace(
                shared.encode(), token.encode()
            )
    try:
        return fuzzed.http.request(
            request.method, fuzzed.base + request.target, content=request.body, headers=headers
        )
    except httpx.InvalidURL:
        # httpx will not send it (a URL over 64 KiB, say): nothing reached the server.
        # Raw heads of any size are the raw tests' job.
        reject()


#: Answers whose body is empty by the specification: spec 001's /v1/auth/ refusals.
_EMPTY_BY_SPEC = re.compile(r"^/v1/auth/?(?:\?|$)")


def _what_is_wrong(request: HttpRequest, response: httpx.Response) -> str | None:
    status = response.status_code
    if status >= 500:
        return f"status {status}: {response.text[:500]}"
    if status < 400 or request.method == "HEAD":
        return None
    if not response.content:
        if status in (403, 404) and _EMPTY_BY_SPEC.match(request.target):
            return None
        return f"status {status} with an empty body"
    try:
        body = response.json()
    except ValueError:
        return f"status {status} with a body that is not JSON: {response.text[:300]}"
    if not (isinstance(body, dict) and isinstance(body.get("error"), str) and body["error"]):
        return f"status {status} without an error: {response.text[:300]}"
    return None


def _exchange(fuzzed: FuzzedServer, request: HttpRequest) -> None:
    offset = fuzzed.log_size()
    try:
        response = _send(fuzzed, request)
    except httpx.TransportError as error:
        problem: str | None = f"no answer ({error!r})"
    else:
        problem = _what_is_wrong(request, response)
    fuzzed.judge(offset, f"{request.method} {request.target[:300]}", problem)


@fuzz
@given(data=st.data())
def test_route_fields_with_values_of_any_type_never_get_a_5xx(
    fuzzed: FuzzedServer, data: st.DataObject
) -> None:
    _exchange(fuzzed, data.draw(well_shaped_requests(fuzzed.known)))


@fuzz
@given(data=st.data())
def test_any_body_with_any_method_never_gets_a_5xx(
    fuzzed: FuzzedServer, data: st.DataObject
) -> None:
    _exchange(fuzzed, data.draw(any_body_requests(fuzzed.known)))


@fuzz
@given(data=st.data())
def test_hostile_path_segments_and_query_strings_never_get_a_5xx(
    fuzzed: FuzzedServer, data: st.DataObject
) -> None:
    _exchange(fuzzed, data.draw(path_requests(fuzzed.known)))


@fuzz
@given(data=st.data())
def test_odd_headers_and_forged_tokens_never_get_a_5xx(
    fuzzed: FuzzedServer, data: st.DataObject
) -> None:
    _exchange(fuzzed, data.draw(header_requests(fuzzed.known)))


# --- Files ---------------------------------------------------------------------------------


def _upload(fuzzed: FuzzedServer, token: str, name: str, data: bytes) -> str:
    response = fuzzed.http.post(
        f"/files?name={name}", content=data, headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 201, response.text
    return str(response.json()["FileID"])


@pytest.fixture(scope="module", autouse=True)
def file_ids(fuzzed: FuzzedServer) -> tuple[str, ...]:
    """Files of the fuzzed server's: the user's image not attached yet (its thumbnail
    too), the operator's text file in a message of the lobby, and one whose message was
    deleted. Made before any example runs (autouse), while the shared tokens are sure to
    be valid."""
    known = fuzzed.known
    image = _upload(fuzzed, known.user_token, "plan.png", png(64, 48))
    shared = _upload(fuzzed, known.operator_token, "notes.txt", b"0123456789" * 100)
    gone = _upload(fuzzed, known.user_token, "gone.bin", b"\x00" * 300)
    _call(fuzzed.http, "POST", "/messages/1", known.operator_token, Text="", Files=[shared])
    posted = _call(fuzzed.http, "POST", "/messages/1", known.user_token, Text="", Files=[gone])
    fuzzed.http.delete(
        f"/messages/1/{posted['MessageID']}", headers={"Authorization": known.user_token}
    )
    return image, shared, gone


@fuzz
@given(data=st.data())
def test_uploads_of_any_shape_never_get_a_5xx(fuzzed: FuzzedServer, data: st.DataObject) -> None:
    _exchange(fuzzed, data.draw(file_upload_requests(fuzzed.known)))


@fuzz
@given(data=st.data())
def test_file_reads_with_hostile_ids_names_and_ranges_never_get_a_5xx(
    fuzzed: FuzzedServer, file_ids: tuple[str, ...], data: st.DataObject
) -> None:
    _exchange(fuzzed, data.draw(file_read_requests(fuzzed.known, file_ids)))


# --- Raw requests -------------------------------------------------------------------------

_STATUS_LINE = re.compile(rb"^HTTP/\d\.\d (\d{3})")


_CONTENT_LENGTH = re.compile(rb"(?im)^content-length:[ \t]*(\d+)[ \t]*\r?$")


def _raw_exchange(port: int, data: bytes) -> bytes:
    """Send `data` on a new connection; the first answer: its head and its Content-Length
    body (b"" if the server closed the connection without one; what came before it
    closed, for an answer cut short or not HTTP)."""
    answer = b""
    with (
        socket.create_connection(("127.0.0.1", port), timeout=STEP) as sock,
        contextlib.suppress(ConnectionResetError, BrokenPipeError),
    ):
        sock.sendall(data)
        while True:
            head, blank, body = answer.partition(b"\r\n\r\n")
            length = _CONTENT_LENGTH.search(head) if blank else None
            if blank and (length is None or len(body) >= int(length.group(1))):
                # A second answer (to bytes after the request) may come in the same
                # read: only the first is judged.
                return head + blank + (body[: int(length.group(1))] if length else body)
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
    return answer


def _raw_check(fuzzed: FuzzedServer, data: bytes) -> None:
    offset = fuzzed.log_size()
    answer = _raw_exchange(fuzzed.port, data)
    status = _STATUS_LINE.match(answer)
    problem = None
    if status is None:
        if answer == _HTTP2_REFUSAL and data.startswith(b"PRI * HTTP/2.0\r\n"):
            pass  # HTTP/2's preface, refused in HTTP/2's terms (tests/test_http2.py)
        elif not (answer == b"" and _ends_with_the_first_request(data)):
            problem = f"the answer is not an HTTP response: {answer[:300]!r}"
    elif int(status.group(1)) >= 500 and not _unimplemented_coding(data, status.group(1)):
        problem = f"answered {answer[:500]!r}"
    elif int(status.group(1)) >= 400:
        problem = _raw_error_problem(data, answer)
    fuzzed.judge(offset, repr(data), problem)


#: What a client that opens with HTTP/2's connection preface is answered.
_HTTP2_REFUSAL = http2_refusal(HTTP2_REFUSED)


def _raw_error_problem(request: bytes, answer: bytes) -> str | None:
    """What is wrong with an error answer to a raw request, or None: like every error, it
    carries a JSON ``{"error": ...}`` (docs/PROTOCOL.md), but for HEAD and the empty
    answers spec 001 prescribes for /v1/auth/."""
    method, _, rest = request.partition(b" ")
    target = rest.partition(b" ")[0].decode("latin-1")
    if method == b"HEAD" or _EMPTY_BY_SPEC.match(target):
        return None
    head, _, body = answer.partition(b"\r\n\r\n")
    if not re.search(rb"(?im)^content-type:[ \t]*application/json[ \t]*\r?$", head):
        return f"an error that is not JSON: {answer[:500]!r}"
    try:
        error = json.loads(body)["error"]
    except (ValueError, KeyError, TypeError):
        return f"an error without an error string: {answer[:500]!r}"
    return None if isinstance(error, str) and error else f"an empty error: {answer[:500]!r}"


def _ends_with_the_first_request(request: bytes) -> bool:
    """True for a request that ends its connection (HTTP/1.0, HTTP/0.9 or
    ``Connection: close``, as h11 decides) followed by more bytes in the same send.
    The bytes after it are a protocol error, and Hypercorn's reader may close the
    connection before the app's answer is written (a race inside Hypercorn): no answer is
    allowed then, a 5xx or a logged error is not."""
    head, blank, rest = request.partition(b"\r\n\r\n")
    if not (blank and rest):
        return False
    request_line, _, headers = head.partition(b"\r\n")
    version = re.search(rb"HTTP/(\d)\.(\d)$", request_line)
    if version is not None and (int(version[1]), int(version[2])) < (1, 1):
        return True
    connection = re.findall(rb"(?im)^connection:([^\r\n]*)", headers)
    return any(b"close" in value.lower().replace(b" ", b"").split(b",") for value in connection)


def _unimplemented_coding(request: bytes, status: bytes) -> bool:
    """A 501 for a transfer coding other than chunked: what RFC 9112 (6.1) says a server
    answers to a coding it does not implement, and Hypercorn does, not a failure."""
    codings = re.findall(rb"(?im)^transfer-encoding:([^\r\n]*)", request)
    return status == b"501" and any(c.strip().lower() != b"chunked" for c in codings)


@fuzz
@given(data=st.data())
def test_malformed_request_heads_never_get_a_5xx(fuzzed: FuzzedServer, data: st.DataObject) -> None:
    _raw_check(fuzzed, data.draw(raw_http_requests(fuzzed.known, upgrade=False)))


@fuzz
@given(data=st.data())
def test_malformed_websocket_handshakes_never_get_a_5xx(
    fuzzed: FuzzedServer, data: st.DataObject
) -> None:
    _raw_check(fuzzed, data.draw(raw_http_requests(fuzzed.known, upgrade=True)))


# --- WebSocket ----------------------------------------------------------------------------


def _deserved_close_codes(plan: WsPlan) -> set[int]:
    """The close codes the plan's frames may earn (besides 1000 and 1001)."""
    codes = {1000, 1001}
    for frame in plan.frames:
        if len(frame.data) > MAX_FRAME:
            codes.add(1009)
        if frame.text:
            try:
                frame.data.decode("utf-8")
            except UnicodeDecodeError:
                codes.add(1007)
            if b'"method"' in frame.data:
                codes.add(1008)  # a support frame: refused before message.auth
    if plan.path.startswith("/v1/ws"):
        codes.add(1008)
    return codes


def _play(fuzzed: FuzzedServer, plan: WsPlan) -> str | None:
    """Open the plan's connection, send its frames and a `ping`; what went wrong, or None."""
    try:
        ws = connect(
            f"ws://127.0.0.1:{fuzzed.port}{plan.path}",
            additional_headers=list(plan.headers),
            compression=None,
            proxy=None,
            open_timeout=STEP,
            close_timeout=2,
            ping_interval=None,
            max_size=None,
        )
    except InvalidStatus as refused:
        status = refused.response.status_code
        return f"handshake answered {status}: {refused.response.body!r}" if status >= 500 else None
    except (InvalidHandshake, OSError) as error:  # TimeoutError is an OSError
        return f"the handshake failed: {error!r}"
    deserved = _deserved_close_codes(plan)
    received: list[str] = []
    with ws:
        try:
            for frame in plan.frames:
                if frame.ping:
                    # Its pong is not waited for. The client library refuses a second
                    # ping with the payload of one still unanswered: nothing is sent then.
                    with contextlib.suppress(ConcurrencyError):
                        ws.ping(frame.data)
                else:
                    ws.send(frame.data, text=frame.text)
            ws.send("ping")
            while (message := ws.recv(timeout=STEP)) != "pong":
                if not isinstance(message, str):
                    return f"a binary frame from the server: {message[:200]!r}"
                received.append(message)
                json.loads(message)  # every frame the server sends is JSON
        except TimeoutError:
            return f"no pong within {STEP} s; received {received[-5:]}"
        except ValueError:
            return f"a frame that is not JSON: {received[-1][:300]!r}"
        except ConnectionClosed as closed:
            if closed.rcvd is None:
                # A socket closed without a close frame: only when the frames deserved a
                # close (after which the server closes the socket, RFC 6455 7.1.7, and our
                # frames still in flight make its TCP stack reset, losing its close frame).
                if deserved - {1000, 1001}:
                    return None
                return f"closed without a close frame; received {received[-5:]}"
            code = closed.rcvd.code
            if code in deserved:
                return None
            return f"closed with {code} {closed.rcvd.reason!r}; received {received[-5:]}"
    return None


def _converse(fuzzed: FuzzedServer, plan: WsPlan) -> None:
    offset = fuzzed.log_size()
    fuzzed.judge(offset, repr(plan), _play(fuzzed, plan))


@fuzz
@given(data=st.data())
def test_tokentalker_frames_of_any_shape_never_break_the_connection(
    fuzzed: FuzzedServer, data: st.DataObject
) -> None:
    _converse(fuzzed, data.draw(tokentalker_plans(fuzzed.known)))


@fuzz
@given(data=st.data())
def test_room_protocol_frames_of_any_shape_never_break_the_connection(
    fuzzed: FuzzedServer, data: st.DataObject
) -> None:
    _converse(fuzzed, data.draw(room_plans(fuzzed.known)))


@fuzz
@given(data=st.data())
def test_direct_message_frames_of_any_shape_never_break_the_connection(
    fuzzed: FuzzedServer, data: st.DataObject
) -> None:
    _converse(fuzzed, data.draw(direct_plans(fuzzed.known)))


@fuzz
@given(data=st.data())
def test_support_frames_of_any_shape_never_break_the_connection(
    fuzzed: FuzzedServer, data: st.DataObject
) -> None:
    _converse(fuzzed, data.draw(support_plans(fuzzed.known)))


@fuzz
@given(data=st.data())
def test_any_text_or_binary_frame_on_any_path_never_breaks_the_connection(
    fuzzed: FuzzedServer, data: st.DataObject
) -> None:
    _converse(fuzzed, data.draw(any_frame_plans(fuzzed.known)))
