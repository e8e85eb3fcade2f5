"""`ClientSettings`: the client's bounds and timings, one frozen value with defaults
that suit a bot on a real network. Tests shorten the reconnection delays."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ClientSettings:
    #: Seconds an HTTP request may take (connecting, each read and write).
    http_timeout: float = 10.0
    #: The largest HTTP answer read, in bytes (a page of 100 messages is far smaller).
    max_response_bytes: int = 8 * 1024 * 1024
    #: The largest WebSocket message read, in bytes (a message frame is a few KiB).
    max_frame_bytes: int = 1024 * 1024
    #: Seconds connecting a WebSocket and entering a room may take.
    connect_timeout: float = 10.0
    #: The first wait before connecting again, and the most any wait may be (seconds).
    reconnect_initial: float = 0.5
    reconnect_cap: float = 30.0
    #: Give up after this many failed attempts in a row (None: keep trying until
    #: cancelled).
    max_reconnect_attempts: int | None = None
    #: After this many quiet seconds the stream pings the server, and counts the
    #: connection as lost if nothing arrives within `keepalive_timeout` more.
    keepalive_interval: float = 30.0
    keepalive_timeout: float = 10.0
    #: How many times `ChatClient.send` tries a message (the same ClientMsgID each
    #: time) when the network or the server fails.
    send_attempts: int = 5

    def __post_init__(self) -> None:
        if self.send_attempts < 1:
            raise ValueError("send_attempts must be at least 1")
        if not 0 < self.reconnect_initial <= self.reconnect_cap:
            raise ValueError("reconnect delays need 0 < reconnect_initial <= reconnect_cap")
