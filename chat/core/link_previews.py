"""Link previews: which links of a message are previewed, and what a page says of itself.

A message's first `MAX_PREVIEWS` distinct ``http(s)://`` links are previewed. A page
describes itself in its head: OpenGraph (``og:title``...), then Twitter's card
(``twitter:title``...), then plain HTML (``<title>``, ``<meta name="description">``);
an oEmbed link (``<link rel="alternate" type="application/json+oembed">``) is where
richer sites say more, read when the page's own head has no title. Every field is cut
to a bound before it is kept: a page is a stranger's input.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urljoin, urlsplit

#: How many links of one message are previewed.
MAX_PREVIEWS = 3
#: The longest URL previewed or kept, in characters.
MAX_URL_CHARS = 2048
MAX_TITLE_CHARS = 300
MAX_DESCRIPTION_CHARS = 1000
MAX_SITE_NAME_CHARS = 100

#: The kind of a `Change` that gives a message's previews.
PREVIEWS = "previews"

#: A link in a message's text: http(s), up to whitespace or a character that ends a link
#: in prose or Markdown (``<>()[]"'`` and backquote); trailing punctuation is taken off.
_LINK = re.compile(r"""https?://[^\s<>()\[\]"'`]+""", re.IGNORECASE)
_TRAILING = ".,;:!?*_~"


@dataclass(frozen=True, slots=True)
class LinkPreview:
    """What a linked page says of itself: `url` is the link as the message has it;
    `image_url` the server's own address of its thumbnail (None: none)."""

    url: str
    title: str
    description: str = ""
    site_name: str = ""
    image_url: str | None = None


def links_in(text: str) -> list[str]:
    """The first `MAX_PREVIEWS` distinct http(s) links of `text`, in order. A link in
    a code span or block is not one (it is shown as code)."""
    if "://" not in text:
        return []  # most messages: no pattern is run on the writer's task
    text = re.sub(r"```.*?```|`[^`\n]*`", " ", text, flags=re.DOTALL)
    found: list[str] = []
    for match in _LINK.finditer(text):
        link = match.group(0).rstrip(_TRAILING)
        parts = urlsplit(link)
        if not parts.hostname or len(link) > MAX_URL_CHARS or link in found:
            continue
        found.append(link)
        if len(found) == MAX_PREVIEWS:
            break
    return found


@dataclass(frozen=True, slots=True)
class PageHead:
    """What a page's head says of it (`read_head`), before it becomes a `LinkPreview`:
    `image` and `oembed` are absolute URLs found in it (None: none)."""

    title: str
    description: str
    site_name: str
    image: str | None
    oembed: str | None


def read_head(page_url: str, html: str) -> PageHead:
    """The page's own description of itself, read from `html` (the page at `page_url`,
    maybe cut short: what was read of it)."""
    reader = _HeadReader()
    try:
        reader.feed(html)
        reader.close()
    except _HeadDone:
        pass
    meta = reader.meta
    title = meta.get("og:title") or meta.get("twitter:title") or reader.title
    description = (
        meta.get("og:description")
        or meta.get("twitter:description")
        or meta.get("description")
        or ""
    )
    image = meta.get("og:image") or meta.get("og:image:url") or meta.get("twitter:image")
    return PageHead(
        title=_clean(title, MAX_TITLE_CHARS),
        description=_clean(description, MAX_DESCRIPTION_CHARS),
        site_name=_clean(meta.get("og:site_name", ""), MAX_SITE_NAME_CHARS),
        image=_absolute(page_url, image),
        oembed=_absolute(page_url, reader.oembed),
    )


def head_with_oembed(head: PageHead, page_url: str, body: bytes) -> PageHead:
    """`head` with what an oEmbed answer (`body`, JSON) adds: its title, provider's name
    and thumbnail where the page gave none. An answer that is no oEmbed changes nothing."""
    try:
        found: Any = json.loads(body)
    except ValueError:
        return head
    if not isinstance(found, dict):
        return head

    def text(key: str) -> str:
        value = found.get(key)
        return value if isinstance(value, str) else ""

    thumbnail = text("thumbnail_url") or None
    return PageHead(
        title=head.title or _clean(text("title"), MAX_TITLE_CHARS),
        description=head.description,
        site_name=head.site_name or _clean(text("provider_name"), MAX_SITE_NAME_CHARS),
        image=head.image or _absolute(page_url, thumbnail),
        oembed=None,
    )


def preview_of(url: str, head: PageHead, image_url: str | None) -> LinkPreview | None:
    """The preview of the link `url`: None when its page says nothing worth showing."""
    if not head.title and not head.description:
        return None
    site = head.site_name or (urlsplit(url).hostname or "")
    return LinkPreview(
        url=url,
        title=head.title,
        description=head.description,
        site_name=_clean(site, MAX_SITE_NAME_CHARS),
        image_url=image_url,
    )


def previews_to_json(previews: tuple[LinkPreview, ...]) -> str:
    """The stored form: the protocol's own shape."""
    return json.dumps([preview_shape(p) for p in previews], ensure_ascii=False)


def previews_from_json(text: str | None) -> tuple[LinkPreview, ...]:
    if not text:
        return ()
    return tuple(
        LinkPreview(
            url=item["URL"],
            title=item["Title"],
            description=item.get("Description", ""),
            site_name=item.get("SiteName", ""),
            image_url=item.get("ImageURL"),
        )
        for item in json.loads(text)
    )


def preview_shape(preview: LinkPreview) -> dict[str, Any]:
    """A preview as the protocol sends it."""
    shape: dict[str, Any] = {
        "URL": preview.url,
        "Title": preview.title,
        "Description": preview.description,
        "SiteName": preview.site_name,
    }
    if preview.image_url is not None:
        shape["ImageURL"] = preview.image_url
    return shape


def _clean(text: str | None, most: int) -> str:
    """`text` on one line, its runs of white space as one space, cut to `most`."""
    if not text:
        return ""
    text = " ".join(text.split())
    return text if len(text) <= most else text[: most - 1].rstrip() + "…"


def _absolute(page_url: str, found: str | None) -> str | None:
    if not found:
        return None
    url = urljoin(page_url, found.strip())
    if urlsplit(url).scheme not in ("http", "https") or len(url) > MAX_URL_CHARS:
        return None
    return url


class _HeadDone(Exception):
    """The head is read: the rest of the page is not needed."""


class _HeadReader(HTMLParser):
    """Reads ``<meta>``, ``<title>`` and the oEmbed ``<link>`` of a page's head, and
    stops at ``<body>`` (or the head's end)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.meta: dict[str, str] = {}
        self.title = ""
        self.oembed: str | None = None
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = {name: value or "" for name, value in attrs}
        if tag == "meta":
            key = (found.get("property") or found.get("name") or "").strip().lower()
            if key and key not in self.meta and len(self.meta) < 100:
                self.meta[key] = found.get("content", "")[: MAX_URL_CHARS * 2]
        elif tag == "title":
            self._in_title = True
        elif tag == "link" and self.oembed is None:
            rel = found.get("rel", "").lower().split()
            if "alternate" in rel and found.get("type", "").lower() == "application/json+oembed":
                self.oembed = found.get("href") or None
        elif tag == "body":
            raise _HeadDone

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
        elif tag == "head":
            raise _HeadDone

    def handle_data(self, data: str) -> None:
        if self._in_title and len(self.title) < MAX_TITLE_CHARS * 2:
            self.title += data
