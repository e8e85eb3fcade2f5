"""Files in the browser client (chat/static/attachments.js): attached by the 📎 button, by
dropping them on the room or by pasting an image, each uploaded at once with its progress
and a way to cancel it; sent with the message (or alone); shown to everyone in the room
as inline images (opened at full size with a click) or as chips that download; and the
server's refusals (too large, too many) said on the file, with what was typed kept."""

from __future__ import annotations

import base64
import re
import time
from pathlib import Path
from typing import Any

import trio
from browser import PHONE, SQLITE_ONLY, WAIT_MS, Client, in_browser, open_client, registered
from files_support import chart
from support import Server, server_config, start_server
from test_browser import _no_script_errors

pytestmark = SQLITE_ONLY  # tests/browser.py says why

#: Files as Playwright's set_input_files takes them.
CHART = {"name": "chart.png", "mimeType": "image/png", "buffer": chart()}
NOTES = {"name": "notes.txt", "mimeType": "text/plain", "buffer": b"minutes\n" * 5750}


def send_with_files(sender: Client, reader: Client, text: str, *files: dict[str, Any]) -> Any:
    """`sender` sends `text` with `files` (chosen with the button); `reader`'s item of the
    message (a Playwright locator), once it has arrived."""
    sender.attach(*files)
    sender.say(text)
    reader.wait_for_message(text)
    return reader.page.locator("#messages li[data-id]").last


def _files_sent(client: Client) -> list[list[str]]:
    """The Files of each message frame the page sent, in order."""
    return [
        f.get("Files", [])
        for f in client.frames_sent
        if isinstance(f, dict) and f.get("Type") == "message"
    ]


def _refused_with(client: Client, status: int) -> None:
    """The page's only errors are the browser's notes of the upload refused with `status`
    (it logs every failed request): no script error."""
    client.errors[:] = [e for e in client.errors if f"status of {status}" not in e]
    _no_script_errors(client)


async def test_files_chosen_with_the_attach_button_go_with_the_message(server: Server) -> None:
    from playwright.sync_api import expect

    def scenario(browser):
        alice, bob = registered(browser, server.http, "alice", "bob")
        alice.attach(CHART, NOTES)
        assert alice.page.locator("#attachments .file-name").all_text_contents() == [
            "chart.png",
            "notes.txt",
        ]
        alice.screenshot("files-attached")
        alice.say("the chart and the notes")
        bob.wait_for_message("the chart and the notes")
        message = bob.page.locator("#messages li[data-id]").last
        expect(message.locator(".files img")).to_have_attribute("alt", "chart.png")
        expect(message.locator(".files .file")).to_have_text("notes.txt · 46 KB")
        assert len(_files_sent(alice)[-1]) == 2
        expect(alice.page.locator("#attachments")).to_be_hidden()  # sent: the tray is empty
        bob.screenshot("files-in-a-message")
        _no_script_errors(alice, bob)

    await in_browser(scenario)


async def test_an_image_is_shown_inline_to_the_others_and_opens_at_full_size(
    server: Server,
) -> None:
    from playwright.sync_api import expect

    def scenario(browser):
        alice, bob = registered(browser, server.http, "alice", "bob")
        image = send_with_files(alice, bob, "sales by month", CHART).locator(".files img")
        expect(image).to_be_visible()
        # Sized from the message's Width and Height before it loads (the thumbnail is
        # 400 x 225): 1600 x 900 fits 360 px wide.
        assert (image.get_attribute("width"), image.get_attribute("height")) == ("360", "203")
        assert "/thumbnail" in (image.get_attribute("src") or "")
        bob.page.wait_for_function(
            "(img) => img.complete && img.naturalWidth === 400", arg=image.element_handle()
        )
        image.click()
        viewer = bob.page.locator("#viewer")
        expect(viewer).to_be_visible()
        full = viewer.locator("img")
        expect(full).to_have_attribute("alt", "chart.png")
        bob.page.wait_for_function(
            "(img) => img.complete && img.naturalWidth === 1600", arg=full.element_handle()
        )
        expect(viewer.get_by_role("link", name="Download")).to_have_attribute(
            "download", "chart.png"
        )
        bob.screenshot("files-viewer")
        bob.page.keyboard.press("Escape")
        expect(viewer).to_be_hidden()
        _no_script_errors(alice, bob)

    await in_browser(scenario)


def paste_image(client: Client, image: bytes) -> None:
    """Put `image` (a PNG) on the browser's clipboard and paste it into the composer with
    Ctrl+V, as a person pastes a screenshot."""
    client.page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    written = client.page.evaluate(
        """async (data) => {
            const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
            const blob = new Blob([bytes], { type: "image/png" });
            await navigator.clipboard.write([new ClipboardItem({ "image/png": blob })]);
            return true;
        }""",
        base64.b64encode(image).decode(),
    )
    assert written
    client.page.focus("#composer")
    client.page.keyboard.press("Control+V")


def _drag(client: Client, events: list[str], files: list[dict[str, Any]]) -> None:
    """Drag `files` over the room (the `events`, in order, on the message list), as the
    browser does for files dragged in from the desktop."""
    client.page.evaluate(
        """([events, files]) => {
            const transfer = new DataTransfer();
            for (const { name, mimeType, data } of files) {
                const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
                transfer.items.add(new File([bytes], name, { type: mimeType }));
            }
            const target = document.querySelector("#messages");
            for (const type of events) {
                target.dispatchEvent(new DragEvent(type, {
                    bubbles: true, cancelable: true, dataTransfer: transfer,
                }));
            }
        }""",
        [
            events,
            [{**f, "data": base64.b64encode(f["buffer"]).decode(), "buffer": None} for f in files],
        ],
    )


def _slow_uploads(client: Client, bytes_per_second: int) -> None:
    """Throttle the page's uploads (Chromium's network emulation), so that one is seen
    on its way."""
    session = client.page.context.new_cdp_session(client.page)
    session.send("Network.enable")
    session.send(
        "Network.emulateNetworkConditions",
        {
            "offline": False,
            "latency": 0,
            "downloadThroughput": -1,
            "uploadThroughput": bytes_per_second,
        },
    )


def _progress(client: Client) -> float:
    return client.page.eval_on_selector("#attachments progress", "(bar) => bar.value")


def _wait_for_progress(client: Client) -> None:
    client.page.wait_for_function(
        "() => document.querySelector('#attachments progress')?.value > 0", timeout=WAIT_MS
    )


async def test_a_file_dropped_on_the_room_is_attached(server: Server) -> None:
    from playwright.sync_api import expect

    def scenario(browser):
        alice, bob = registered(browser, server.http, "alice", "bob")
        _drag(alice, ["dragenter", "dragover"], [NOTES])
        expect(alice.page.locator("#room")).to_have_class("dropping")  # says where to drop
        alice.screenshot("files-dragged-over")
        _drag(alice, ["drop"], [NOTES])
        expect(alice.page.locator("#room")).not_to_have_class("dropping")
        expect(alice.page.locator("#attachments li.uploaded .file-name")).to_have_text("notes.txt")
        alice.say("dropped in")
        bob.wait_for_message("dropped in")
        message = bob.page.locator("#messages li[data-id]").last
        expect(message.locator(".files .file")).to_have_text("notes.txt · 46 KB")
        _no_script_errors(alice, bob)

    await in_browser(scenario)


async def test_an_image_pasted_into_the_composer_is_sent_alone_without_text(
    server: Server,
) -> None:
    from playwright.sync_api import expect

    def scenario(browser):
        alice, bob = registered(browser, server.http, "alice", "bob")
        paste_image(alice, chart(800, 500))
        attached = alice.page.locator("#attachments li.uploaded")
        expect(attached).to_have_count(1, timeout=WAIT_MS)
        name = attached.locator(".file-name").inner_text()
        assert name.startswith("Pasted image ") and name.endswith(".png"), name
        assert alice.page.input_value("#composer") == ""  # nothing pasted as text
        alice.page.press("#composer", "Enter")  # no text: the image alone
        image = bob.page.locator("#messages li[data-id] .files img")
        expect(image).to_have_count(1, timeout=WAIT_MS)
        expect(image).to_have_attribute("alt", name)
        assert bob.page.locator("#messages li[data-id] .text").inner_text() == ""
        assert _files_sent(alice)[-1] != []
        _no_script_errors(alice, bob)

    await in_browser(scenario)


async def test_an_upload_shows_its_progress_and_cancelling_it_leaves_nothing_behind(
    server: Server,
) -> None:
    from playwright.sync_api import expect

    data_dir = Path(server.config.data_dir)
    big = {"name": "backup.tar", "mimeType": "application/x-tar", "buffer": b"\x01" * 3_000_000}

    def stored_files() -> list[Path]:
        return [p for d in ("files", "uploads") for p in (data_dir / d).rglob("*") if p.is_file()]

    def scenario(browser):
        alice, bob = registered(browser, server.http, "alice", "bob")
        _slow_uploads(alice, 200_000)  # 15 s for the file: cancelled long before
        alice.page.set_input_files("#attach-input", files=[big])
        _wait_for_progress(alice)
        first = _progress(alice)
        alice.page.wait_for_function(  # it moves on
            f"() => document.querySelector('#attachments progress').value > {first + 0.1}",
            timeout=WAIT_MS,
        )
        now = _progress(alice)
        assert 0 < now < 1
        said = alice.page.locator("#attachments .size").inner_text()
        assert re.fullmatch(r"(\d+)% of 3\.0 MB", said), said
        alice.screenshot("files-uploading")
        alice.page.get_by_role("button", name="Cancel uploading backup.tar").click()
        expect(alice.page.locator("#attachments")).to_be_hidden()
        alice.say("never mind the backup")
        bob.wait_for_message("never mind the backup")
        assert bob.page.locator("#messages .files").count() == 0
        assert _files_sent(alice)[-1] == []
        # The server kept nothing of the upload cut off (it notices at once: give it a
        # moment all the same).
        deadline = time.monotonic() + WAIT_MS / 1000
        while stored_files() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert stored_files() == []
        _no_script_errors(alice, bob)

    await in_browser(scenario)


async def test_send_pressed_during_an_upload_sends_the_message_once_it_is_done(
    server: Server,
) -> None:
    from playwright.sync_api import expect

    medium = {"name": "log.txt", "mimeType": "text/plain", "buffer": b"ok\n" * 300_000}

    def scenario(browser):
        alice, bob = registered(browser, server.http, "alice", "bob")
        _slow_uploads(alice, 500_000)  # about 2 s
        alice.page.set_input_files("#attach-input", files=[medium])
        _wait_for_progress(alice)
        alice.say("the log, once it is up")
        expect(alice.page.locator("#attach-status")).to_have_text(
            "Sending when the uploads are done…"
        )
        assert alice.page.input_value("#composer") == "the log, once it is up"  # kept
        bob.wait_for_message("the log, once it is up")
        message = bob.page.locator("#messages li[data-id]").last
        expect(message.locator(".files .file")).to_have_text("log.txt · 900 KB")
        expect(alice.page.locator("#attach-status")).to_be_hidden()
        _no_script_errors(alice, bob)

    await in_browser(scenario)


async def test_a_message_carries_at_most_ten_files_and_the_rest_are_left_out_saying_so(
    server: Server,
) -> None:
    from playwright.sync_api import expect

    files = [
        {"name": f"page-{n}.txt", "mimeType": "text/plain", "buffer": b"page %d" % n}
        for n in range(12)
    ]

    def scenario(browser):
        alice, bob = registered(browser, server.http, "alice", "bob")
        alice.page.set_input_files("#attach-input", files=files)
        expect(alice.page.locator("#attachments li.uploaded")).to_have_count(10, timeout=WAIT_MS)
        expect(alice.page.locator("#attach-status")).to_have_text(
            "A message carries at most 10 files: 2 left out."
        )
        alice.say("ten pages")
        bob.wait_for_message("ten pages")
        names = bob.page.locator("#messages li[data-id] .files .file-name").all_text_contents()
        assert names == [f"page-{n}.txt" for n in range(10)]
        _no_script_errors(alice, bob)

    await in_browser(scenario)


async def test_a_file_that_is_not_an_image_is_a_chip_that_downloads_it(server: Server) -> None:
    def scenario(browser):
        alice, bob = registered(browser, server.http, "alice", "bob")
        chip = send_with_files(alice, bob, "minutes attached", NOTES).locator(".files .file")
        assert chip.get_attribute("title") == "Download notes.txt"
        assert bob.page.locator("#messages li[data-id] .files img").count() == 0
        with bob.page.expect_download(timeout=WAIT_MS) as download:
            chip.click()
        assert download.value.suggested_filename == "notes.txt"
        assert Path(download.value.path()).read_bytes() == NOTES["buffer"]
        _no_script_errors(alice, bob)

    await in_browser(scenario)


async def test_a_file_in_a_direct_conversation_reaches_the_other_person(server: Server) -> None:
    from playwright.sync_api import expect

    def scenario(browser):
        alice, bob = registered(browser, server.http, "alice", "bob")
        alice.open_direct("bob")
        alice.attach(CHART)
        alice.say("for your eyes only")
        bob.page.locator("#rooms button", has_text="with alice").click()
        bob.wait_for_message("for your eyes only")
        image = bob.page.locator("#messages li[data-id] .files img")
        expect(image).to_have_attribute("alt", "chart.png")
        bob.page.wait_for_function("(img) => img.naturalWidth > 0", arg=image.element_handle())
        _no_script_errors(alice, bob)

    await in_browser(scenario)


async def test_files_of_earlier_messages_show_from_the_rooms_history(server: Server) -> None:
    from playwright.sync_api import expect

    def scenario(browser):
        alice, bob = registered(browser, server.http, "alice", "bob")
        send_with_files(alice, bob, "for later", CHART, NOTES)
        bob.page.reload()
        bob.wait_online()
        bob.wait_for_message("for later")  # from GET /messages this time
        message = bob.page.locator("#messages li[data-id]").last
        expect(message.locator(".files img")).to_have_attribute("alt", "chart.png")
        expect(message.locator(".files .file")).to_have_text("notes.txt · 46 KB")
        _no_script_errors(alice, bob)

    await in_browser(scenario)


async def test_a_file_sent_while_a_page_was_away_shows_when_it_comes_back(server: Server) -> None:
    from playwright.sync_api import expect

    def scenario(browser):
        (alice,) = registered(browser, server.http, "alice")
        bob = open_client(browser, server.http, cuttable=True)
        bob.register("bob")
        alice.say("before")
        bob.wait_for_message("before")
        bob.cut_off()
        alice.attach(CHART)
        alice.say("while you were away")
        alice.wait_for_message("while you were away")
        bob.reconnect()  # the resume brings the message, with its files
        bob.wait_for_message("while you were away")
        message = bob.page.locator("#messages li[data-id]").last
        expect(message.locator(".files img")).to_have_attribute("alt", "chart.png")
        _no_script_errors(alice, bob)

    await in_browser(scenario)


async def test_a_deleted_messages_files_are_gone_from_every_page(server: Server) -> None:
    from playwright.sync_api import expect

    def scenario(browser):
        alice, bob = registered(browser, server.http, "alice", "bob")
        send_with_files(alice, bob, "wrong chart", CHART)
        # Both have seen the chart: a thumbnail still loading when the file goes would be
        # a 404 in the console, which is the browser's note, not the client's error.
        for client in (alice, bob):
            thumbnail = client.page.locator("#messages li[data-id] .files img").last
            client.page.wait_for_function(
                "(img) => img.complete && img.naturalWidth > 0", arg=thumbnail.element_handle()
            )
        mine = alice.page.locator("#messages li[data-id]").last
        mine.hover()
        mine.get_by_role("button", name="Delete alice's message").click()
        mine.get_by_role("button", name="Yes, delete").click()
        expect(bob.page.locator("#messages li.deleted")).to_have_count(1, timeout=WAIT_MS)
        expect(bob.page.locator("#messages .files")).to_have_count(0)
        expect(alice.page.locator("#messages .files")).to_have_count(0)
        _no_script_errors(alice, bob)

    await in_browser(scenario)


async def test_a_file_over_the_size_limit_is_refused_saying_why_and_the_text_stays(
    nursery: trio.Nursery, tmp_path: Path, database_url: str | None
) -> None:
    from playwright.sync_api import expect

    server = await start_server(
        nursery, server_config(tmp_path, database_url, max_file_bytes=100_000)
    )
    huge = {"name": "video.mp4", "mimeType": "video/mp4", "buffer": b"\0" * 400_000}

    def scenario(browser):
        alice, bob = registered(browser, server.http, "alice", "bob")
        alice.page.fill("#composer", "the video of the demo")
        alice.page.set_input_files("#attach-input", files=[huge])
        refused = alice.page.locator("#attachments li.failed")
        expect(refused.get_by_role("alert")).to_have_text(
            "Not uploaded: the file is too large: the limit is 100000 bytes (CHAT_MAX_FILE_SIZE).",
            timeout=WAIT_MS,
        )
        assert alice.page.input_value("#composer") == "the video of the demo"
        assert refused.get_by_role("button", name="Upload video.mp4 again").count() == 0
        alice.screenshot("files-too-large")
        # It cannot go with the message; removed, the text goes alone.
        alice.page.press("#composer", "Enter")
        expect(alice.page.locator("#attach-status")).to_have_text(
            "Retry or remove the files that were not uploaded, then send."
        )
        assert alice.page.input_value("#composer") == "the video of the demo"
        refused.get_by_role("button", name="Remove video.mp4").click()
        alice.page.press("#composer", "Enter")
        bob.wait_for_message("the video of the demo")
        assert bob.page.locator("#messages .files").count() == 0
        _refused_with(alice, 413)
        _no_script_errors(bob)

    await in_browser(scenario)


async def test_an_upload_past_the_users_quota_is_refused_saying_why(
    nursery: trio.Nursery, tmp_path: Path, database_url: str | None
) -> None:
    from playwright.sync_api import expect

    config = server_config(tmp_path, database_url, user_quota_bytes=70_000)
    server = await start_server(nursery, config)

    def scenario(browser):
        (alice,) = registered(browser, server.http, "alice")
        alice.attach(NOTES)  # 46 KB of 70
        alice.page.set_input_files("#attach-input", files=[{**NOTES, "name": "more.txt"}])
        refused = alice.page.locator("#attachments li.failed")
        expect(refused.get_by_role("alert")).to_contain_text(
            "past your quota of 70000 (CHAT_USER_QUOTA)", timeout=WAIT_MS
        )
        expect(refused.locator(".file-name")).to_have_text("more.txt")
        expect(alice.page.locator("#attachments li.uploaded")).to_have_count(1)  # kept
        _refused_with(alice, 413)

    await in_browser(scenario)


async def test_an_upload_past_the_rate_limit_says_when_to_retry_and_retry_uploads_it(
    nursery: trio.Nursery, tmp_path: Path, database_url: str | None
) -> None:
    from playwright.sync_api import expect

    config = server_config(tmp_path, database_url, rate_limits=True, rate_uploads="1 per 2 seconds")
    server = await start_server(nursery, config)

    def scenario(browser):
        (alice,) = registered(browser, server.http, "alice")
        alice.attach(NOTES)
        alice.page.set_input_files("#attach-input", files=[CHART])
        refused = alice.page.locator("#attachments li.failed")
        said = re.compile(r"^Not uploaded: too many file uploads: try again in (\d+) s\.$")
        expect(refused.get_by_role("alert")).to_have_text(said, timeout=WAIT_MS)
        wait = said.match(refused.get_by_role("alert").inner_text())
        assert wait is not None
        time.sleep(int(wait[1]))
        refused.get_by_role("button", name="Upload chart.png again").click()
        expect(alice.page.locator("#attachments li.uploaded")).to_have_count(2, timeout=WAIT_MS)
        _refused_with(alice, 429)

    await in_browser(scenario)


async def test_files_in_messages_and_in_the_composer_fit_a_phone_screen(server: Server) -> None:
    def scenario(browser):
        (alice,) = registered(browser, server.http, "alice")
        bob = open_client(browser, server.http, screen=PHONE)
        bob.register("bob")
        long_name = {**NOTES, "name": "minutes of the quarterly planning meeting, final.txt"}
        send_with_files(alice, bob, "both", CHART, long_name)
        bob.assert_on_screen("#messages .files img")
        bob.assert_on_screen("#messages .files .file")
        bob.attach(CHART, long_name)
        bob.assert_on_screen("#attachments li:last-child button")
        bob.screenshot("files-phone")
        _no_script_errors(alice, bob)

    await in_browser(scenario)
