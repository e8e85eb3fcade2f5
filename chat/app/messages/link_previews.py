"""Link previews, read by the instance that stored the message (`LinkPreviewer`).

The writer tells the previewer which messages it stored (`stored`); those with links,
in rooms that take previews, wait in a bounded queue for one of `AT_ONCE` workers, which
reads each link's page through the SSRF-safe client (`chat.net.outbound`), makes its
preview (`chat.core.link_previews`), attaches them in one change (the store makes it once
per message, whoever asks) and publishes the change through the writer, as an edit is.
Only the instance that stored a message reads its links, so a cluster reads each once;
one that stops first loses those previews (the message stays as sent). A page's image
becomes a thumbnail through the files' path (`chat.app.messages.link_preview_images`).

Pages are cached by URL for `CACHE_S` (a link posted in many rooms is read once), and so
is a page that gave nothing, so a dead link is not asked again and again.

Ownership: the queue's receiving end and the workers belong to `run`'s nursery; `stored`
only sends without waiting (a full queue drops the message's previews, counted).
Cancellation: a page being read is abandoned; nothing is half-written (one transaction).
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from typing import NoReturn, Protocol

import trio

from chat.core.errors import ChatError
from chat.core.link_previews import (
    LinkPreview,
    PageHead,
    head_with_oembed,
    links_in,
    preview_of,
    read_head,
)
from chat.core.records import Change, Message, Room
from chat.core.task_failures import TaskFailures
from chat.net.outbound import OutboundError, OutboundHttp

log = logging.getLogger(__name__)

#: How many pages are read at once, and how many messages may wait.
AT_ONCE = 4
QUEUE = 1000
#: The most of a page read (its head is at the top), and of an oEmbed answer.
PAGE_BYTES = 1024 * 1024
OEMBED_BYTES = 64 * 1024
#: How long a page read (or found to give nothing) is remembered, and how many are.
CACHE_S = 3600.0
CACHE_ENTRIES = 2000
#: Redirects followed from a link (each checked again).
REDIRECTS = 3
_PAGE_TYPES = ("text/html", "application/xhtml+xml")


class PreviewStore(Protocol):
    """What the previewer needs of the store (`chat.store.roles.LinkPreviews`)."""

    async def attach_previews(
        self, room_id: int, message_id: int, previews: tuple[LinkPreview, ...]
    ) -> Change | None: ...


class LinkPreviewer:
    """Owns the messages waiting for previews, the cache of pages, and the workers."""

    def __init__(
        self,
        store: PreviewStore,
        http: OutboundHttp,
        publish: Callable[[Change, Room], None],
        *,
        images: Callable[[str], Awaitable[str | None]] | None = None,
        enabled: bool = True,
        failures: TaskFailures | None = None,
    ) -> None:
        self._store = store
        self._http = http
        self._images = images
        self._publish = publish
        self.enabled = enabled
        self._failures = failures or TaskFailures()
        self._send, self._receive = trio.open_memory_channel[tuple[Message, Room, list[str]]](QUEUE)
        #: URL -> (when read, its preview or None), the least recently used first.
        self._cache: OrderedDict[str, tuple[float, LinkPreview | None]] = OrderedDict()
        #: Previews attached, and messages dropped for a full queue (read by tests, metrics).
        self.attached = 0
        self.dropped = 0

    def stored(self, messages: Sequence[tuple[Message, Room]]) -> None:
        """The writer stored `messages` on this instance: those with links are previewed
        soon. Never waits (the writer's task calls it)."""
        if not self.enabled:
            return
        for message, room in messages:
            if message.deleted or not room.link_previews or room.kind == "support":
                continue
            links = links_in(message.body)
            if not links:
                continue
            try:
                self._send.send_nowait((message, room, links))
            except trio.WouldBlock:
                self.dropped += 1

    async def run(
        self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> NoReturn:
        """The workers, until cancelled."""
        async with trio.open_nursery() as nursery:
            for _ in range(AT_ONCE):
                nursery.start_soon(self._work)
            task_status.started()
            await trio.sleep_forever()
        raise AssertionError("unreachable")

    async def _work(self) -> None:
        async for message, room, links in self._receive:
            with self._failures.contained("link-previews", "previewing a message's links"):
                await self._preview(message, room, links)

    async def _preview(self, message: Message, room: Room, links: list[str]) -> None:
        previews = []
        for url in links:
            preview = await self.preview(url)
            if preview is not None:
                previews.append(preview)
        if not previews:
            return
        try:
            change = await self._store.attach_previews(room.id, message.id, tuple(previews))
        except ChatError:
            return  # deleted meanwhile
        if change is not None:
            self.attached += 1
            self._publish(change, room)

    async def preview(self, url: str) -> LinkPreview | None:
        """The preview of `url`'s page, from the cache or read now (None: nothing to
        show: not a page, refused, failed, or a page that says nothing of itself)."""
        now = trio.current_time()
        cached = self._cache.get(url)
        if cached is not None and now - cached[0] < CACHE_S:
            self._cache.move_to_end(url)
            return cached[1]
        preview = await self._read(url)
        self._cache[url] = (now, preview)
        self._cache.move_to_end(url)
        while len(self._cache) > CACHE_ENTRIES:
            self._cache.popitem(last=False)
        return preview

    async def _read(self, url: str) -> LinkPreview | None:
        try:
            answer = await self._http.request(
                "GET",
                url,
                headers=[("Accept", "text/html,application/xhtml+xml")],
                max_bytes=PAGE_BYTES,
                content_types=_PAGE_TYPES,
                redirects=REDIRECTS,
                truncate=True,
            )
        except OutboundError as error:
            log.info("link preview: %s not read: %s", url[:200], error)
            return None
        if answer.status != 200:
            return None
        head = read_head(answer.url, _decoded(answer.body, answer.headers))
        if not head.title and head.oembed is not None:
            head = await self._with_oembed(head, head.oembed)
        if not head.title and not head.description:
            return None
        image = None
        if head.image is not None and self._images is not None:
            image = await self._images(head.image)
        return preview_of(url, head, image)

    async def _with_oembed(self, head: PageHead, oembed: str) -> PageHead:
        try:
            answer = await self._http.request(
                "GET", oembed, max_bytes=OEMBED_BYTES, content_types=("application/json",)
            )
        except OutboundError:
            return head
        return head_with_oembed(head, oembed, answer.body) if answer.status == 200 else head


def _decoded(body: bytes, headers: dict[str, str]) -> str:
    """A page's text: in the charset its Content-Type names, else UTF-8 (what is not
    valid in it replaced: a page cut at the bound may end inside a character)."""
    charset = "utf-8"
    for part in headers.get("content-type", "").split(";")[1:]:
        name, _, value = part.strip().partition("=")
        if name.lower() == "charset" and value:
            charset = value.strip("\"' ")
    try:
        return body.decode(charset, errors="replace")
    except LookupError:
        return body.decode("utf-8", errors="replace")
