"""Link previews: the server reads the first links of a message and attaches what each
page says of itself as a ``previews`` change (docs/PROTOCOL.md).

The pages are a web site of the tests' own on loopback (tests/web_site.py), which the
server may read only because its ``host:port`` is listed (`CHAT_LINK_PREVIEW_HOSTS`);
one that is not listed is never read, which the site's own record of requests proves.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import trio
from support import (
    Account,
    Server,
    account,
    create_room,
    http_client,
    open_clients,
    room_history,
    start_server,
)
from test_room_moderation import receive_type
from web_site import Reply, WebSite, open_web_site

from chat.core.config import Config
from chat.core.link_previews import MAX_TITLE_CHARS, links_in, read_head

PAGE = b"""<!doctype html><html><head>
<title>plain title</title>
<meta property="og:title" content="Deploy runbook">
<meta property="og:description" content="How we ship on Fridays.">
<meta property="og:site_name" content="Team wiki">
</head><body><p>never read</p></body></html>"""


@pytest.fixture
async def web_site() -> AsyncIterator[WebSite]:
    async with open_web_site() as site:
        yield site


def _config(config: Config, site: WebSite, **changes: Any) -> Config:
    return config.replace(link_preview_hosts=(site.host_entry,), **changes)


async def _serving_a_page(
    nursery: trio.Nursery, config: Config, site: WebSite
) -> tuple[Server, str]:
    """A server that may read `site`, and the URL of a page there that describes itself."""
    url = site.page("/runbook", Reply(body=PAGE))
    return await start_server(nursery, _config(config, site)), url


async def _post(server: Server, who: Account, room_id: int, text: str) -> int:
    async with http_client(server) as client:
        response = await client.post(f"/messages/{room_id}", headers=who.auth, json={"Text": text})
    assert response.status_code == 201, response.text
    return int(response.json()["MessageID"])


async def _previews_frame(server: Server, who: Account, room_id: int, text: str) -> Any:
    """The ``previews`` frame a member in the room receives after `text` is posted."""
    async with open_clients(server) as clients:
        ws = await clients.json("/ws", token=who.token)
        entered = await ws.request({"Type": "enter", "RoomID": room_id, "Presence": False})
        assert entered["Type"] == "entered"
        message_id = await _post(server, who, room_id, text)
        frame = await receive_type(ws, "previews")
    assert frame["MessageID"] == message_id
    return frame


# --- which links, and what a page says ---


def test_the_first_three_distinct_links_are_previewed_in_order() -> None:
    text = (
        "see https://a.example/x, https://b.example/y and https://a.example/x again;"
        " then (https://c.example/z). and https://d.example/"
    )
    assert links_in(text) == ["https://a.example/x", "https://b.example/y", "https://c.example/z"]


def test_a_link_in_code_is_not_previewed() -> None:
    assert links_in("`https://a.example/` and ```\nhttps://b.example/\n```") == []


def test_opengraph_comes_before_the_title_and_the_body_is_not_read() -> None:
    head = read_head("http://wiki.example/runbook", PAGE.decode())
    assert (head.title, head.description, head.site_name) == (
        "Deploy runbook",
        "How we ship on Fridays.",
        "Team wiki",
    )


def test_a_page_without_opengraph_gives_its_title_and_description() -> None:
    page = '<title> Plain\n page </title><meta name="description" content="words">'
    head = read_head("http://x.example/", page)
    assert (head.title, head.description) == ("Plain page", "words")


def test_a_long_title_is_cut_to_its_bound() -> None:
    head = read_head("http://x.example/", f"<title>{'t' * 5000}</title>")
    assert len(head.title) == MAX_TITLE_CHARS and head.title.endswith("…")


def test_an_image_and_an_oembed_link_are_made_absolute() -> None:
    page = (
        '<meta property="og:image" content="/img/card.png">'
        '<link rel="alternate" type="application/json+oembed" href="/oembed?u=1">'
    )
    head = read_head("https://x.example/a/b", page)
    assert (head.image, head.oembed) == (
        "https://x.example/img/card.png",
        "https://x.example/oembed?u=1",
    )


# --- the server ---


async def test_a_posted_link_is_previewed_for_everyone_in_the_room(
    nursery: trio.Nursery, config: Config, web_site: WebSite
) -> None:
    server, url = await _serving_a_page(nursery, config, web_site)
    alice, bob = await account(server, "alice"), await account(server, "bob")
    room_id = await create_room(server, alice, "team", bob)
    frame = await _previews_frame(server, bob, room_id, f"read {url} first")
    assert frame["Previews"] == [
        {
            "URL": url,
            "Title": "Deploy runbook",
            "Description": "How we ship on Fridays.",
            "SiteName": "Team wiki",
        }
    ]
    assert isinstance(frame["Seq"], int)
    [latest] = (await room_history(server, alice, room_id))[:1]
    assert latest["Previews"] == frame["Previews"]


async def test_a_page_linked_twice_is_read_once(
    nursery: trio.Nursery, config: Config, web_site: WebSite
) -> None:
    server, url = await _serving_a_page(nursery, config, web_site)
    alice = await account(server, "alice")
    room_id = await create_room(server, alice, "team")
    await _previews_frame(server, alice, room_id, url)
    await _previews_frame(server, alice, room_id, f"again: {url}")
    assert len(web_site.to("/runbook")) == 1


async def test_a_private_address_not_listed_is_never_read(
    nursery: trio.Nursery, config: Config, web_site: WebSite
) -> None:
    listed = web_site.page("/runbook", Reply(body=PAGE))
    async with open_web_site() as unlisted:
        secret = unlisted.page("/admin", Reply(body=PAGE))
        server = await start_server(nursery, _config(config, web_site))
        alice = await account(server, "alice")
        room_id = await create_room(server, alice, "team")
        # The listed page's previews arrive after the unlisted one was refused: the
        # message names the unlisted one first.
        frame = await _previews_frame(server, alice, room_id, f"{secret} {listed}")
        assert [p["URL"] for p in frame["Previews"]] == [listed]
        assert unlisted.requests == []


async def test_a_message_whose_pages_say_nothing_gets_no_previews(
    nursery: trio.Nursery, config: Config, web_site: WebSite
) -> None:
    empty = web_site.page("/empty", Reply(body=b"<html><body>hi</body></html>"))
    binary = web_site.page("/file", Reply(body=b"\x00" * 10, content_type="application/zip"))
    described = web_site.page("/runbook", Reply(body=PAGE))
    server = await start_server(nursery, _config(config, web_site))
    alice = await account(server, "alice")
    room_id = await create_room(server, alice, "team")
    quiet = await _post(server, alice, room_id, f"{empty} {binary}")
    # A later message's previews arrive: the earlier one's would have come first.
    await _previews_frame(server, alice, room_id, described)
    history = {m["MessageID"]: m for m in await room_history(server, alice, room_id)}
    assert "Previews" not in history[quiet]
    assert len(web_site.to("/file")) == 1


async def test_the_author_removes_the_previews_for_good(
    nursery: trio.Nursery, config: Config, web_site: WebSite
) -> None:
    server, url = await _serving_a_page(nursery, config, web_site)
    alice, bob, carol = [await account(server, name) for name in ("alice", "bob", "carol")]
    room_id = await create_room(server, alice, "team", bob, carol)
    frame = await _previews_frame(server, bob, room_id, url)
    path = f"/messages/{room_id}/{frame['MessageID']}/previews"
    async with open_clients(server) as clients, http_client(server) as client:
        ws = await clients.json("/ws", token=carol.token)
        await ws.request({"Type": "enter", "RoomID": room_id, "Presence": False})
        by_carol = await client.delete(path, headers=carol.auth)
        assert by_carol.status_code == 403, by_carol.text
        by_bob = await client.delete(path, headers=bob.auth)
        assert by_bob.status_code == 204, by_bob.text
        removed = await receive_type(ws, "previews")
    assert (removed["MessageID"], removed["Previews"]) == (frame["MessageID"], [])
    assert removed["Seq"] > frame["Seq"]
    [latest] = (await room_history(server, bob, room_id))[:1]
    assert "Previews" not in latest


async def test_a_room_with_previews_turned_off_reads_no_links(
    nursery: trio.Nursery, config: Config, web_site: WebSite
) -> None:
    server, url = await _serving_a_page(nursery, config, web_site)
    alice = await account(server, "alice")
    quiet_room = await create_room(server, alice, "quiet")
    other_room = await create_room(server, alice, "other")
    async with http_client(server) as client:
        turned = await client.put(
            f"/room/{quiet_room}/settings", headers=alice.auth, json={"LinkPreviews": False}
        )
    assert (turned.status_code, turned.json()["LinkPreviews"]) == (200, False), turned.text
    await _post(server, alice, quiet_room, url)
    await _previews_frame(server, alice, other_room, f"{url}?other")
    assert [r.path for r in web_site.requests] == ["/runbook?other"]


async def test_previews_turned_off_for_the_server_read_no_links(
    nursery: trio.Nursery, config: Config, web_site: WebSite
) -> None:
    url = web_site.page("/runbook", Reply(body=PAGE))
    server = await start_server(nursery, _config(config, web_site, link_previews=False))
    alice = await account(server, "alice")
    room_id = await create_room(server, alice, "team")
    message_id = await _post(server, alice, room_id, url)
    await trio.sleep(0.5)  # what the previewer would have taken; nothing must arrive
    assert web_site.requests == []
    assert "Previews" not in (await room_history(server, alice, room_id))[0]
    assert (await room_history(server, alice, room_id))[0]["MessageID"] == message_id


async def test_a_resume_brings_the_previews_change(
    nursery: trio.Nursery, config: Config, web_site: WebSite
) -> None:
    server, url = await _serving_a_page(nursery, config, web_site)
    alice = await account(server, "alice")
    room_id = await create_room(server, alice, "team")
    before = await _post(server, alice, room_id, "before")
    frame = await _previews_frame(server, alice, room_id, url)
    async with open_clients(server) as clients:
        ws = await clients.json("/ws", token=alice.token)
        await ws.send({"Type": "enter", "RoomID": room_id, "Presence": False, "SinceID": before})
        resumed = await receive_type(ws, "previews")
    assert (resumed["Seq"], resumed["Previews"]) == (frame["Seq"], frame["Previews"])


def _png(width: int, height: int) -> bytes:
    from io import BytesIO

    from PIL import Image

    out = BytesIO()
    Image.new("RGB", (width, height), (200, 40, 40)).save(out, "PNG")
    return out.getvalue()


async def _previewed_with_image(
    nursery: trio.Nursery, config: Config, site: WebSite, image: bytes
) -> tuple[Server, Any]:
    """A server, and the previews frame of a page whose og:image answers `image` (as
    image/png)."""
    site.page("/card.png", Reply(body=image, content_type="image/png"))
    page = PAGE.replace(b"</head>", b'<meta property="og:image" content="/card.png"></head>')
    url = site.page("/runbook", Reply(body=page))
    server = await start_server(nursery, _config(config, site))
    alice = await account(server, "alice")
    room_id = await create_room(server, alice, "team")
    return server, await _previews_frame(server, alice, room_id, url)


async def test_a_pages_image_is_kept_as_a_thumbnail_served_from_here(
    nursery: trio.Nursery, config: Config, web_site: WebSite
) -> None:
    server, frame = await _previewed_with_image(nursery, config, web_site, _png(1200, 600))
    image_url = frame["Previews"][0]["ImageURL"]
    assert image_url.startswith("/link-images/")
    async with http_client(server) as client:
        image = await client.get(image_url)
    assert image.status_code == 200, image.text
    assert image.headers["content-type"] in ("image/png", "image/jpeg", "image/webp")
    from io import BytesIO

    from PIL import Image

    assert max(Image.open(BytesIO(image.content)).size) <= 320
    assert "immutable" in image.headers["cache-control"]


async def test_an_image_that_is_not_one_gives_a_preview_without_it(
    nursery: trio.Nursery, config: Config, web_site: WebSite
) -> None:
    _server, frame = await _previewed_with_image(nursery, config, web_site, b"<html>not one")
    assert frame["Previews"][0]["Title"] == "Deploy runbook"
    assert "ImageURL" not in frame["Previews"][0]


async def test_an_unknown_link_image_is_a_404(server: Server) -> None:
    async with http_client(server) as client:
        missing = await client.get("/link-images/" + "0" * 64)
        malformed = await client.get("/link-images/../../etc")
    assert (missing.status_code, malformed.status_code) == (404, 404)
