"""Hypothesis strategies for tests/test_fuzz.py: hostile values in the protocol's shapes.

Everything here is data: JSON values of every type (huge, negative and fractional numbers,
long strings, NUL and lone surrogates, nesting far past the server's limit), then HTTP
requests for every route of docs/PROTOCOL.md and frames for every WebSocket dialect built
from them. Values the server knows (valid tokens, user and room ids, the password) are
mixed in through `Known`, so that the authenticated and successful paths are reached too,
not only the refusals at the door.

JSON is written by `encode`, not `json.dumps`, so that a value may hold `Raw` text put in
verbatim: numbers of thousands of digits (Python will not print them), `NaN`, nesting a
thousand deep (Python would recurse that deep), or JSON that is subtly not JSON.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from hypothesis import strategies as st

#: The server's default CHAT_MAX_FRAME and CHAT_MAX_TEXT (the fuzzed server keeps them).
MAX_FRAME = 65536
MAX_TEXT = 4096


@dataclass(frozen=True)
class Raw:
    """JSON text that `encode` writes as it is, wherever it stands in a value."""

    text: str


@dataclass(frozen=True)
class Known:
    """What the fuzzed server holds: accounts, rooms and where it listens."""

    port: int
    secret: str
    password: str
    user_token: str
    operator_token: str
    user_uid: int
    operator_uid: int
    names: tuple[str, ...]
    emails: tuple[str, ...]
    room_ids: tuple[int, ...]

    @property
    def tokens(self) -> tuple[str, str]:
        return self.user_token, self.operator_token

    @property
    def uids(self) -> tuple[int, int]:
        return self.user_uid, self.operator_uid


# --- JSON values -------------------------------------------------------------------------

#: Characters of every kind, control characters, NUL and lone surrogates included.
any_character = st.characters(exclude_categories=())

#: Strings that have meant something to the server (names, commands, limits).
SPECIAL_STRINGS = (
    "",
    " ",
    "\x00",
    "\ud800",
    "\udfff",
    "a\x00b",
    "\u200b",
    "\u202e",
    "\ufeff",
    "server",
    "\u0455erver",  # a Cyrillic s
    "admin",
    "ping",
    "auth",
    "auth ",
    "history",
    "history 0",
    "history 101",
    "history -1",
    "history 1e3",
    "enter",
    "message",
    "message.auth",
    "message.send",
    "message.operatorSend",
    "null",
    "true",
    "1",
    "-1",
    "0x10",
    "١٢",
    "Bearer",
    "a@b.c",
    "@",
    "x" * (MAX_TEXT + 1),
    "\ufdfa" * 255,  # 18 characters each under NFKC: a 4,590-character name key
    "\ufdfa" * 240 + "@x.example",
)

texts = st.one_of(
    st.text(max_size=30),
    st.text(any_character, max_size=30),
    st.sampled_from(SPECIAL_STRINGS),
    # Long runs, past the text limit (a character of up to 12 bytes in JSON: stays well
    # under the body and frame limits).
    st.builds(
        lambda c, n: c * n, st.sampled_from(["a", "é", "😀", " ", "\x00"]), st.integers(0, 4200)
    ),
)

#: Integers around every boundary: ids are 1 to 2^63-1, the parser takes 20 digits.
BOUNDARY_INTEGERS = (
    0,
    1,
    -1,
    2**31,
    2**53 + 1,
    2**63 - 1,
    2**63,
    -(2**63),
    2**64,
    10**20 - 1,
    10**20,
)

integers = st.one_of(
    st.integers(-1000, 1000),
    st.sampled_from(BOUNDARY_INTEGERS),
    st.integers(min_value=-(2**70), max_value=2**70),
)

#: Numbers only raw JSON can hold, and almost-numbers.
raw_numbers = st.one_of(
    st.builds(lambda n: Raw("1" * n), st.integers(19, 6000)),
    st.builds(lambda n: Raw("-" + "9" * n), st.integers(19, 400)),
    st.sampled_from(
        [Raw(t) for t in ("NaN", "Infinity", "-Infinity", "1e400", "-0", "1E2", "1.0", "0.5e-999")]
    ),
)

#: Nesting past the parser's 32 levels (and far past Python's recursion limit).
deep_nesting = st.builds(
    lambda depth, array: (
        Raw("[" * depth + "1" + "]" * depth) if array else Raw('{"a":' * depth + "1" + "}" * depth)
    ),
    st.integers(1, 1500),
    st.booleans(),
)

scalars = st.one_of(
    st.none(),
    st.booleans(),
    integers,
    st.floats(allow_nan=True, allow_infinity=True),
    texts,
)

json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(texts, children, max_size=4),
    max_leaves=12,
)

#: Anything that may stand where a JSON value goes.
values = st.one_of(json_values, raw_numbers, deep_nesting)


def encode(value: Any, *, ascii_only: bool = True) -> bytes:
    """`value` as JSON bytes. With `ascii_only`, every non-ASCII character is escaped, so
    NUL and lone surrogates arrive as \\u escapes; without, a lone surrogate makes the
    bytes invalid UTF-8 (encoded with surrogatepass)."""
    return _encode(value, ascii_only).encode("utf-8", "surrogatepass")


def _encode(value: Any, ascii_only: bool) -> str:
    if isinstance(value, Raw):
        return value.text
    if isinstance(value, dict):
        items = (
            f"{_encode(str(k), ascii_only)}:{_encode(v, ascii_only)}" for k, v in value.items()
        )
        return "{" + ",".join(items) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(_encode(item, ascii_only) for item in value) + "]"
    return json.dumps(value, ensure_ascii=ascii_only)


def encodings(value: Any) -> st.SearchStrategy[bytes]:
    """`value` as JSON, escaped or not (then maybe invalid UTF-8)."""
    return st.builds(lambda ascii_only: encode(value, ascii_only=ascii_only), st.booleans())


# --- Values the server knows -------------------------------------------------------------


def signed_token(header: Any, claims: Any, secret: str) -> str:
    """A JWT with any header and claims (raw JSON allowed), signed with HS256 by `secret`."""

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    signing_input = f"{b64(encode(header))}.{b64(encode(claims))}"
    signature = hmac.new(secret.encode(), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(signature)}"


def forged_tokens(known: Known) -> st.SearchStrategy[str]:
    """Tokens signed with the server's own key (or another) whose header or claims are
    wrong: every claim optional and of any type, `alg` anything."""
    claim_values = st.one_of(values, st.sampled_from([str(uid) for uid in known.uids]))
    claims = st.fixed_dictionaries(
        {},
        optional={"sub": claim_values, "name": values, "iat": values, "exp": values, "ver": values},
    )
    header = st.one_of(
        st.just({"alg": "HS256", "typ": "JWT"}),
        st.fixed_dictionaries({}, optional={"alg": values, "typ": values, "kid": values}),
    )
    secret = st.sampled_from([known.secret, "another secret of thirty-two bytes!!"])
    return st.builds(signed_token, header, claims | json_values, secret)


def tokens(known: Known) -> st.SearchStrategy[str]:
    """Valid tokens (often), forged ones, mangled ones and junk."""
    valid = st.sampled_from(known.tokens)
    return st.one_of(
        valid,
        valid,
        forged_tokens(known),
        st.builds(lambda t, cut: t[:cut], valid, st.integers(0, 200)),
        st.builds(lambda t, junk: t + junk, valid, texts),
        st.sampled_from(["eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0.", "a.b.c", "..", "."]),
        texts,
    )


def ids(known: Known) -> st.SearchStrategy[Any]:
    """What may stand where an id goes: real ids (often), edges, and other types."""
    real = st.sampled_from(known.room_ids + known.uids)
    return st.one_of(real, real, integers, raw_numbers, values)


def field_values(known: Known) -> st.SearchStrategy[Any]:
    """A value for any field: one the server knows (a name, an e-mail, the password, an
    id, a token) or any hostile one."""
    known_strings = st.sampled_from((known.password, *known.names, *known.emails))
    return st.one_of(known_strings, ids(known), tokens(known), values)


# --- HTTP --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    fields: tuple[str, ...] = ()
    #: PUT /password and POST /logout-everywhere revoke the caller's tokens: fuzzed with a
    #: throwaway account's token, so the shared ones stay valid.
    revokes: bool = False


#: Every route of docs/PROTOCOL.md with a fixed path, and the fields of its JSON body.
ROUTES = (
    Route("POST", "/auth", ("name", "password", "code")),
    Route("POST", "/api/reg", ("username", "password")),
    Route("POST", "/api/login", ("username", "password", "code")),
    Route("POST", "/signup", ("email", "name", "password")),
    Route("POST", "/login", ("email", "password", "code")),
    Route("POST", "/register", ("Username", "Email", "Password")),
    Route("PUT", "/login", ("Email", "Password", "Code")),
    Route("GET", "/profile"),
    Route("PUT", "/change-name", ("NewName",)),
    Route("PUT", "/profile", ("DisplayName",)),
    Route("PUT", "/profile/avatar"),
    Route("DELETE", "/profile/avatar"),
    Route("PUT", "/me/status", ("Emoji", "Text", "Until", "Presence")),
    Route("DELETE", "/me/status"),
    Route("GET", "/avatars/1/avatar-1-x"),
    Route("GET", "/sessions"),
    Route("DELETE", "/sessions/x"),
    Route("PUT", "/password", ("OldPassword", "NewPassword", "Code"), revokes=True),
    Route("POST", "/logout-everywhere", revokes=True),
    Route("POST", "/session", ("Username", "Password", "Code", "Remember")),
    Route("GET", "/me/2fa"),
    Route("POST", "/me/2fa"),
    Route("POST", "/me/2fa/confirm", ("Code",)),
    Route("DELETE", "/me/2fa", ("Password", "Code")),
    Route("POST", "/session/refresh"),
    Route("POST", "/logout"),
    Route("POST", "/create-room", ("Name", "IsPrivate")),
    Route("PUT", "/join", ("RoomID",)),
    Route("PUT", "/invite", ("RoomID", "UID")),
    Route("POST", "/dm", ("UIDs",)),
    Route("GET", "/rooms"),
    Route("GET", "/rooms/details"),
    Route("GET", "/rooms/unread"),
    Route("GET", "/rooms/public"),
    Route("GET", "/users?prefix=a"),
    Route("GET", "/room/1/members"),
    Route("GET", "/room/2/members?after=1"),
    Route("GET", "/room/1/notifications"),
    Route("PUT", "/room/1/notifications", ("Level",)),
    Route("GET", "/push/key"),
    Route("POST", "/push/subscriptions", ("endpoint", "keys")),
    Route("DELETE", "/push/subscriptions", ("endpoint",)),
    Route("GET", "/messages/1", ("LastID",)),
    Route("GET", "/messages/1?around=1", ("LastID",)),
    Route("GET", "/messages/1?after=1&limit=5"),
    Route("GET", "/search?q=hello"),
    Route("GET", "/search?q=%22a%20b%22%20NEAR(x*)&room=1&from=alice&before=9&limit=5"),
    Route("POST", "/messages/1", ("Text", "ReplyTo", "ClientMsgID", "ThreadID", "AlsoToRoom")),
    Route("PATCH", "/messages/1/1", ("Text",)),
    Route("DELETE", "/messages/1/2"),
    Route("GET", "/messages/1/1/edits"),
    Route("PUT", "/messages/1/1/reactions/%F0%9F%91%8D"),
    Route("DELETE", "/messages/1/1/reactions/:x:"),
    Route("PUT", "/messages/1/1/pin"),
    Route("DELETE", "/messages/1/1/pin"),
    Route("GET", "/room/1/pins"),
    Route("GET", "/messages/1/threads/1?after=1&limit=5"),
    Route("GET", "/room/1/threads?limit=5"),
    Route("PUT", "/room/2/members/1", ("Role",)),
    Route("DELETE", "/room/2/members/me"),
    Route("DELETE", "/room/2/members/3", ("Reason",)),
    Route("GET", "/room/2/bans"),
    Route("PUT", "/room/2/bans/3", ("Reason", "Until", "Seconds")),
    Route("DELETE", "/room/2/bans/3"),
    Route("GET", "/room/1/mutes"),
    Route("PUT", "/room/1/mutes/3", ("Reason", "Until", "Seconds")),
    Route("DELETE", "/room/2/mutes/3"),
    Route(
        "PUT",
        "/room/2/settings",
        ("Name", "Topic", "IsPrivate", "SlowModeSeconds", "RetentionDays"),
    ),
    Route("GET", "/room/2/audit?before=9&limit=5"),
    Route("GET", "/audit?limit=2"),
    Route("POST", "/reports", ("MessageID", "Reason")),
    Route("GET", "/room/2/reports?status=all&limit=3"),
    Route("GET", "/reports?status=open"),
    Route("PUT", "/reports/1", ("Status",)),
    Route("PUT", "/me/saved/1"),
    Route("DELETE", "/me/saved/1"),
    Route("GET", "/me/saved?before=9&limit=5"),
    Route("GET", "/me/saved/ids"),
    Route("POST", "/files?name=fuzz.bin"),
    Route("GET", "/files/x/fuzz.bin"),
    Route("GET", "/files/x/thumbnail"),
    Route("POST", "/v1/auth/", ("user_name", "password")),
    Route("POST", "/v1/auth", ("user_name", "password")),
    Route("GET", "/healthz"),
    Route("GET", "/livez"),
    Route("GET", "/readyz"),
    Route("GET", "/metrics"),
    Route("GET", "/openapi.json"),
    Route("GET", "/docs"),
    Route("GET", "/"),
    Route("GET", "/client/settings"),
    Route("GET", "/static/app.js"),
    Route("GET", "/static/style.css"),
)

#: The routes with an id in the path.
PATH_ROUTES = (
    "/profile/", "/room/", "/messages/", "/dm/", "/static/", "/files/", "/avatars/", "/sessions/"
)  # fmt: skip

METHODS = ("GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD")


@dataclass
class HttpRequest:
    """One request of the fuzzer. `auth` is "user" or "operator" (their token), "revoking"
    (a throwaway account's token, for the routes that revoke: it also stands for the
    shared tokens inside an Authorization header among `headers`) or None; `headers` are
    further headers (an Authorization among them replaces the token)."""

    method: str
    target: str
    body: bytes | None = None
    auth: str | None = None
    headers: dict[str, bytes] = field(default_factory=dict)


def _body_dicts(route: Route, known: Known) -> st.SearchStrategy[dict[str, Any]]:
    """The route's fields, each present or not, with any value; sometimes other keys too."""
    right = st.fixed_dictionaries({}, optional=dict.fromkeys(route.fields, field_values(known)))
    extra = st.dictionaries(texts, values, max_size=2)
    return st.one_of(right, right, st.builds(lambda r, e: {**e, **r}, right, extra))


def auth_choices(route: Route) -> st.SearchStrategy[str | None]:
    if route.revokes:
        # Never the shared tokens: the user's or the operator's, revoked, would leave
        # every later test only the refusals.
        return st.sampled_from(["revoking", "revoking", None])
    return st.sampled_from(["user", "user", "operator", None])


def well_shaped_requests(known: Known) -> st.SearchStrategy[HttpRequest]:
    """A route's own method, path and field names, with wrong values."""

    @st.composite
    def build(draw: st.DrawFn) -> HttpRequest:
        route = draw(st.sampled_from(ROUTES))
        body = draw(_body_dicts(route, known).flatmap(encodings)) if route.fields else None
        return HttpRequest(route.method, route.path, body, draw(auth_choices(route)))

    return build()


def any_bodies(known: Known) -> st.SearchStrategy[bytes]:
    return st.one_of(
        values.flatmap(encodings),
        st.binary(max_size=2000),
        st.text(any_character, max_size=200).map(lambda t: t.encode("utf-8", "surrogatepass")),
        st.sampled_from([b"", b"{", b"{}", b"[]", b"null", b'{"a":1}{', b"\xef\xbb\xbf{}"]),
    )


def any_body_requests(known: Known) -> st.SearchStrategy[HttpRequest]:
    """Any body (JSON of any shape, bytes, text) to any route, with any method."""

    @st.composite
    def build(draw: st.DrawFn) -> HttpRequest:
        route = draw(st.sampled_from(ROUTES))
        method = draw(st.sampled_from([route.method, route.method, *METHODS]))
        return HttpRequest(method, route.path, draw(any_bodies(known)), draw(auth_choices(route)))

    return build()


def path_segments(known: Known) -> st.SearchStrategy[str]:
    """A path segment, percent-encoded (any characters, invalid UTF-8 included)."""
    numbers = st.one_of(
        st.sampled_from([str(i) for i in known.room_ids + known.uids]),
        integers.map(str),
        st.builds(lambda n: "1" * n, st.integers(19, 6000)),
        st.sampled_from(["", "0", "-0", "+1", "1.0", "1e3", "0x1", " 1", "1 ", "\u0661", "\u00b2"]),
    )
    return st.one_of(numbers, numbers, texts).map(
        lambda s: quote(s.encode("utf-8", "surrogatepass"), safe="")
    )


def query_strings(known: Known) -> st.SearchStrategy[str]:
    """`?last_id=...&limit=...` and their relatives (a search's `q`, `room`, `from`,
    `before`; a page's `after`, `around`), percent-encoded; may be empty."""
    names = ["last_id", "limit", "token", "LastID", "", "q", "room", "from", "before"]
    keys = st.sampled_from([*names, "after", "around"]) | texts
    raw = st.lists(st.tuples(keys, path_segments(known) | st.just("")), max_size=4)
    return raw.map(
        lambda pairs: (
            "?" + "&".join(f"{quote(k.encode('utf-8', 'surrogatepass'))}={v}" for k, v in pairs)
            if pairs
            else ""
        )
    )


def path_requests(known: Known) -> st.SearchStrategy[HttpRequest]:
    """The routes with an id in the path (and any path at all, and the search), with
    hostile segments and query strings."""

    @st.composite
    def build(draw: st.DrawFn) -> HttpRequest:
        prefix = draw(st.sampled_from(PATH_ROUTES))
        segments = path_segments(known)
        path = draw(
            st.one_of(
                segments.map(lambda s: prefix + s),
                segments.map(lambda s: prefix + s + "/"),
                st.lists(segments, min_size=1, max_size=4).map(lambda p: "/" + "/".join(p)),
                st.just("/search"),
            )
        )
        query = draw(query_strings(known))
        body = draw(
            st.one_of(st.none(), _body_dicts(Route("GET", path, ("LastID",)), known).map(encode))
        )
        auth = draw(st.sampled_from(["user", "user", "operator", None]))
        return HttpRequest(
            draw(st.sampled_from(["GET", "GET", *METHODS])), path + query, body, auth
        )

    return build()


def header_values() -> st.SearchStrategy[bytes]:
    """Header values an HTTP client can send (no CR, LF or NUL; no whitespace at either
    end), of any other byte."""
    legal = st.binary(max_size=300).map(
        lambda b: bytes(c for c in b if c >= 0x21 and c != 0x7F) or b"x"
    )
    return st.one_of(
        legal, texts.map(lambda t: t.encode("utf-8", "surrogatepass")).filter(_is_legal)
    )


def _is_legal(value: bytes) -> bool:
    return (
        bool(value)
        and value == value.strip(b" \t")
        and not any((c < 0x20 and c != 0x09) or c == 0x7F for c in value)
    )


#: Host values that are no host name at all: empty labels, labels over 63 characters,
#: broken punycode, a port that is not a number, bytes outside ASCII.
MALFORMED_HOSTS = (
    b"a..b",
    b".",
    b"..",
    b"localhost..",
    b"xn--",
    b"xn--zz",
    b"a" * 64 + b".localhost",
    b"[::1",
    b"[::1]:x",
    b"::1",
    b"127.0.0.1:",
    b"127.0.0.1:99999999999999999999",
    b"\xc3\xa9",
    b"\xff",
)


def hosts(known: Known) -> st.SearchStrategy[bytes]:
    """The server's own names in their odd spellings (mostly); now and then a foreign
    one (400 by design) or one that is no host name at all."""
    port = known.port
    own = [
        f"127.0.0.1:{port}",
        f"localhost:{port}",
        f"LOCALHOST.:{port}",
        f"[::1]:{port}",
        f"chat.localhost:{port}",
        "localhost",
        "127.0.0.1",
        f"127.0.0.1:{port + 1}",
    ]
    spelled = st.sampled_from([h.encode() for h in own])
    others = st.sampled_from([b"evil.example", *MALFORMED_HOSTS]) | header_values()
    return st.one_of(spelled, spelled, spelled, others)


def authorizations(known: Known) -> st.SearchStrategy[bytes]:
    def legal(token: str) -> bytes:
        data = token.encode("utf-8", "surrogatepass")
        return data if _is_legal(data) else b"x"

    return st.one_of(
        st.builds(
            lambda scheme, t: scheme + legal(t),
            st.sampled_from([b"", b"Bearer ", b"bearer ", b"Bearer  ", b"Basic ", b"Bearer\t"]),
            tokens(known),
        ),
        header_values(),
    )


def forwarded_fors() -> st.SearchStrategy[bytes]:
    """X-Forwarded-For values a proxy chain might send, and some it would not: one to four
    hops of IPv4 and IPv6 addresses (the server keys IPv6 by its /64), IPv4-mapped,
    scoped, bracketed, with ports, empty or junk hops."""
    hops = st.one_of(
        st.ip_addresses().map(lambda ip: str(ip).encode()),
        st.sampled_from(
            [
                b"::ffff:203.0.113.7",
                b"fe80::1%eth0",
                b"[2001:db8::1]",
                b"[2001:db8::1]:443",
                b"203.0.113.7:80",
                b"2001:db8:1:2::1/64",
                b"unknown",
                b"",
                b"::",
                b"::1",
            ]
        ),
    )
    return st.lists(hops, min_size=1, max_size=4).map(b", ".join).filter(_is_legal)


def header_requests(known: Known) -> st.SearchStrategy[HttpRequest]:
    """Any route with odd headers: Authorization (junk, forged, valid), Content-Type, Host,
    Origin, X-Forwarded-For and others."""

    @st.composite
    def build(draw: st.DrawFn) -> HttpRequest:
        route = draw(st.sampled_from(ROUTES))
        headers = draw(
            st.fixed_dictionaries(
                {},
                optional={
                    "Authorization": authorizations(known),
                    "Content-Type": st.sampled_from(
                        [
                            b"application/json",
                            b"text/plain",
                            b"application/json; charset=latin-1",
                            b"multipart/form-data; boundary=x",
                            b"application/x-www-form-urlencoded",
                        ]
                    )
                    | header_values(),
                    "Host": hosts(known),
                    "Origin": st.sampled_from([b"null", b"http://evil.example"]) | header_values(),
                    "X-Forwarded-For": forwarded_fors() | header_values(),
                    "Accept": header_values(),
                    "Cookie": header_values(),
                    "Expect": st.sampled_from([b"100-continue", b"junk"]),
                },
            )
        )
        body = draw(_body_dicts(route, known).map(encode)) if route.fields else None
        # A route that revokes gets a throwaway token, also in place of a shared one
        # inside a drawn Authorization header (`HttpRequest.auth`).
        auth = "revoking" if route.revokes else None
        return HttpRequest(route.method, route.path, body, auth, headers)

    return build()


# --- Files -------------------------------------------------------------------------------

#: Content-Types an upload may claim: the types sniffing overrides, forms with boundaries
#: missing, empty, quoted, too long or twice, other multipart kinds, and parameters of
#: every shape.
UPLOAD_CONTENT_TYPES = (
    b"application/octet-stream",
    b"image/png",
    b"image/svg+xml",
    b"text/html; charset=utf-8",
    b"multipart/form-data",
    b"multipart/form-data; boundary=",
    b"multipart/form-data; boundary=b",
    b'multipart/form-data; boundary="b"',
    b"multipart/form-data; boundary=" + b"b" * 71,
    b"multipart/form-data; boundary=" + b"b" * 2000,
    b"multipart/form-data; boundary=b; boundary=c",
    b"multipart/form-data; boundary=b; charset=utf-7",
    b"MULTIPART/FORM-DATA; BOUNDARY=b",
    b"multipart/form-data;boundary=b;",
    b"multipart/mixed; boundary=b",
    b"multipart/form-data; boundary=\xff\xfe",
)

#: What a form part's Content-Disposition may say.
_DISPOSITIONS = (
    b'form-data; name="file"; filename="a.png"',
    b'form-data; name="file"',
    b"form-data; name=file; filename=a.txt",
    b'form-data; name="file"; filename="../../etc/passwd"',
    b'form-data; name="file"; filename="a\x00b.png"',
    b"form-data; name=\"file\"; filename*=UTF-8''%E2%80%AEgnp.exe",
    b'form-data; name="file"; filename="' + b"n" * 5000 + b'"',
    b'form-data; name="file"; filename=""',
    b'form-data; name="other"',
    b'form-data; name="FILE"',
    b"attachment",
    b"",
)


@st.composite
def multipart_bodies(draw: st.DrawFn) -> bytes:
    """A form for the boundary ``b``, well made or broken: parts with any headers (a
    disposition of any shape, none, a header line far past the parser's limit, many),
    any bytes, LF or CRLF line ends, a preamble, a missing or doubled closing boundary,
    and often cut short anywhere."""
    newline = draw(st.sampled_from([b"\r\n", b"\r\n", b"\n"]))
    parts = []
    for _ in range(draw(st.integers(0, 3))):
        headers = []
        disposition = draw(st.sampled_from(_DISPOSITIONS) | header_values())
        if disposition:
            headers.append(b"Content-Disposition: " + disposition)
        extra = draw(
            st.lists(
                st.sampled_from(
                    [
                        b"Content-Type: image/png",
                        b"Content-Type: text/html",
                        b"Content-Transfer-Encoding: base64",
                        b"X-Junk: " + b"h" * 10_000,
                        b"no colon here",
                        b": no name",
                    ]
                ),
                max_size=10,
            )
        )
        content = draw(st.binary(max_size=1500) | st.sampled_from([b"", b"--b", b"\r\n--b\r\n"]))
        parts.append(b"--b" + newline + newline.join(headers + extra) + newline * 2 + content)
    body = draw(st.sampled_from([b"", b"preamble\r\n", b"--c\r\n"]))
    body += newline.join(parts) + draw(
        st.sampled_from([newline + b"--b--" + newline, newline + b"--b--", b"", b"--b--" * 2])
    )
    cut = draw(st.one_of(st.none(), st.integers(0, len(body))))
    return body if cut is None else body[:cut]


def upload_names() -> st.SearchStrategy[str]:
    """``?name=`` values: absent, hostile (paths, controls, bidirectional marks, invalid
    UTF-8, past the 1,020 characters the server reads), percent-encoded; or twice."""
    names = st.one_of(
        texts,
        st.sampled_from(["../../etc/passwd", "a/b\\c.png", ".", "..", ".htaccess", "x" * 1021]),
        st.builds(lambda n: "n" * n, st.integers(250, 1100)),
    )
    encoded = names.map(lambda n: quote(n.encode("utf-8", "surrogatepass"), safe=""))
    return st.one_of(
        st.just(""),
        encoded.map(lambda n: f"?name={n}"),
        encoded.map(lambda n: f"?name={n}&name=second.txt"),
        st.just("?name=%FF%FE.png"),
        st.just("?name"),
    )


def file_upload_requests(known: Known) -> st.SearchStrategy[HttpRequest]:
    """``POST /files``: raw bodies of any bytes under any claimed type, and forms broken
    in many ways, with hostile ``name`` values; as the user, an operator or nobody."""

    @st.composite
    def build(draw: st.DrawFn) -> HttpRequest:
        content_type = draw(st.one_of(st.none(), st.sampled_from(UPLOAD_CONTENT_TYPES)))
        if content_type is not None and content_type.lower().startswith(b"multipart/"):
            body = draw(multipart_bodies() | any_bodies(known))
        else:
            body = draw(any_bodies(known))
        headers = {} if content_type is None else {"Content-Type": content_type}
        auth = draw(st.sampled_from(["user", "user", "operator", None]))
        return HttpRequest("POST", "/files" + draw(upload_names()), body, auth, headers)

    return build()


#: Range headers a client may send: several ranges, suffixes, reversed or empty ones,
#: other units, numbers past every integer type (and past Python's 4,300 digits), other
#: scripts' digits, and junk.
RANGES = (
    b"bytes=0-",
    b"bytes=0-0",
    b"bytes=-1",
    b"bytes=-0",
    b"bytes=1-0",
    b"bytes=-",
    b"bytes=",
    b"bytes=0-1,2-3",
    b"bytes=--1",
    b"bytes=1--2",
    b"bytes = 0-1",
    b"BYTES=0-1",
    b"items=0-1",
    b"bytes=18446744073709551616-",
    b"bytes=0-18446744073709551616",
    b"bytes=" + b"9" * 5000 + b"-",
    b"bytes=-" + b"9" * 5000,
    b"bytes=0-" + b"9" * 5000,
    "bytes=\u0661-\u0662".encode(),
    b"bytes=0x10-0x20",
    b"bytes=1e3-",
)


def file_read_requests(known: Known, file_ids: tuple[str, ...]) -> st.SearchStrategy[HttpRequest]:
    """``GET /files/{FileID}/{name}`` and ``/thumbnail`` (and their other methods) with
    real ids (mostly), mangled ones and hostile path segments; any name, several
    segments; hostile Range, If-Range and If-None-Match headers."""
    real = st.sampled_from(file_ids)
    ids_ = st.one_of(
        real,
        real,
        st.builds(lambda i, cut: quote(i[:cut], safe=""), real, st.integers(0, 30)),
        real.map(lambda i: quote(i + "x" * 60, safe="")),
        path_segments(known),
    )
    names = st.one_of(
        st.just("thumbnail"),
        st.just("file.bin"),
        path_segments(known),
        st.lists(path_segments(known), min_size=1, max_size=4).map("/".join),
        st.sampled_from(["..", "%2e%2e", "thumbnail/", "a%2Fb", ""]),
    )

    @st.composite
    def build(draw: st.DrawFn) -> HttpRequest:
        headers: dict[str, bytes] = {}
        # Integers, not `optional` keys: each header is present often, a listed Range
        # mostly, an If-Range (which may void it) now and then.
        kind = draw(st.integers(0, 4))
        if kind <= 2:
            headers["Range"] = draw(st.sampled_from(RANGES))
        elif kind == 3:
            headers["Range"] = draw(header_values())
        if draw(st.integers(0, 3)) == 0:
            headers["If-Range"] = draw(st.sampled_from([b'"x"', b"*", b'W/"x"']) | header_values())
        if draw(st.integers(0, 3)) == 0:
            headers["If-None-Match"] = draw(
                st.sampled_from([b"*", b'"x", *', b"W/"]) | header_values()
            )
        if draw(st.booleans()):
            # Well shaped (a real file, GET, a token), so that ranges and revalidation
            # reach the files' bytes, not only the refusals.
            target = f"/files/{draw(real)}/{draw(st.sampled_from(['thumbnail', 'file.bin']))}"
            auth = draw(st.sampled_from(["user", "operator"]))
            return HttpRequest("GET", target, None, auth, headers)
        method = draw(st.sampled_from(["GET", "GET", "HEAD", *METHODS]))
        target = f"/files/{draw(ids_)}/{draw(names)}" + draw(query_strings(known))
        auth = draw(st.sampled_from(["user", "user", "operator", None]))
        return HttpRequest(method, target, None, auth, headers)

    return build()


# --- Raw requests ------------------------------------------------------------------------


def raw_http_requests(known: Known, *, upgrade: bool) -> st.SearchStrategy[bytes]:
    """A request head of bytes no HTTP client would send (a junk method, target, version
    or header line), complete, so the server need not wait for more; with `upgrade`, a
    WebSocket upgrade with junk in its handshake headers instead."""
    tokens_ = tokens(known)
    targets = st.one_of(
        st.sampled_from([b"/", b"/ws", b"/v1/ws", b"/auth", b"*", b"http://localhost/", b"//"]),
        st.builds(
            lambda p, t: p + b"?token=" + quote(t.encode("utf-8", "surrogatepass")).encode(),
            st.sampled_from([b"/", b"/ws", b"/v1/ws"]),
            tokens_,
        ),
        st.binary(min_size=1, max_size=100).filter(lambda b: b"\r\n\r\n" not in b),
    )
    methods = st.one_of(
        st.sampled_from([b"GET", b"POST", b"PUT", b"get", b"CONNECT", b"TRACE", b"PRI"]),
        st.binary(max_size=10),
    )
    versions = st.sampled_from(
        [b"HTTP/1.1", b"HTTP/1.1", b"HTTP/1.0", b"HTTP/2.0", b"HTTP/0.9", b"http/1.1", b""]
    )
    junk_lines = st.lists(
        st.one_of(
            st.builds(
                lambda n, v: n + b": " + v,
                st.sampled_from([b"X-Junk", b"Content-Type", b"Host", b"Authorization", b"Cookie"]),
                header_values(),
            ),
            st.binary(max_size=60).filter(lambda b: b"\r\n" not in b and b"\n" not in b),
            # A Content-Length or Transfer-Encoding no server can honour (never a valid one:
            # the server would wait for a body).
            st.sampled_from(
                [
                    b"Content-Length: -1",
                    b"Content-Length: abc",
                    b"Content-Length: 1 2",
                    b"Content-Length: 99999999999999999999999",
                    b"Transfer-Encoding: chunked, gzip",
                    b"Content-Length: 0x10",
                    # A head over the 16 KiB the server reads (431).
                    b"X-Big: " + b"a" * (16 * 1024),
                ]
            ),
        ),
        max_size=4,
    )
    handshake = st.fixed_dictionaries(
        {
            b"Upgrade": st.sampled_from([b"websocket", b"WebSocket", b"h2c"]) | header_values(),
            b"Connection": st.sampled_from([b"Upgrade", b"keep-alive, Upgrade", b"close"])
            | header_values(),
        },
        optional={
            b"Sec-WebSocket-Key": st.sampled_from([b"dGhlIHNhbXBsZSBub25jZQ==", b"", b"short"])
            | header_values(),
            b"Sec-WebSocket-Version": st.sampled_from([b"13", b"8", b"14", b"13, 8"])
            | header_values(),
            b"Sec-WebSocket-Protocol": header_values(),
            b"Sec-WebSocket-Extensions": st.sampled_from(
                [b"permessage-deflate", b"permessage-deflate; client_max_window_bits=0"]
            )
            | header_values(),
            b"Origin": st.sampled_from(
                [b"null", b"http://evil.example", f"http://localhost:{known.port}".encode()]
            )
            | header_values(),
            b"Authorization": authorizations(known),
        },
    ).map(lambda h: [k + b": " + v for k, v in h.items()])

    @st.composite
    def build(draw: st.DrawFn) -> bytes:
        if upgrade:
            method, version = b"GET", draw(st.sampled_from([b"HTTP/1.1", b"HTTP/1.1", b"HTTP/1.0"]))
            lines = draw(handshake) + draw(junk_lines.map(lambda ls: ls[:1]))
        else:
            method, version = draw(methods), draw(versions)
            lines = draw(junk_lines)
        host = draw(st.one_of(hosts(known), st.just(None)))
        if host is not None:
            lines.insert(draw(st.integers(0, len(lines))), b"Host: " + host)
        head = b" ".join([method, draw(targets), version]) + b"\r\n"
        return head + b"".join(line + b"\r\n" for line in lines) + b"\r\n"

    if upgrade:
        return build()
    # Now and then HTTP/2's connection preface and whatever frames (or bytes) follow it:
    # refused in HTTP/2's own terms, never served.
    preface = st.binary(max_size=200).map(lambda tail: b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + tail)
    return st.one_of(build(), preface)


# --- WebSocket ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Frame:
    """One message to send: text (its bytes, which may be invalid UTF-8) or binary, or a
    WebSocket ping (a control frame, its payload at most 125 bytes)."""

    data: bytes
    text: bool = True
    ping: bool = False

    def __repr__(self) -> str:
        kind = "Ping" if self.ping else "Text" if self.text else "Binary"
        more = "..." if len(self.data) > 300 else ""
        return f"{kind}({self.data[:300]!r}{more}, {len(self.data)} bytes)"


@dataclass(frozen=True)
class WsPlan:
    """One connection: its path (and query), handshake headers, and the frames it sends."""

    path: str
    frames: tuple[Frame, ...]
    headers: tuple[tuple[str, str], ...] = ()


def json_frames(objects: st.SearchStrategy[Any]) -> st.SearchStrategy[Frame]:
    return objects.flatmap(encodings).map(Frame)


def token_paths(
    known: Known, paths: list[str]
) -> st.SearchStrategy[tuple[str, tuple[tuple[str, str], ...]]]:
    """A WebSocket path, with a valid token in its query string or an Authorization header
    (mostly), a bad one, or none."""
    valid = st.sampled_from(known.tokens)

    def with_token(path: str, token: str, where: str) -> tuple[str, tuple[tuple[str, str], ...]]:
        if where == "query":
            return f"{path}?token={quote(token.encode('utf-8', 'surrogatepass'))}", ()
        return path, (("Authorization", f"Bearer {token}"),)

    return st.one_of(
        st.builds(with_token, st.sampled_from(paths), valid, st.sampled_from(["query", "header"])),
        st.builds(with_token, st.sampled_from(paths), valid, st.just("query")),
        st.builds(with_token, st.sampled_from(paths), tokens(known), st.just("query")),
        st.sampled_from(paths).map(lambda p: (p, ())),
    )


def _plans(
    known: Known,
    paths: list[str],
    frames: st.SearchStrategy[Frame],
    first: st.SearchStrategy[list[Frame]] | None = None,
) -> st.SearchStrategy[WsPlan]:
    @st.composite
    def build(draw: st.DrawFn) -> WsPlan:
        path, headers = draw(token_paths(known, paths))
        opening = draw(first) if first is not None else []
        body = draw(st.lists(frames, min_size=1, max_size=5))
        return WsPlan(path, tuple(opening + body), headers)

    return build()


def tokentalker_plans(known: Known) -> st.SearchStrategy[WsPlan]:
    """TokenTalker on `/`: `{"name" or "username", "message"}` with `auth`, `history N` or
    chat text, and values of the wrong types; sometimes an `auth` with a valid token first."""
    commands = st.one_of(
        st.builds(
            lambda word, t: f"{word} {t}", st.sampled_from(["auth", "AUTH", "Auth"]), tokens(known)
        ),
        st.builds(
            lambda word, n: f"{word} {n}",
            st.sampled_from(["history", "HISTORY"]),
            st.one_of(
                st.integers(-5, 120).map(str),
                st.builds(lambda n: "9" * n, st.integers(1, 5000)),
                texts,
            ),
        ),
        texts,
    )
    message = st.one_of(commands, commands, values)
    objects = st.fixed_dictionaries(
        {},
        optional={
            "name": st.one_of(st.sampled_from(known.names), values),
            "username": values,
            "message": message,
        },
    )
    auth_first = st.lists(
        st.sampled_from(known.tokens).map(
            lambda t: Frame(encode({"name": "x", "message": f"auth {t}"}))
        ),
        max_size=1,
    )
    return _plans(known, ["/"], json_frames(objects), auth_first)


def room_plans(known: Known) -> st.SearchStrategy[WsPlan]:
    """The room protocol on `/ws`: `{"Type", "RoomID", "SinceID", "Page", "MessageID",
    "Presence", "Text", "ClientMsgID", "ReplyTo", "ThreadID", "AlsoToRoom", "Emoji"}` (enter,
    message, edit, delete, react,
    unreact, read, typing), each field present or not, of any type; often an `enter` into
    a real room first, so that `message` frames and changes reach a room."""
    kinds = ["enter", "message", "edit", "delete", "react", "unreact", "read", "typing"]
    types = st.one_of(st.sampled_from([*kinds, "enter", "Enter", "left"]), values)
    objects = st.fixed_dictionaries(
        {},
        optional={
            "Type": types,
            "RoomID": ids(known),
            "SinceID": ids(known),
            "Page": st.one_of(st.integers(-2, 102), values),
            "MessageID": ids(known),
            "Presence": st.one_of(st.booleans(), values),
            "Text": texts | values,
            "ClientMsgID": texts | values,
            "ReplyTo": ids(known),
            "ThreadID": ids(known),
            "AlsoToRoom": st.one_of(st.booleans(), values),
            "Emoji": st.one_of(st.sampled_from(["👍", ":ok:", "👍🏽", "x"]), texts, values),
        },
    )
    enter_first = st.lists(
        st.sampled_from(known.room_ids).map(
            lambda r: Frame(encode({"Type": "enter", "RoomID": r}))
        ),
        max_size=1,
    )
    return _plans(known, ["/ws"], json_frames(objects), enter_first)


def direct_plans(known: Known) -> st.SearchStrategy[WsPlan]:
    """Direct messages on `/` and `/ws`: `{"from", "to", "content", "client_msg_id"}`."""
    own = st.sampled_from(known.uids)
    objects = st.fixed_dictionaries(
        {},
        optional={
            "from": st.one_of(own, own, ids(known)),
            "to": ids(known),
            "content": texts | values,
            "client_msg_id": texts | values,
        },
    )
    return _plans(known, ["/", "/ws"], json_frames(objects))


def support_plans(known: Known) -> st.SearchStrategy[WsPlan]:
    """The support protocol on `/v1/ws` (and on `/`): `{"method", "params", "id"}` with
    message.auth, message.send, message.operatorSend or another method, as the user or
    an operator or nobody."""
    methods = st.one_of(
        st.sampled_from(["message.auth", "message.send", "message.operatorSend"]),
        st.sampled_from(["message.auth", "message.send", "message.operatorSend"]),
        values,
    )
    params = st.one_of(
        st.lists(tokens(known), min_size=1, max_size=1),
        st.lists(texts, min_size=1, max_size=1),
        st.tuples(ids(known), texts).map(list),
        values,
    )
    request_ids = st.one_of(integers, texts, st.none(), values)
    objects = st.fixed_dictionaries(
        {}, optional={"method": methods, "params": params, "id": request_ids}
    )
    auth_first = st.lists(
        st.sampled_from(known.tokens).map(
            lambda t: Frame(encode({"method": "message.auth", "params": [t], "id": 1}))
        ),
        max_size=1,
    )
    return _plans(known, ["/v1/ws", "/v1/ws", "/"], json_frames(objects), auth_first)


def any_frames() -> st.SearchStrategy[Frame]:
    """Any JSON, any text (invalid UTF-8 included), binary, WebSocket pings, and messages
    over the limit."""
    return st.one_of(
        json_frames(values),
        st.text(any_character, max_size=200).map(
            lambda t: Frame(t.encode("utf-8", "surrogatepass"))
        ),
        st.sampled_from(["ping", "PING", " ping", "ping\n", "pong", "auth", "history 1", ""]).map(
            lambda t: Frame(t.encode())
        ),
        st.binary(max_size=300).map(lambda b: Frame(b, text=False)),
        st.binary(max_size=125).map(lambda b: Frame(b, ping=True)),
        st.binary(max_size=300).map(Frame),
        st.builds(
            lambda n, text: Frame(b"x" * n, text),
            st.integers(MAX_FRAME - 2, MAX_FRAME + 2),
            st.booleans(),
        ),
    )


def any_frame_plans(known: Known) -> st.SearchStrategy[WsPlan]:
    return _plans(known, ["/", "/ws", "/v1/ws"], any_frames())
