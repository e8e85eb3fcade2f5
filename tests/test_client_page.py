"""The browser client's page and its protections, checked over plain HTTP and raw
WebSocket handshakes (tests/test_browser.py drives the page in Chromium)."""

from __future__ import annotations

import pytest
import trio
from support import Server, account, http_client, raw_upgrade, start_server, status_of

from chat.core.config import Config


async def test_the_root_path_serves_the_client_page(server: Server) -> None:
    async with http_client(server) as client:
        page = await client.get("/")
        script = await client.get("/static/app.js")
        style = await client.get("/static/style.css")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert '<script type="module" src="/static/app.js">' in page.text
    assert script.status_code == 200 and "javascript" in script.headers["content-type"]
    assert style.status_code == 200 and style.headers["content-type"].startswith("text/css")


async def test_every_module_the_page_imports_is_served(server: Server) -> None:
    # app.js is the page's one script tag; the rest of the client comes in by its imports
    # (socket.js, timeline.js, sending.js...), each of which must be one of the files served.
    import re

    imported = re.compile(r'^import\s[^;]*?\sfrom\s*"\./([^"]+)";', re.M)
    served: set[str] = set()
    waiting = ["app.js"]
    async with http_client(server) as client:
        while waiting:
            name = waiting.pop()
            if name in served:
                continue
            response = await client.get(f"/static/{name}")
            assert response.status_code == 200, name
            assert "javascript" in response.headers["content-type"], name
            served.add(name)
            waiting += imported.findall(response.text)
    assert {"state.js", "socket.js", "rooms.js", "timeline.js", "sending.js"} <= served


async def test_the_page_forbids_inline_scripts(server: Server) -> None:
    async with http_client(server) as client:
        page = await client.get("/")
    policy = page.headers["content-security-policy"]
    directives = dict(
        part.strip().split(" ", 1) for part in policy.split(";") if " " in part.strip()
    )
    assert directives["script-src"] == "'self'"
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert directives["object-src"] == "'none'"
    assert page.headers["x-content-type-options"] == "nosniff"
    assert "<script>" not in page.text  # and the page has none


async def test_the_client_settings_say_the_longest_message_text(
    nursery: trio.Nursery, config: Config
) -> None:
    server = await start_server(nursery, config.replace(max_text_chars=300))
    async with http_client(server) as client:
        response = await client.get("/client/settings")
    assert response.status_code == 200
    assert response.json() == {"MaxTextChars": 300}


async def test_an_unknown_static_file_is_a_json_404(server: Server) -> None:
    async with http_client(server) as client:
        response = await client.get("/static/nope.js")
    assert response.status_code == 404 and response.json() == {"error": "not found"}


@pytest.mark.parametrize(
    "origin,status",
    [
        (None, b"101"),  # not a browser: no page to be tricked
        ("http://127.0.0.1:{port}", b"101"),  # the server's own page
        ("https://127.0.0.1:{port}", b"101"),  # ...behind a TLS-terminating proxy
        ("http://evil.example", b"403"),
        ("http://127.0.0.1:1", b"403"),  # same host, another port: another origin
        ("null", b"403"),  # a sandboxed or file: page
    ],
)
async def test_browser_pages_from_other_origins_cannot_open_a_socket(
    server: Server, origin: str | None, status: bytes
) -> None:
    user = await account(server, "user")
    for path in (f"/ws?token={user.token}", "/", "/v1/ws"):
        header = "" if origin is None else f"Origin: {origin.format(port=server.port)}\r\n"
        assert status_of(await raw_upgrade(server, path, header)) == status, path


async def test_allowed_origins_are_configurable(nursery: trio.Nursery, config: Config) -> None:
    server = await start_server(
        nursery, config.replace(allowed_origins=("https://chat.example.com",))
    )
    allowed = await raw_upgrade(server, "/", "Origin: https://chat.example.com\r\n")
    other = await raw_upgrade(server, "/", "Origin: https://other.example.com\r\n")
    assert (status_of(allowed), status_of(other)) == (b"101", b"403")


async def test_any_origin_can_be_allowed_explicitly(nursery: trio.Nursery, config: Config) -> None:
    server = await start_server(nursery, config.replace(allowed_origins=("*",)))
    response = await raw_upgrade(server, "/", "Origin: https://anywhere.example\r\n")
    assert status_of(response) == b"101"


async def test_the_style_sheet_defines_each_page_wide_custom_property_once(
    server: Server,
) -> None:
    # A second `:root` definition silently replaces the first everywhere it is used.
    import re

    async with http_client(server) as client:
        style = (await client.get("/static/style.css")).text
    names = [
        name
        for block in re.findall(r":root\s*\{(.*?)\}", style, re.S)
        for name in re.findall(r"(--[\w-]+)\s*:", block)
    ]
    assert names and len(names) == len(set(names)), sorted(
        name for name in set(names) if names.count(name) > 1
    )


async def test_the_web_app_manifest_icons_and_service_worker_are_served(server: Server) -> None:
    async with http_client(server) as client:
        page = await client.get("/")
        manifest = await client.get("/static/manifest.webmanifest")
        icon = await client.get("/static/icons/icon-192.png")
        worker = await client.get("/static/sw.js")
        other = await client.get("/static/app.js")
    assert '<link rel="manifest" href="/static/manifest.webmanifest">' in page.text
    assert manifest.status_code == 200
    assert manifest.headers["content-type"].startswith("application/manifest+json")
    assert manifest.json()["display"] == "standalone"
    assert icon.status_code == 200 and icon.headers["content-type"] == "image/png"
    # The worker may control the whole origin (the page at / included); nothing else says so.
    assert worker.headers["service-worker-allowed"] == "/"
    assert "service-worker-allowed" not in other.headers


async def test_a_client_file_the_browser_already_has_is_not_sent_again(
    server: Server,
) -> None:
    async with http_client(server) as client:
        first = await client.get("/static/app.js")
        again = await client.get("/static/app.js", headers={"If-None-Match": first.headers["etag"]})
    assert first.status_code == 200 and first.headers["etag"]
    assert again.status_code == 304 and again.content == b""


async def test_a_client_files_etag_is_its_content_so_every_instance_agrees(
    nursery: trio.Nursery, config: Config
) -> None:
    # Behind a load balancer the browser's next request may reach another instance: the
    # tag it kept must still match there.
    import hashlib

    other = await start_server(nursery, config)
    async with http_client(other) as client:
        script = await client.get("/static/app.js")
    assert script.headers["etag"].strip('"') == hashlib.sha256(script.content).hexdigest()[:32]
