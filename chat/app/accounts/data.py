"""A user's data: exporting it as a zip archive, and erasing the account.

**Export** (``GET /me/export``, ``chat user export``): `AccountData.export` streams a zip
archive holding ``profile.json``, ``messages.jsonl`` (every message the user sent, with its
room, its text, its first text and every edit), ``reactions.jsonl``, ``read_markers.jsonl``,
``saved.jsonl`` (the ids of the messages they saved, and when), ``files.jsonl`` (their
files' records) and ``files/<FileID>/<name>`` (the bytes, from the file storage).
Rows are read `PAGE` at a time and the archive is written as it goes:
`zipfile` writes to a sink without ``tell`` (`_Sink`) as a streamable archive (each
entry's sizes after its data), and every piece of it is handed on before the next page is
read, so an export holds one page and one chunk of a file at a time, however much the user
wrote. Compression runs in a worker thread, off the Trio thread. Exports are limited per
user (``CHAT_RATE_EXPORTS``) and in number at once on an instance
(``CHAT_EXPORTS_AT_ONCE``, 503 past it).

**Erasure** (``DELETE /me``, ``chat user delete``): `AccountData.erase`, in this order:

1. the user's tokens are revoked (every instance refuses them at once, and closes their
   WebSocket sessions at its next revocation sweep);
2. each of their messages becomes a tombstone through the ordinary deletion
   (`Changes.delete_message`: text, first text and edits erased, reactions and files
   detached), and each of their reactions is taken back (`Changes.react`); each is a
   change in the message stream, published as any deletion is, so connected clients on
   every instance see the messages deleted;
3. `Store.erase_account`, one transaction: their files' records, sessions, push
   subscriptions, read markers, login addresses, notification levels, mentions, mutes,
   bans, reports and saved messages go; they leave every group room (a room they were
   the last owner of gets a new owner); their row becomes a shell named `ERASED_NAME`,
   with no e-mail, no name keys and a password nobody knows; their name is held for
   `NAME_HOLD_DAYS`;
4. their files' bytes, and their avatar's, are removed from the storage;
5. step 2 once more, for a message a session of theirs sent before it was closed.

What other people wrote stays, in direct conversations and support threads too; the
audit log is append-only and keeps its entries (docs/SECURITY.md, "Your data").

Error handling: an erasure interrupted half-way (a database that went away) leaves an
account whose tokens are revoked and some of whose messages are tombstones; running it
again finishes it. Nothing here catches what it does not expect.
"""

from __future__ import annotations

import json
import logging
import secrets
import zipfile
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import trio

from chat.app.accounts.auth import Passwords
from chat.app.limits.rate_limits import RateLimits
from chat.app.messages.changes import MAX_EMOJI
from chat.core.errors import NotFound, Unavailable
from chat.core.moderation_records import AuditEntry
from chat.core.names import look_key, name_key
from chat.core.records import Message, User
from chat.core.statuses import status_json
from chat.files.storage import FileStorage
from chat.store import AccountData as AccountDataRole
from chat.store import Accounts, Changes, Saved, Statuses
from chat.store.account_data import NAME_HOLD_DAYS

log = logging.getLogger(__name__)

#: Rows read per query, for an export and for an erasure's work lists.
PAGE = 500

#: What a busy instance answers an export with (503).
TOO_MANY_EXPORTS = "too many exports are under way on this server: try again in a minute"


class DataStore(AccountDataRole, Accounts, Changes, Saved, Statuses, Protocol):
    """What exports and erasures need of the store."""


class _Sink:
    """Where the archive is written: a buffer the export drains after each write. It has
    no ``tell``, so `zipfile` writes a streamable archive (no seeking back)."""

    def __init__(self) -> None:
        self._chunks: list[bytes] = []

    def write(self, data: bytes) -> int:
        self._chunks.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass

    def take(self) -> bytes:
        data = b"".join(self._chunks)
        self._chunks.clear()
        return data


def _lines(items: Iterable[dict[str, Any]]) -> bytes:
    return b"".join(json.dumps(item, ensure_ascii=False).encode("utf-8") + b"\n" for item in items)


def _must_exist(message: Message | None) -> None:
    """The erasure's check of each deletion: any message of theirs that still exists."""
    if message is None:
        raise NotFound("the message was deleted meanwhile")


@asynccontextmanager
async def _closing(pieces: AsyncIterator[bytes]) -> AsyncIterator[AsyncIterator[bytes]]:
    """`pieces`, closed on the way out: an export ends early when its client leaves (or
    is dropped for not reading), and the generators it was iterating, down to the open
    file, are closed then rather than left to the garbage collector. Shielded, since that
    is when the response's task is being cancelled; each close runs only ``finally``
    blocks that do not wait (a file's or an S3 body's close)."""
    try:
        yield pieces
    finally:
        close = getattr(pieces, "aclose", None)
        if close is not None:
            with trio.CancelScope(shield=True):
                await close()


def export_file_name(user: User, now: datetime) -> str:
    """The archive's file name: the user's id (names may hold anything) and the date."""
    return f"chat-data-{user.id}-{now:%Y%m%d}.zip"


class AccountData:
    """Exports of users' data, and erasures of accounts. Starts no task; each export
    is its caller's iteration, each erasure its caller's call."""

    def __init__(
        self,
        store: DataStore,
        storage: FileStorage,
        passwords: Passwords,
        *,
        rate_limits: RateLimits | None = None,
        exports_at_once: int = 2,
        published: Callable[[int], None] | None = None,
        revoked: Callable[[int], Any] | None = None,
        names_changed: Callable[[], Any] | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._store = store
        self._storage = storage
        self._passwords = passwords
        self._rate_limits = rate_limits
        # Taken when an export starts and given back when its iteration ends, from
        # whichever task that is (a Semaphore has no owner, unlike a CapacityLimiter).
        self._exports = trio.Semaphore(exports_at_once)
        self._published = published
        self._revoked = revoked
        self._names_changed = names_changed
        self._clock = clock

    # --- export ---

    def start_export(self, user: User) -> AsyncIterator[bytes]:
        """The archive of `user`'s data, as chunks to send as they come. Raises
        `RateLimited` past the user's exports, `Unavailable` if `exports_at_once` are
        under way here; the slot is given back when the iteration ends (or is closed)."""
        if self._rate_limits is not None:
            self._rate_limits.hit(self._rate_limits.exports, str(user.id))
        try:
            self._exports.acquire_nowait()
        except trio.WouldBlock:
            raise Unavailable(TOO_MANY_EXPORTS) from None
        return self._archive(user)

    async def _archive(self, user: User) -> AsyncIterator[bytes]:
        try:
            sink = _Sink()
            archive = zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED)
            profile = {
                "UID": user.id,
                "Username": user.name,
                "Email": user.email,
                "Role": "operator" if user.is_admin else "user",
                "CreatedAt": user.created_at.isoformat(),
                "ExportedAt": self._clock().isoformat(),
                "Status": status_json(await self._store.status_of(user.id, self._clock())),
            }
            async with _closing(
                self._entry(archive, sink, "profile.json", self._one(profile))
            ) as chunks:
                async for chunk in chunks:
                    yield chunk
            for name, pages in (
                ("messages.jsonl", self._message_pages(user.id)),
                ("reactions.jsonl", self._reaction_pages(user.id)),
                ("read_markers.jsonl", self._marker_pages(user.id)),
                ("saved.jsonl", self._saved_pages(user.id)),
                ("files.jsonl", self._file_record_pages(user.id)),
            ):
                # Lines of JSON may pass 4 GiB for a prolific user: Zip64 sizes.
                async with _closing(self._entry(archive, sink, name, pages, zip64=True)) as chunks:
                    async for chunk in chunks:
                        yield chunk
            async with _closing(self._file_bytes(archive, sink, user.id)) as chunks:
                async for chunk in chunks:
                    yield chunk
            archive.close()  # the central directory: one small record per entry
            yield sink.take()
        finally:
            self._exports.release()

    async def _one(self, item: dict[str, Any]) -> AsyncIterator[bytes]:
        yield json.dumps(item, ensure_ascii=False, indent=2).encode("utf-8") + b"\n"

    async def _message_pages(self, user_id: int) -> AsyncIterator[bytes]:
        after = 0
        while page := await self._store.export_messages(user_id, after=after, limit=PAGE):
            yield _lines(page)
            after = page[-1]["MessageID"]

    async def _reaction_pages(self, user_id: int) -> AsyncIterator[bytes]:
        after = (0, "")
        while page := await self._store.export_reactions(user_id, after=after, limit=PAGE):
            yield _lines(page)
            after = (page[-1]["MessageID"], page[-1]["Emoji"])

    async def _marker_pages(self, user_id: int) -> AsyncIterator[bytes]:
        after = 0
        while page := await self._store.export_read_markers(user_id, after=after, limit=PAGE):
            yield _lines(page)
            after = page[-1]["RoomID"]

    async def _saved_pages(self, user_id: int) -> AsyncIterator[bytes]:
        after = 0
        while page := await self._store.export_saved(user_id, after=after, limit=PAGE):
            yield _lines(page)
            after = page[-1]["SavedID"]

    async def _file_record_pages(self, user_id: int) -> AsyncIterator[bytes]:
        after = ""
        while page := await self._store.export_files(user_id, after=after, limit=PAGE):
            yield _lines(
                {
                    "FileID": file.id,
                    "Name": file.name,
                    "Size": file.size,
                    "ContentType": file.content_type,
                    "SHA256": file.sha256,
                    "Width": file.width,
                    "Height": file.height,
                    "UploadedAt": file.created_at.isoformat(),
                    "Attached": file.attached,
                    "Path": f"files/{file.id}/{file.name}",
                }
                for file in page
            )
            after = page[-1].id

    async def _entry(
        self,
        archive: zipfile.ZipFile,
        sink: _Sink,
        name: str,
        pieces: AsyncIterator[bytes],
        *,
        zip64: bool = False,
    ) -> AsyncIterator[bytes]:
        """One entry of the archive, written piece by piece, and what the archive holds
        after each piece (each piece is compressed in a worker thread)."""
        async with _closing(pieces):
            with archive.open(name, "w", force_zip64=zip64) as entry:
                yield sink.take()  # the entry's header
                async for piece in pieces:
                    await trio.to_thread.run_sync(entry.write, piece)
                    data = sink.take()
                    if data:
                        yield data
        yield sink.take()  # the end of its data, and its sizes

    async def _file_bytes(
        self, archive: zipfile.ZipFile, sink: _Sink, user_id: int
    ) -> AsyncIterator[bytes]:
        after = ""
        while page := await self._store.export_files(user_id, after=after, limit=PAGE):
            for file in page:
                try:
                    await self._storage.size(file.storage_key)
                except FileNotFoundError:
                    log.warning("file %s has a record but no bytes: left out of an export", file.id)
                    continue
                name = f"files/{file.id}/{file.name}"
                pieces = self._storage.open_range(file.storage_key)
                async with _closing(self._entry(archive, sink, name, pieces)) as chunks:
                    async for chunk in chunks:
                        yield chunk
            after = page[-1].id

    # --- erasure ---

    async def erase(self, user: User, *, audit: AuditEntry | None = None) -> bool:
        """Erase `user`'s account (the module says how), with `audit` written in the
        erasure's last transaction (an operator's `chat user delete`). False if there is
        no such user, or it was erased already."""
        try:
            await self._store.revoke_tokens(user.id)
        except NotFound:
            return False
        if self._revoked is not None:
            await self._revoked(user.id)
        await self._tombstone_messages(user.id)
        await self._take_back_reactions(user.id)
        password_hash = await self._passwords.hash(secrets.token_urlsafe(32))
        files = await self._store.erase_account(
            user.id,
            name_key=name_key(user.name),
            look_key=look_key(user.name),
            held_until=self._clock() + timedelta(days=NAME_HOLD_DAYS),
            password_hash=password_hash,
            audit=audit,
        )
        if files is None:
            return False
        for file in files:
            await self._storage.delete(file.storage_key)
            await self._storage.delete(file.thumbnail_key)
        if user.avatar_key is not None:
            await self._storage.delete(user.avatar_key)
        await self._tombstone_messages(user.id)
        # the history kept in memory (chat.app.history.from_memory)
        if self._names_changed is not None:
            await self._names_changed()
        log.info("account erased", extra={"user_id": user.id, "files": len(files)})
        return True

    def _publish(self, position: int | None) -> None:
        if position is not None and self._published is not None:
            self._published(position)

    async def _tombstone_messages(self, user_id: int) -> None:
        after = 0
        while page := await self._store.unerased_messages(user_id, after=after, limit=PAGE):
            last = None
            for message_id, room_id in page:
                try:
                    change = await self._store.delete_message(room_id, message_id, _must_exist)
                except NotFound:
                    continue
                if change is not None:
                    last = (change.then or change).seq  # a thread's summary came after
            # Once per page: the writer reads every change up to `last` from the table.
            self._publish(last)
            after = page[-1][0]

    async def _take_back_reactions(self, user_id: int) -> None:
        after = (0, "")
        while page := await self._store.unerased_reactions(user_id, after=after, limit=PAGE):
            last = None
            for message_id, room_id, emoji in page:
                try:
                    change = await self._store.react(
                        room_id,
                        message_id,
                        user_id,
                        emoji,
                        add=False,
                        max_emoji=MAX_EMOJI,
                        check=_must_exist,
                    )
                except NotFound:
                    continue
                if change is not None:
                    last = change.seq
            self._publish(last)
            after = (page[-1][0], page[-1][2])
