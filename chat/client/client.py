"""`ChatClient`, one user's (or bot's) connection to a chat server, and `connect`, which
logs in and opens it.

Everything but the event stream goes over HTTP with httpx (which runs on anyio, so on
Trio and asyncio alike): rooms, sending, history, uploads. The event stream of a room is
a WebSocket of its own (`chat.client.room_events`), opened by `ChatClient.events`.

Credentials: a token (a personal access token, ``chat_pat_...``, or a login's token),
sent as ``Authorization: Bearer``; or a user name and password, logged in through
``POST /api/login``. A login's token expires (24 hours by default): with a password the
client logs in again when the server answers 401, once per refusal, and goes on.

Resource handling: `connect` is the only owner of the HTTP connection pool; it is closed
when its block ends. The client starts no task of its own.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from os import PathLike
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import anyio
import httpx

from chat.client.backoff import Backoff
from chat.client.errors import (
    AuthenticationFailed,
    ChatClientError,
    ServerRefused,
    ServerUnreachable,
)
from chat.client.records import Message, Profile, Room, UploadedFile, required_int
from chat.client.room_events import RoomEvents
from chat.client.settings import ClientSettings

#: Statuses after which a send is tried again (with the same ClientMsgID): the server
#: was busy, rate-limited the caller, or its database was away.
_TRY_AGAIN = frozenset({429, 502, 503, 504})
#: The most messages a history page holds (the server's limit).
MAX_PAGE = 100
#: How much of a file is read at once when uploading one from disk.
UPLOAD_CHUNK = 64 * 1024

Body = Callable[[], bytes | AsyncIterator[bytes]]


def _retry_after(response: httpx.Response) -> float | None:
    try:
        return float(response.headers["Retry-After"])
    except (KeyError, ValueError):
        return None


def _error_of(status: int, body: bytes, retry_after: float | None) -> ServerRefused:
    try:
        error = str(json.loads(body)["error"])
    except (ValueError, KeyError, TypeError):
        error = body.decode("utf-8", "replace")[:200] or f"HTTP {status}"
    kind = AuthenticationFailed if status == 401 else ServerRefused
    return kind(status, error, retry_after=retry_after)


async def _file_chunks(path: Path) -> AsyncIterator[bytes]:
    async with await anyio.open_file(path, "rb") as file:
        while chunk := await file.read(UPLOAD_CHUNK):
            yield chunk


class ChatClient:
    """A connection to a chat server as one user: made by `connect`, usable from any
    number of tasks at once."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        token: str,
        login: tuple[str, str] | None,
        settings: ClientSettings,
    ) -> None:
        self._http = http
        self._token = token
        self._login = login
        self._login_lock = anyio.Lock()
        self.settings = settings
        #: Who the client is; filled in by `connect`.
        self.me = Profile(uid=0, username="", display_name=None, kind="person")

    # --- credentials ---

    @property
    def websocket_url(self) -> str:
        """The room protocol's address: the server's, ``ws://`` or ``wss://``, ``/ws``."""
        parts = urlsplit(str(self._http.base_url))
        scheme = "wss" if parts.scheme == "https" else "ws"
        return urlunsplit((scheme, parts.netloc, parts.path.rstrip("/") + "/ws", "", ""))

    def websocket_headers(self) -> list[tuple[str, str]]:
        """The upgrade's headers: the token (never in the URL, where logs would keep it)."""
        return [("Authorization", f"Bearer {self._token}")]

    @property
    def token(self) -> str:
        return self._token

    async def log_in_again(self, refused_token: str) -> bool:
        """After ``refused_token`` was refused (401): log in again if the client has a
        password, and say whether there is a new token to try. Several tasks refused at
        once log in once."""
        if self._login is None:
            return False
        async with self._login_lock:
            if self._token != refused_token:
                return True  # another task logged in meanwhile
            self._token = await _log_in(self._http, *self._login, self.settings)
            return True

    # --- requests ---

    async def _request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str | int] | None = None,
        body: Any = None,
        content: Body | None = None,
    ) -> Any:
        """One request, its JSON answer (None for an empty one). A 401 with a password
        login logs in again and repeats the request once; any other error status raises
        `ServerRefused` (`AuthenticationFailed` for 401)."""
        for attempt in range(2):
            token = self._token
            status, data, retry_after = await _bounded_request(
                self._http,
                method,
                path,
                self.settings,
                params=params,
                body=body,
                content=None if content is None else content(),
                headers={"Authorization": f"Bearer {token}"},
            )
            if status == 401 and attempt == 0 and await self.log_in_again(token):
                continue
            if status >= 400:
                raise _error_of(status, data, retry_after)
            try:
                return json.loads(data) if data else None
            except ValueError:
                raise ChatClientError(f"{method} {path}: the answer is not JSON") from None
        raise AssertionError("unreachable: the second attempt returns or raises")

    # --- rooms ---

    async def rooms(self) -> list[Room]:
        """The caller's rooms, the lobby first (``GET /rooms/details``)."""
        return [Room.from_json(item) for item in await self._request("GET", "/rooms/details")]

    async def public_rooms(self) -> list[tuple[int, str]]:
        """The rooms anyone may join, the busiest first: (RoomID, name) pairs."""
        answer = await self._request("GET", "/rooms/public")
        return [(required_int(item, "RoomID"), str(item["Name"])) for item in answer]

    async def join(self, room_id: int) -> None:
        """Join a public room (joining one of your rooms again is fine)."""
        await self._request("PUT", "/join", body={"RoomID": room_id})

    async def create_room(self, name: str, *, private: bool = False) -> int:
        """Create a group room, of which the caller is the first member; its RoomID."""
        answer = await self._request(
            "POST", "/create-room", body={"Name": name, "IsPrivate": private}
        )
        return required_int(answer, "RoomID")

    # --- messages ---

    async def send(
        self,
        room_id: int,
        text: str,
        *,
        client_msg_id: str | None = None,
        reply_to: int | None = None,
        thread_id: int | None = None,
        files: Sequence[str] = (),
    ) -> Message:
        """Post a message to a room; the message as stored.

        Every message goes with a ``ClientMsgID`` (a new UUID unless given), and a send
        that fails on the way (the network, a 429 or a 5xx) is tried again with the same
        one, up to ``settings.send_attempts`` times: the server stores a ClientMsgID at
        most once per sender and room, so a retry never makes two messages, and
        answers a resend with the original. Pass your own id to make a send safe to
        repeat across restarts of your program too (1 to 64 characters)."""
        body: dict[str, Any] = {"Text": text, "ClientMsgID": client_msg_id or uuid.uuid4().hex}
        if reply_to is not None:
            body["ReplyTo"] = reply_to
        if thread_id is not None:
            body["ThreadID"] = thread_id
        if files:
            body["Files"] = list(files)
        backoff = Backoff(self.settings.reconnect_initial, self.settings.reconnect_cap)
        for attempt in range(1, self.settings.send_attempts + 1):
            try:
                return Message.from_json(
                    await self._request("POST", f"/messages/{room_id}", body=body)
                )
            except ServerRefused as refused:
                if refused.status not in _TRY_AGAIN or attempt == self.settings.send_attempts:
                    raise
                delay = backoff.next_delay(at_least=refused.retry_after or 0.0)
            except ServerUnreachable:
                if attempt == self.settings.send_attempts:
                    raise
                delay = backoff.next_delay()
            await anyio.sleep(delay)
        raise AssertionError("unreachable: the last attempt returns or raises")

    async def edit(self, room_id: int, message_id: int, text: str) -> Message:
        """Change the text of one of your messages; the message as it is now."""
        answer = await self._request(
            "PATCH", f"/messages/{room_id}/{message_id}", body={"Text": text}
        )
        return Message.from_json(answer)

    async def delete(self, room_id: int, message_id: int) -> None:
        """Delete a message (yours, or any in a room you moderate); a tombstone stays."""
        await self._request("DELETE", f"/messages/{room_id}/{message_id}")

    async def history(
        self, room_id: int, *, before_id: int = 0, limit: int = MAX_PAGE
    ) -> list[Message]:
        """One page of a room's messages older than ``before_id`` (0: the newest),
        newest first, at most ``limit`` (1 to 100); an empty page: nothing older."""
        answer = await self._request(
            "GET", f"/messages/{room_id}", params={"last_id": before_id, "limit": limit}
        )
        return [Message.from_json(item) for item in answer]

    async def thread_history(
        self, room_id: int, thread_id: int, *, before_id: int = 0, limit: int = MAX_PAGE
    ) -> list[Message]:
        """One page of a thread (its root ``thread_id`` and the replies), newest first,
        as `history` pages a room; the root is the last message of the last page."""
        answer = await self._request(
            "GET",
            f"/messages/{room_id}/threads/{thread_id}",
            params={"last_id": before_id, "limit": limit},
        )
        return [Message.from_json(item) for item in answer]

    async def iter_history(
        self, room_id: int, *, before_id: int = 0, page_size: int = MAX_PAGE
    ) -> AsyncIterator[Message]:
        """Every message of a room older than ``before_id`` (0: all of them), newest
        first, read a page at a time as the caller goes (stop whenever you like)."""
        while True:
            page = await self.history(room_id, before_id=before_id, limit=page_size)
            for message in page:
                yield message
            if len(page) < page_size:
                return
            before_id = page[-1].message_id

    async def upload(
        self, content: bytes | str | PathLike[str], *, name: str | None = None
    ) -> UploadedFile:
        """Upload a file (its bytes, or the path of one, streamed from disk); attach it
        to a message with ``send(..., files=[uploaded.file_id])``. Not retried: an
        upload has no id to make a second one harmless."""
        if isinstance(content, bytes):
            data = content

            def body() -> bytes | AsyncIterator[bytes]:
                return data

            name = name or "file"
        else:
            path = Path(content)

            def body() -> bytes | AsyncIterator[bytes]:
                return _file_chunks(path)

            name = name or path.name
        answer = await self._request("POST", "/files", params={"name": name}, content=body)
        return UploadedFile.from_json(answer)

    # --- events ---

    def events(
        self, room_id: int, *, since_id: int | None = None, presence: bool = False
    ) -> RoomEvents:
        """The stream of a room's events, to use as ``async with chat.events(room) as
        events: async for event in events: ...`` (see `RoomEvents`). From now on, or
        from after ``since_id`` (a `RoomEvents.position` kept from an earlier stream,
        0 for the room's beginning). ``presence`` adds who comes and goes, and typing."""
        return RoomEvents(self, room_id, since_id=since_id, presence=presence)


async def _bounded_request(
    http: httpx.AsyncClient,
    method: str,
    path: str,
    settings: ClientSettings,
    *,
    params: Mapping[str, str | int] | None,
    body: Any,
    content: bytes | AsyncIterator[bytes] | None,
    headers: Mapping[str, str],
) -> tuple[int, bytes, float | None]:
    """(status, body, Retry-After) of one request, the body read up to
    ``settings.max_response_bytes`` (a larger answer raises `ChatClientError`)."""
    request = http.build_request(
        method, path, params=params, json=body, content=content, headers=headers
    )
    try:
        response = await http.send(request, stream=True)
    except httpx.TransportError as error:
        raise ServerUnreachable(f"{method} {path}: {error!r}") from error
    try:
        data = bytearray()
        try:
            async for chunk in response.aiter_bytes():
                data += chunk
                if len(data) > settings.max_response_bytes:
                    raise ChatClientError(
                        f"{method} {path}: the answer is larger than"
                        f" {settings.max_response_bytes} bytes"
                    )
        except httpx.TransportError as error:
            raise ServerUnreachable(f"{method} {path}: {error!r}") from error
        return response.status_code, bytes(data), _retry_after(response)
    finally:
        await response.aclose()


async def _log_in(
    http: httpx.AsyncClient, username: str, password: str, settings: ClientSettings
) -> str:
    status, data, retry_after = await _bounded_request(
        http,
        "POST",
        "/api/login",
        settings,
        params=None,
        body={"username": username, "password": password},
        content=None,
        headers={},
    )
    if status != 200:
        raise _error_of(status, data, retry_after)
    token = json.loads(data).get("token")
    if not isinstance(token, str):
        raise ChatClientError("the login's answer has no token")
    return token


@asynccontextmanager
async def connect(
    url: str,
    *,
    token: str | None = None,
    username: str | None = None,
    password: str | None = None,
    settings: ClientSettings | None = None,
) -> AsyncIterator[ChatClient]:
    """Connect to the chat server at ``url`` (``http://host:9000``, or ``https://``) as
    the owner of ``token``, or log in as ``username`` with ``password``; yields the
    client, whose `ChatClient.me` says who it is. Raises `AuthenticationFailed` for
    credentials the server refuses.

    ::

        async with connect("http://127.0.0.1:9000", token="chat_pat_...") as chat:
            await chat.send(room_id, "deploy finished")
    """
    if (token is None) == (username is None or password is None):
        raise ValueError("give either token= or username= and password=")
    settings = settings or ClientSettings()
    async with httpx.AsyncClient(
        base_url=url, timeout=settings.http_timeout, follow_redirects=False
    ) as http:
        login = None
        if token is None:
            assert username is not None and password is not None
            login = (username, password)
            token = await _log_in(http, username, password, settings)
        client = ChatClient(http, token=token, login=login, settings=settings)
        client.me = Profile.from_json(await client._request("GET", "/profile"))
        yield client
