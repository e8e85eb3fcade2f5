"""A web site of the tests' own, on loopback, in the test process.

It plays the sites a server reaches out to: pages whose links are previewed, images,
webhook and slash-command receivers. A test gives each path an answer (`page`) or a
function of the request (`handle`); every request that arrives is kept in `requests`
(method, path, headers, body), so a test can prove a refused URL was never fetched.
A path with no answer is 404. Real HTTP/1.1 over a real socket, parsed with h11.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from functools import partial

import h11
import trio


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: bytes = b""
    content_type: str = "text/html; charset=utf-8"
    headers: tuple[tuple[str, str], ...] = ()
    #: Seconds to wait before answering (a slow site).
    delay: float = 0.0


Handler = Callable[[Request], Reply | Awaitable[Reply]]


@dataclass
class WebSite:
    host: str
    port: int = 0
    requests: list[Request] = field(default_factory=list)
    _handlers: dict[str, Handler] = field(default_factory=dict)
    _arrived: trio.Event = field(default_factory=trio.Event)

    @property
    def origin(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def host_entry(self) -> str:
        """This site as an allow-list entry (``host:port``)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    def url(self, path: str) -> str:
        return self.origin + path

    def page(self, path: str, reply: Reply) -> str:
        """`path` answers `reply` from now on; its URL."""
        self._handlers[path] = lambda _request: reply
        return self.url(path)

    def handle(self, path: str, handler: Handler) -> str:
        """`path` answers what `handler` makes of each request; its URL."""
        self._handlers[path] = handler
        return self.url(path)

    def to(self, path: str) -> list[Request]:
        return [request for request in self.requests if request.path == path]

    async def wait_for(self, path: str, count: int = 1, within: float = 15.0) -> list[Request]:
        """The first `count` requests for `path`, once they have arrived."""
        with trio.fail_after(within):
            while len(self.to(path)) < count:
                await self._arrived.wait()
                self._arrived = trio.Event()
        return self.to(path)[:count]

    async def _serve(self, stream: trio.SocketStream) -> None:
        conn = h11.Connection(h11.SERVER, max_incomplete_event_size=64 * 1024)
        try:
            while True:
                request = await self._read(conn, stream)
                if request is None:
                    return
                self.requests.append(request)
                self._arrived.set()
                handler = self._handlers.get(request.path.partition("?")[0])
                reply = Reply(404, b"not here") if handler is None else handler(request)
                if not isinstance(reply, Reply):
                    reply = await reply
                await trio.sleep(reply.delay)
                headers = [
                    ("content-type", reply.content_type),
                    ("content-length", str(len(reply.body))),
                    *reply.headers,
                ]
                await stream.send_all(
                    conn.send(h11.Response(status_code=reply.status, headers=headers))
                    + conn.send(h11.Data(data=reply.body))
                    + conn.send(h11.EndOfMessage())
                )
                if conn.our_state is not h11.DONE or conn.their_state is not h11.DONE:
                    return
                conn.start_next_cycle()
        except (trio.BrokenResourceError, trio.ClosedResourceError, h11.ProtocolError):
            pass
        finally:
            await trio.aclose_forcefully(stream)

    @staticmethod
    async def _read(conn: h11.Connection, stream: trio.SocketStream) -> Request | None:
        head: h11.Request | None = None
        body = b""
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                data = await stream.receive_some(65536)
                if not data:
                    return None
                conn.receive_data(data)
            elif isinstance(event, h11.Request):
                head = event
            elif isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage):
                assert head is not None
                headers = {k.decode().lower(): v.decode("latin-1") for k, v in head.headers}
                return Request(head.method.decode(), head.target.decode(), headers, body)
            elif isinstance(event, h11.ConnectionClosed):
                return None


@asynccontextmanager
async def open_web_site(host: str = "127.0.0.1") -> AsyncIterator[WebSite]:
    """A web site listening on `host`, a free port, until the block ends."""
    site = WebSite(host)
    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(partial(trio.serve_tcp, site._serve, 0, host=host))
        site.port = listeners[0].socket.getsockname()[1]
        try:
            yield site
        finally:
            nursery.cancel_scope.cancel()
