"""One TCP port for HTTP and WebSocket.

The front door accepts every connection, reads its request head (everything up to the
blank line that ends the headers), and hands the connection, head included, to one of
two servers: WebSocket upgrade requests to `chat.ws.server.WebSocketServer`, everything
else to `chat.http.server.HttpServer`. Each connection gets its own task for its whole
life, in the front door's connection nursery (`FrontDoor.run`).

Idle WebSocket connections are counted in thousands, and each keeps the coroutine frames
of its task's call chain for as long as it is open (about 250 bytes a frame). So the
chain is kept short: the connection's task starts in `FrontDoor._handle` itself (the
accept loop is ours, not `trio.serve_listeners`, whose wrapper would be one frame more),
and `_handle` hands the connection straight to the server that serves it. Each accept also
takes up to `TAKE_AT_ONCE` more of those waiting in the kernel's backlog
(`chat.net.accept_queue`), so that a storm of connections meets the bounds of the servers
behind, not the kernel's queue.

At the end of a drain (`chat.server.drain`), `FrontDoor.stop_accepting` closes the listeners
while everything else still runs: the connections the kernel had already accepted are
taken from its backlog first (closing a listener resets them, and a proxy that had sent
a POST on one answers 502: it never resends a POST), and their requests are read and
handed over before the shutdown cancels anything. From then on, connecting is refused,
which a proxy retries on another instance, POST included (nothing was sent).
"""

from __future__ import annotations

import errno
import logging
import os
from typing import NoReturn, Protocol

import trio

from chat.core.client_address import ClientAddresses, normalise
from chat.net.accept_queue import ACCEPT_CAPACITY_ERRNOS, AcceptQueue
from chat.net.connection_cap import ConnectionCap
from chat.net.raw_response import json_response
from chat.net.replay_stream import ReplayStream, close_gently, read_now

log = logging.getLogger(__name__)

#: A request head larger than this (blank line included) is answered 431.
MAX_HEAD_BYTES = 16 * 1024
#: A client must finish sending its request head within this time (slowloris guard).
HEAD_TIMEOUT_S = 10.0
#: How much of a connection is read at a time while looking for the end of its head.
READ_SIZE = 4096
#: How long turning a connection away (over its address's cap, a head too large) may take.
TURN_AWAY_TIMEOUT_S = 2.0


def format_address(address: tuple[str, int]) -> str:
    """A listening address as logs show it (``[::1]:8080``, ``127.0.0.1:8080``)."""
    host, port = address[:2]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class ConnectionHandler(Protocol):
    async def handle(self, stream: ReplayStream) -> None: ...


class HttpHandler(Protocol):
    async def handle(self, stream: ReplayStream) -> bytes | None:
        """Serve HTTP on the connection; return the head of a WebSocket upgrade request
        that arrived after other requests (the connection is then left open for it)."""


async def read_request_head(stream: trio.SocketStream) -> bytes | None:
    """Bytes from the stream up to and including the first blank line, plus whatever
    arrived with them; stops early (returning what it has) past `MAX_HEAD_BYTES` or at
    EOF; None if the head takes longer than `HEAD_TIMEOUT_S`. A head the socket holds
    already, as most do by the time their connection's task runs, is read without
    waiting and without a deadline to set."""
    buffer = bytearray()
    data = read_now(stream.socket.fileno(), READ_SIZE)
    if data is not None:
        buffer += data
        if not data or buffer.find(b"\r\n\r\n") != -1:
            return bytes(buffer)
    with trio.move_on_after(HEAD_TIMEOUT_S):
        searched = len(buffer)
        while len(buffer) <= MAX_HEAD_BYTES:
            data = await stream.receive_some(READ_SIZE)
            if not data:
                break
            buffer += data
            if buffer.find(b"\r\n\r\n", max(0, searched - 3)) != -1:
                break
            searched = len(buffer)
        return bytes(buffer)
    return None


def head_too_large(head: bytes) -> bool:
    """True if the request head in `head` (what `read_request_head` returned) is longer
    than `MAX_HEAD_BYTES`, or did not end within them."""
    end = head.find(b"\r\n\r\n")
    return len(head) > MAX_HEAD_BYTES if end == -1 else end + 4 > MAX_HEAD_BYTES


#: The answer to a request head over `MAX_HEAD_BYTES`.
HEAD_TOO_LARGE = json_response(431, f"the request head is larger than {MAX_HEAD_BYTES // 1024} KiB")


def forwarded_for(replay: ReplayStream) -> list[str]:
    """The X-Forwarded-For values of a request head, in order (for `ClientAddresses.resolve`,
    which believes them only from a trusted proxy)."""
    return [value.decode("latin-1") for value in replay.header_values(b"x-forwarded-for")]


def is_websocket_upgrade(replay: ReplayStream) -> bool:
    """True for a GET whose headers ask for ``Upgrade: websocket`` (RFC 6455, 4.1)."""
    if not replay.head.startswith(b"GET "):
        return False
    return any(
        b"websocket" in {token.strip().lower() for token in value.split(b",")}
        for value in replay.header_values(b"upgrade")
    )


async def open_reuse_port_listeners(port: int, host: str) -> list[trio.SocketListener]:
    """Like `trio.open_tcp_listeners`, with SO_REUSEPORT: several processes may listen on
    the same port, and the kernel spreads new connections across them."""
    listeners = []
    try:
        for family, kind, proto, _name, address in await trio.socket.getaddrinfo(
            host, port, type=trio.socket.SOCK_STREAM, flags=trio.socket.AI_PASSIVE
        ):
            sock = trio.socket.socket(family, kind, proto)
            try:
                sock.setsockopt(trio.socket.SOL_SOCKET, trio.socket.SO_REUSEADDR, 1)
                sock.setsockopt(trio.socket.SOL_SOCKET, trio.socket.SO_REUSEPORT, 1)
                if family == trio.socket.AF_INET6:
                    sock.setsockopt(trio.socket.IPPROTO_IPV6, trio.socket.IPV6_V6ONLY, 1)
                await sock.bind(address)
                sock.listen(LISTEN_BACKLOG)
            except BaseException:
                sock.close()
                raise
            listeners.append(trio.SocketListener(sock))
    except BaseException:
        for listener in listeners:
            await trio.aclose_forcefully(listener)
        raise
    return listeners


#: Pending connections the kernel queues for accept (the Linux default cap).
LISTEN_BACKLOG = 4096

#: How long the accept loop waits when `accept` fails for want of file descriptors or
#: memory (`ACCEPT_CAPACITY_ERRNOS`).
ACCEPT_RETRY_S = 0.1
#: Connections taken from the backlog in one step besides the one accepted: a few, so
#: that a storm's connections reach the handshake bound (and are told their turn) rather
#: than time out in the kernel's queue, while each pass still takes no more than the
#: handshakes under way can make room for (taking a thousand a step turned most of a
#: storm away, and every refusal is a connection more: docs/PERFORMANCE.md).
TAKE_AT_ONCE = 8

#: The name of every connection's task (what Trio would call it: its function's name).
CONNECTION_TASK_NAME = f"{__name__}.FrontDoor._handle"


class FrontDoor:
    """Accepts connections on one port and routes each to the HTTP or WebSocket server."""

    def __init__(
        self,
        host: str,
        port: int,
        http: HttpHandler,
        websocket: ConnectionHandler,
        *,
        reuse_port: bool = False,
        cap: ConnectionCap | None = None,
        addresses: ClientAddresses | None = None,
    ) -> None:
        self._host = host
        self._port = port
        self._http = http
        self._websocket = websocket
        self._reuse_port = reuse_port
        self._cap = cap or ConnectionCap(0, enabled=False)
        self._addresses = addresses or ClientAddresses()
        # The accept loops' scopes, cancelled by `stop_accepting` (not by shutdown, whose
        # cancellation closes the listeners with their backlogs); `_closed` is set once
        # the last loop has closed its listener.
        self._accepting: list[trio.CancelScope] = []
        self._listening = 0
        self._closed = trio.Event()
        #: Connections accepted whose request head is not read yet (`stop_accepting`
        #: waits for them to be handed over); `_routed` is set when that falls to 0.
        self._routing = 0
        self._routed: trio.Event | None = None

    async def run(
        self, *, task_status: trio.TaskStatus[list[trio.SocketListener]] = trio.TASK_STATUS_IGNORED
    ) -> NoReturn:
        """Listen and serve. Reports the listeners once they accept connections (their
        sockets tell the bound address, so port 0 works). Runs until cancelled."""
        if self._reuse_port:
            listeners = await open_reuse_port_listeners(self._port, self._host)
        else:
            listeners = await trio.open_tcp_listeners(self._port, host=self._host)
        # The connection nursery: an accept loop per listener (until `stop_accepting`),
        # and one task per connection (`_handle`, to the connection's end). Cancelling
        # `run` cancels them all (docs/DESIGN.md: how each kind of connection then closes
        # gracefully), and the nursery waits for every one.
        async with trio.open_nursery() as connections:
            for listener in listeners:
                accepting = trio.CancelScope()
                self._accepting.append(accepting)
                self._listening += 1
                connections.start_soon(self._accept_loop, listener, connections, accepting)
            task_status.started(listeners)
            await trio.sleep_forever()
        raise AssertionError("the connection nursery only ends by cancellation")

    async def stop_accepting(self) -> None:
        """Close the listeners, taking the connections already in their backlogs first,
        and return once every connection accepted so far has sent its request head and
        been handed over (or closed). The caller bounds the wait: a client that connects
        and sends nothing holds it up to `HEAD_TIMEOUT_S`."""
        for accepting in self._accepting:
            accepting.cancel()
        if self._listening:
            await self._closed.wait()
        while self._routing:
            self._routed = trio.Event()
            await self._routed.wait()

    async def _accept_loop(
        self, listener: trio.SocketListener, connections: trio.Nursery, accepting: trio.CancelScope
    ) -> None:
        """Accept connections on `listener`, each into a task of its own in `connections`,
        until `accepting` is cancelled (`stop_accepting`: the backlog is taken, then the
        listener closes) or shutdown cancels it all (the listener closes)."""
        try:
            async with listener:
                waiting = AcceptQueue(listener)
                try:
                    with accepting:
                        await self._accept_until_cancelled(listener, waiting, connections)
                    # Stopped by `stop_accepting`. No await from the last accept to the
                    # close below (`aclose` closes first): nothing joins the backlog unseen.
                    for stream in waiting.take():
                        self._start(connections, stream)
                finally:
                    waiting.close()  # before the listener's own descriptor, in this step
        finally:
            self._listening -= 1
            if not self._listening:
                self._closed.set()

    async def _accept_until_cancelled(
        self, listener: trio.SocketListener, waiting: AcceptQueue, connections: trio.Nursery
    ) -> NoReturn:
        """The accept loop proper: each connection into a task. Runs until cancelled."""
        while True:
            try:
                stream = await listener.accept()
            except OSError as error:
                if error.errno not in ACCEPT_CAPACITY_ERRNOS:
                    raise
                # Connections wait in the kernel's backlog meanwhile; the ones
                # already open carry on.
                log.error(
                    "cannot accept connections: %s (%s); retrying in %g s",
                    errno.errorcode[error.errno],
                    os.strerror(error.errno),
                    ACCEPT_RETRY_S,
                )
                await trio.sleep(ACCEPT_RETRY_S)
                continue
            self._start(connections, stream)
            # A few more of those waiting, in this same step: one connection a scheduler
            # pass would leave a storm's clients in the kernel's backlog, out of the
            # handshake bound's reach, until they time out.
            for stream in waiting.take(TAKE_AT_ONCE):
                self._start(connections, stream)

    def _start(self, connections: trio.Nursery, stream: trio.SocketStream) -> None:
        """Serve `stream` in a task of its own, counted as routing until `_handle` hands
        it over."""
        self._routing += 1
        # Named with one shared string: Trio would otherwise format the same name anew
        # for every connection, and keep it as long as the task.
        connections.start_soon(self._handle, stream, name=CONNECTION_TASK_NAME)

    def _handed_over(self) -> None:
        """A connection's head was read (or it ended before that): no longer routing."""
        self._routing -= 1
        if not self._routing and self._routed is not None:
            self._routed.set()

    async def _handle(self, stream: trio.SocketStream) -> None:
        """Serve one connection, from its first byte to its close: the first frame of its
        task, which lives as long as the connection (few locals, no head kept here)."""
        routing = True  # until the head is read: counted in `_routing`
        try:
            peer = peer_address(stream)
            # A trusted proxy's connections carry many clients: each takes its client's
            # slot once the head names it. Anyone else's take the peer's slot at once, so
            # connections that never finish their head count too. Slots are by address
            # key (an IPv6 client's /64: `ClientAddresses.key`).
            proxied = self._addresses.is_trusted(peer)
            # The slot taken (its key), given back in `finally`. Plain calls rather
            # than an ExitStack of context managers: this frame lives as long as the
            # connection, and those cost about a kilobyte on every idle one.
            slot: str | None = None
            try:
                if not proxied:
                    key = self._addresses.key(peer)
                    if not self._cap.take(key):
                        await self._answer_and_close(stream, self._cap.refusal(key))
                        return
                    slot = key
                head = await read_request_head(stream)
                routing = False
                self._handed_over()
                if not head:
                    return  # timed out or closed before sending anything
                replay = ReplayStream(stream, head, peer=peer)
                del head  # this frame lives as long as the connection; `replay` forgets it
                if head_too_large(replay.head):
                    # Answered here, for HTTP and WebSocket alike: Hypercorn's parser
                    # would take a longer head that arrived in one piece.
                    await self._answer_and_close(stream, HEAD_TOO_LARGE)
                    return
                if proxied:
                    key = self._addresses.resolve_key(peer, forwarded_for(replay))
                    if not self._cap.take(key):
                        await self._answer_and_close(stream, self._cap.refusal(key))
                        return
                    slot = key
                if is_websocket_upgrade(replay):
                    await self._websocket.handle(replay)
                else:
                    replay.forget_head()  # Hypercorn reads the head from the stream
                    upgrade = await self._http.handle(replay)
                    if upgrade is not None:
                        # A proxy reused this connection for a WebSocket after HTTP requests.
                        await self._websocket.handle(ReplayStream(stream, upgrade, peer=peer))
            finally:
                if slot is not None:
                    self._cap.give_back(slot)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass  # the peer went away while we were reading its head
        except Exception:
            # One connection's bug must never reach the connection nursery (it would
            # cancel every other connection with it).
            log.exception("unexpected error on a connection")
        finally:
            if routing:
                self._handed_over()
            await trio.aclose_forcefully(stream)

    async def _answer_and_close(self, stream: trio.SocketStream, response: bytes) -> None:
        """Turn a connection away with `response` (a 429 over its address's cap, a 431),
        and close it gently, so that closing with unread data does not reset the
        connection before the client has read the answer."""
        with trio.move_on_after(TURN_AWAY_TIMEOUT_S):
            await stream.send_all(response)
        await close_gently(stream)


def peer_address(stream: trio.SocketStream) -> str:
    """The address at the other end of a connection, canonical (IPv4-mapped as IPv4)."""
    try:
        peer = stream.socket.getpeername()
    except OSError:
        return "unknown"  # already disconnected
    return normalise(str(peer[0])) or str(peer[0])
