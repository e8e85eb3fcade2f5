"""The thumbnails of link previews' images (a preview's ``ImageURL``).

- ``GET /link-images/{digest}`` -> the thumbnail (PNG, JPEG, GIF or WebP; sniffed from
  its bytes), cached for good: its address names its content

The rules are `chat.app.messages.link_preview_images`'. Open to all, as avatars are: a
thumbnail of a public page's image, at an address only its previews give.
"""

from __future__ import annotations

from typing import Any

from quart import Blueprint

from chat.app.messages.link_preview_images import LinkPreviewImages
from chat.http.openapi import ERROR, STRING, Answer, describe
from chat.http.profiles import image_answer


def link_image_routes(images: LinkPreviewImages) -> Blueprint:
    routes = Blueprint("link_images", __name__)

    @routes.get("/link-images/<digest>")
    @describe(
        "The thumbnail of a link preview's image (a preview's ImageURL)",
        path={"digest": {**STRING, "pattern": "^[0-9a-f]{64}$"}},
        answers={
            200: Answer("the image, at most 320 px a side, metadata stripped"),
            404: Answer("no such image", ERROR),
        },
    )
    async def link_image(digest: str) -> Any:
        data, content_type = await images.read(digest)
        return image_answer(data, content_type)

    return routes
