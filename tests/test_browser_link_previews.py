"""Link previews as the page shows them (chat/static/previews.js): alice sends a link
from her composer, and carol's page, on another instance of one chat (or the same
SQLite server), shows its card under the message (site, title, description, a link to
the page); alice removes it, and it goes from carol's page too. Carol, neither the
author nor a moderator, is offered no Remove. The room's settings turn previews off.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trio
from browser import WAIT_MS, in_browser
from cluster import open_cluster
from support import (
    Server,
    account,
    create_room,
    server_config,
    start_server,
    throwaway_postgres_schema,
)
from test_browser import _no_script_errors
from test_browser_moderation import Ops, _api, _in_room, _message, _pages, expect
from test_link_previews import PAGE, _png
from web_site import Reply, WebSite, open_web_site


@pytest.fixture
async def web_site() -> AsyncIterator[WebSite]:
    async with open_web_site() as site:
        yield site


@pytest.fixture(params=["sqlite", "postgres"])
async def places(
    request: pytest.FixtureRequest, tmp_path: Path, nursery: trio.Nursery, web_site: WebSite
) -> AsyncIterator[tuple[Server, Server]]:
    """One SQLite server (twice), or two instances of one chat on PostgreSQL with one file
    storage, each allowed to read the tests' web site."""
    allowed = (web_site.host_entry,)
    if request.param == "sqlite":
        config = server_config(tmp_path, None, link_preview_hosts=allowed)
        server = await start_server(nursery, config)
        yield server, server
    else:
        async with (
            throwaway_postgres_schema() as url,
            open_cluster(
                tmp_path,
                url,
                2,
                link_preview_hosts=allowed,
                files_url=str(tmp_path / "shared-files"),  # a cluster shares its files
            ) as instances,
        ):
            yield instances[0].server, instances[1].server


@pytest.fixture
async def ops(places: tuple[Server, Server]) -> Ops:
    alice, bob, carol = [await account(places[0], name) for name in ("alice", "bob", "carol")]
    return Ops(await create_room(places[0], alice, "ops", bob, carol), alice, bob, carol)


async def test_a_link_sent_shows_its_preview_to_the_room_and_its_author_removes_it(
    places: tuple[Server, Server], ops: Ops, web_site: WebSite
) -> None:
    web_site.page("/card.png", Reply(body=_png(800, 400), content_type="image/png"))
    page = PAGE.replace(b"</head>", b'<meta property="og:image" content="/card.png"></head>')
    url = web_site.page("/runbook", Reply(body=page))

    def scenario(browser):
        alice, carol = _pages(browser, places, ops, "alice", "carol")
        alice.say(f"the runbook: {url}")
        card = _message(carol, "the runbook").locator(".preview")
        expect(card).to_have_count(1, timeout=WAIT_MS)
        expect(card.locator(".title")).to_have_text("Deploy runbook")
        expect(card.locator(".site")).to_have_text("Team wiki")
        expect(card.locator(".description")).to_have_text("How we ship on Fridays.")
        expect(card).to_have_attribute("href", url)
        expect(card).to_have_attribute("rel", "noopener noreferrer nofollow")
        image = card.locator("img")
        expect(image).to_have_attribute("src", re.compile(r"^/link-images/[0-9a-f]{64}$"))
        carol.page.wait_for_function(
            "() => document.querySelector('#messages .preview img')?.naturalWidth > 0"
        )
        expect(_message(carol, "the runbook").locator(".remove-previews")).to_have_count(0)
        carol.screenshot("link-preview")
        own = _message(alice, "the runbook")
        expect(own.locator(".preview")).to_have_count(1, timeout=WAIT_MS)
        own.get_by_role("button", name="Remove the link previews of alice's message").click()
        expect(own.locator(".previews")).to_have_count(0)
        expect(_message(carol, "the runbook").locator(".previews")).to_have_count(
            0, timeout=WAIT_MS
        )
        _no_script_errors(alice, carol)

    await in_browser(scenario)
    assert len(web_site.to("/runbook")) == 1  # read once, by the instance that stored it


@pytest.mark.parametrize("places", ["sqlite"], indirect=True)
async def test_the_room_settings_turn_previews_off(places: tuple[Server, Server], ops: Ops) -> None:
    def scenario(browser):
        alice = _in_room(browser, places[0], "alice", ops.room_id)
        alice.page.locator("#room-settings").click()
        box = alice.page.get_by_label("Show previews of links in messages")
        expect(box).to_be_checked()
        box.uncheck()
        alice.page.get_by_role("button", name="Save").click()
        expect(alice.page.locator("#settings-dialog")).to_be_hidden()
        _no_script_errors(alice)

    await in_browser(scenario)
    room = await _api(places[0], ops.alice, "GET", f"/room/{ops.room_id}")
    assert room["LinkPreviews"] is False
