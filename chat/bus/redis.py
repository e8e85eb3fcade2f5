"""The Redis bus (``CHAT_BUS_URL=redis://host:port/db``): pub/sub through coredis.

For clusters whose instances PostgreSQL's notifications would wake too often: Redis
fans a wake-up out to every subscriber at little cost to the database. coredis runs
natively under Trio (through anyio), so no bridge is needed. It is an optional extra:
``pip install '.[redis]'``.

Channels are named after the chat (``chat:<cluster id>:messages`` and ``...:events``,
the id read from the database), so chats sharing a Redis never hear each other.

Unlike PostgreSQL's notifications, a publish is not part of the commit: an instance
commits, then publishes "messages up to N". If it cannot (Redis is down), nothing is
lost, only late, and three things make sure the others still catch up:

- the announcer keeps the newest unannounced position and retries until a publish
  succeeds (positions only grow, so announcing the newest covers the ones before);
- a subscriber that (re)subscribes catches up from the table, so everything committed
  while it was cut off is read then;
- every instance also catches up every `POLL_S` seconds, for a commit whose instance died
  before it could announce it.

A subscription can also go silent without closing (a partition, a Redis that hangs): its
socket stays open and nothing arrives. So every instance publishes a heartbeat on the
messages channel every `HEARTBEAT_S`, which its own subscription hears like any other
instance's, and a subscription that hears nothing for `SILENCE_S` is dropped and made
again (and each publish gives up after `PUBLISH_TIMEOUT_S`).

Resource handling: `run` owns a coredis client (its connection pool) and, inside it, one
subscription connection; its nursery holds four tasks (listen, announce, beat, poll). On
cancellation the nursery cancels them and the client's ``async with`` closes the
connections.

coredis's own reconnection does not survive Trio's strict exception groups (its retry
policy looks for a bare ConnectionError, and gets an ExceptionGroup), so the subscription
is opened without retries and this module reconnects it itself, which it must do anyway
to know when to catch up. `tests/test_bus.py` covers the seam.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, NoReturn
from urllib.parse import urlsplit

import trio

from chat.bus.carried import Payload
from chat.bus.interface import (
    PUBLISH_TIMEOUT_S,
    RECONNECT_FIRST_S,
    RECONNECT_MAX_S,
    SILENCE_S,
    BusState,
    Envelope,
    EventSink,
    Wake,
    send_last_words,
)
from chat.core.errors import Unavailable

if TYPE_CHECKING:
    import coredis

log = logging.getLogger(__name__)

#: Every instance catches up this often, whatever it heard (see the module docstring).
POLL_S = 2.0
#: Every instance publishes `HEARTBEAT` this often, so that a live subscription always
#: hears something within `SILENCE_S` (see the module docstring).
HEARTBEAT_S = 1.5
#: What a heartbeat says on the messages channel: no position, so nobody catches up for it.
HEARTBEAT = "beat"


def describe_redis_url(url: str) -> str:
    """host:port/db of a Redis URL, without the password, for log lines."""
    parts = urlsplit(url)
    return f"{parts.hostname or 'localhost'}:{parts.port or 6379}{parts.path or '/0'}"


class RedisBus:
    """Redis pub/sub: wake-ups on ``chat:<cluster>:messages``, events on ``...:events``."""

    carries = True
    #: Redis takes far larger messages than NOTIFY; this keeps one payload a small write.
    max_payload_bytes = 64 * 1024
    carries_with_commit = False  # a publish cannot be part of a commit: `send_carried`

    def __init__(self, url: str, cluster_id: str, instance_id: str) -> None:
        self._url = url
        self._envelope = Envelope(cluster_id, instance_id, self.max_payload_bytes)
        self.dropped = self._envelope.dropped
        self.messages_channel = f"chat:{cluster_id}:messages"
        self.events_channel = f"chat:{cluster_id}:events"
        self.description = f"Redis at {describe_redis_url(url)}"
        self.state = BusState("redis")
        self._client: coredis.Redis[str] | None = None
        self._unannounced = 0  # the newest position not yet published
        self._to_announce = trio.Event()  # set while there is one
        self._last_words: list[dict[str, Any]] = []  # sent as `run` ends

    def announce(self, position: int) -> None:
        if position > self._unannounced:
            self._unannounced = position
            self._to_announce.set()

    def send_when_stopping(self, event: dict[str, Any]) -> None:
        self._last_words.append(event)

    async def _publish_on_a_new_client(self, event: dict[str, Any]) -> None:
        import coredis

        payload = self._envelope.seal(event)
        if payload is None:
            return
        try:
            async with coredis.Redis.from_url(self._url, decode_responses=True) as client:
                await client.publish(self.events_channel, payload)
        except (coredis.exceptions.RedisError, OSError) as error:
            raise Unavailable(f"the bus cannot reach Redis: {error}") from None

    async def send_event(self, event: dict[str, Any]) -> None:
        payload = self._envelope.seal(event)
        if payload is None:
            await trio.lowlevel.checkpoint()
            return
        await self._publish(self.events_channel, payload)

    async def send_carried(self, payload: Payload) -> None:
        await self._publish(self.events_channel, self._envelope.seal_carried(payload))

    async def _publish(self, channel: str, payload: str) -> None:
        """Publish on the running client; `Unavailable` if Redis refuses, is unreachable or
        takes longer than `PUBLISH_TIMEOUT_S` (a silent connection never refuses)."""
        import anyio
        import coredis.exceptions

        if self._client is None:
            raise Unavailable("the bus is not running")
        try:
            with trio.fail_after(PUBLISH_TIMEOUT_S):
                await self._client.publish(channel, payload)
        except (coredis.exceptions.RedisError, OSError, anyio.ClosedResourceError) as error:
            raise Unavailable(f"the bus cannot reach Redis: {error}") from None
        except trio.TooSlowError:
            message = f"the bus cannot reach Redis: no answer in {PUBLISH_TIMEOUT_S:g} s"
            raise Unavailable(message) from None

    def notification(self, payload: Payload) -> tuple[str, str]:
        raise NotImplementedError("Redis carries through send_carried")

    async def run(
        self,
        wake: Wake,
        on_event: EventSink | None = None,
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> NoReturn:
        """Subscribe, announce and poll. Runs until cancelled."""
        import coredis

        client: coredis.Redis[str] = coredis.Redis.from_url(self._url, decode_responses=True)
        async with client:
            self._client = client
            try:
                # Holds the three tasks below; they never return, so it ends only by
                # cancellation (or by an error at start, which `serve` reports).
                async with trio.open_nursery() as nursery:
                    await nursery.start(self._listen, client, wake, on_event)
                    nursery.start_soon(self._announce_forever)
                    nursery.start_soon(self._beat_forever)
                    nursery.start_soon(self._poll_forever, wake)
                    task_status.started()
            finally:
                self._client = None
                # Not through `client`: the cancellation that ends `run` has broken its
                # connections too (their tasks live in its scope). A client of their own.
                await send_last_words(self._last_words, self._publish_on_a_new_client)
        raise AssertionError("the bus's tasks only end by cancellation")

    async def _listen(
        self,
        client: coredis.Redis[str],
        wake: Wake,
        on_event: EventSink | None,
        *,
        task_status: trio.TaskStatus[None],
    ) -> NoReturn:
        """Subscribe to both channels and hand on what arrives; resubscribe after any
        failure. Each (re)subscription wakes the writer to catch up. Reports started
        once subscribed the first time; raises `Unavailable` if that fails."""
        import anyio
        import coredis.exceptions
        from coredis.retry import NoRetryPolicy

        # What a lost connection looks like from inside coredis: its own errors, the
        # socket's, and anyio's when it touches a stream that is already closed (its
        # clean-up does, when the connection died first).
        lost = (coredis.exceptions.RedisError, OSError, anyio.ClosedResourceError)
        started = False
        delay = RECONNECT_FIRST_S
        while True:
            failure: BaseException | str | None = None
            # Its deadline moves on with everything heard: past it, the subscription is
            # silent and cancelled, and the clean-up of its connection (cancelled too, as
            # coredis shields only what it bounds itself) cannot wait on a dead socket.
            heard = trio.CancelScope(deadline=trio.current_time() + SILENCE_S)
            try:
                with heard:
                    async with client.pubsub(
                        channels=[self.messages_channel, self.events_channel],
                        retry_policy=NoRetryPolicy(),
                    ) as subscription:
                        async for message in subscription:
                            heard.deadline = trio.current_time() + SILENCE_S
                            if not self._handle(message, wake, on_event):
                                continue
                            # Subscribed (again): what committed before is in the table.
                            self.state.listening()
                            wake(None)
                            if started:
                                log.info("bus: subscribed again; catching up from the table")
                            else:
                                task_status.started()
                                started = True
                            delay = RECONNECT_FIRST_S
            except* lost as group:
                # (When cancelled, the Cancelled part of the group propagates on.)
                failure = group.exceptions[0]
            if heard.cancelled_caught:
                failure = f"heard nothing for {SILENCE_S:g} s"
            if failure is not None:
                if not started:
                    raise Unavailable(f"the bus cannot reach {self.description}: {failure}")
                log.warning("bus: lost the subscription to %s (%s)", self.description, failure)
            self.state.lost()
            await trio.sleep(delay)
            delay = min(delay * 2, RECONNECT_MAX_S)

    def _handle(self, message: Any, wake: Wake, on_event: EventSink | None) -> bool:
        """Hand on one message of the subscription; True if it says that the messages
        channel is subscribed (again)."""
        if message["type"] == "subscribe":
            return bool(message["channel"] == self.messages_channel)
        if message["type"] == "message":
            channel, data = message["channel"], message["data"]
            # Strings, since the client decodes responses; anything else is no message
            # of ours.
            if isinstance(channel, str) and isinstance(data, str):
                self._received(channel, data, wake, on_event)
        return False

    def _received(self, channel: str, data: str, wake: Wake, on_event: EventSink | None) -> None:
        if channel == self.messages_channel:
            if data.isdigit():
                wake(int(data))
        elif on_event is not None:
            event = self._envelope.open(data)
            if event is not None:
                on_event(event)

    async def _announce_forever(self) -> NoReturn:
        """Publish the newest committed position whenever there is one to publish; keep
        retrying one that could not be published."""
        delay = RECONNECT_FIRST_S
        failing = False
        while True:
            await self._to_announce.wait()
            position = self._unannounced
            try:
                await self._publish(self.messages_channel, str(position))
            except Unavailable as error:
                if not failing:
                    log.warning("bus: cannot announce to %s (%s)", self.description, error)
                    failing = True
                await trio.sleep(delay)
                delay = min(delay * 2, RECONNECT_MAX_S)
                continue
            if failing:
                log.info("bus: announcing to %s again", self.description)
                failing = False
            delay = RECONNECT_FIRST_S
            if self._unannounced == position:  # nothing newer arrived meanwhile
                self._to_announce = trio.Event()

    async def _beat_forever(self) -> NoReturn:
        """Publish `HEARTBEAT` every `HEARTBEAT_S`, for the subscriptions' silence check
        (this instance's own first of all). One that fails is not retried: the next is."""
        while True:
            try:
                await self._publish(self.messages_channel, HEARTBEAT)
            except Unavailable:
                pass  # the listener says so, once, when its subscription falls silent
            await trio.sleep(HEARTBEAT_S)

    async def _poll_forever(self, wake: Wake) -> NoReturn:
        while True:
            await trio.sleep(POLL_S)
            wake(None)
