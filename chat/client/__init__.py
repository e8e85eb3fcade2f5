"""A Python client of the chat server, for bots and scripts: async on Trio or asyncio
(through anyio), typed, and independent of the server's code (it imports nothing else
of `chat`, which pyproject.toml's import-linter contract keeps so).

- `connect` logs in (a token, or a user name and password) and yields a `ChatClient`:
  rooms (`rooms`, `join`, `create_room`), `send` (with a ``ClientMsgID``, retried
  safely), `history` and `iter_history`, `upload`, and `events`.
- `ChatClient.events` is a room's stream of events (`Message`, `MessageEdited`,
  `MessageDeleted`, `Truncated`, `OtherEvent`) that reconnects by itself, with backoff,
  and resumes where it was, so nothing is lost or repeated (`chat.client.room_events`).
- `Bot` answers ``/commands`` and mentions (`chat.client.bot`).

docs/CLIENT.md has an example bot and the details.
"""

from __future__ import annotations

from chat.client.bot import Bot, BotRequest
from chat.client.client import ChatClient, connect
from chat.client.errors import (
    AuthenticationFailed,
    ChatClientError,
    ConnectionLost,
    FrameTooLarge,
    HandshakeRefused,
    RoomRefused,
    ServerRefused,
    ServerUnreachable,
)
from chat.client.events import Event, MessageDeleted, MessageEdited, OtherEvent, Truncated
from chat.client.records import FileInfo, Message, Profile, Room, UploadedFile
from chat.client.room_events import RoomEvents
from chat.client.settings import ClientSettings

__all__ = [
    "AuthenticationFailed",
    "Bot",
    "BotRequest",
    "ChatClient",
    "ChatClientError",
    "ClientSettings",
    "ConnectionLost",
    "Event",
    "FileInfo",
    "FrameTooLarge",
    "HandshakeRefused",
    "Message",
    "MessageDeleted",
    "MessageEdited",
    "OtherEvent",
    "Profile",
    "Room",
    "RoomEvents",
    "RoomRefused",
    "ServerRefused",
    "ServerUnreachable",
    "Truncated",
    "UploadedFile",
    "connect",
]
