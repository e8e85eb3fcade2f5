"""Messages in the browser client in a safe Markdown subset (chat/static/markdown.js):
bold, italic, code, links that open safely; never raw HTML. Driven in real headless
Chromium against a real server; the formatting is the page's alone, so one database
(SQLite) is enough."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import trio
from browser import DESKTOP, PHONE, WIDE, Client, in_browser, open_client, registered
from support import Server, account, open_clients, server_config, start_server


@pytest.fixture
async def sqlite_server(nursery: trio.Nursery, tmp_path: Path) -> Server:
    """A real server on SQLite, for what does not depend on the database."""
    return await start_server(nursery, server_config(tmp_path, None))


async def _said(server: Server, *texts: str) -> None:
    """`texts`, said in the lobby by "writer" and stored, for a page to find there."""
    writer = await account(server, "writer")
    async with open_clients(server) as clients:
        talker = await clients.talker(token=writer.token)
        for text in texts:
            await talker.say(text)
        await talker.stored()


def _reader(browser: Any, server: Server, shown: str, screen: dict[str, Any] = DESKTOP) -> Client:
    """A page that registered and shows a message with `shown` (rendered) in it."""
    reader = open_client(browser, server.http, screen=screen)
    reader.register("reader")
    reader.wait_for_message(shown)
    return reader


def _text(client: Client, has: str) -> Any:
    """The (only) message whose rendered text has `has` in it: its .text element."""
    return client.page.locator("#messages li .text").filter(has_text=has)


def _no_script_errors(client: Client) -> None:
    ours = [e for e in client.errors if "WebSocket" not in e and "ERR_CONNECTION" not in e]
    assert not ours, ours


def _nothing_ran(client: Client) -> None:
    """No script of a message's ran: no dialog (given a broken renderer time to
    misbehave), no script error."""
    client.page.wait_for_timeout(300)
    assert client.dialogs == []
    _no_script_errors(client)


async def test_bold_and_italic_show_as_strong_and_emphasis(sqlite_server: Server) -> None:
    await _said(sqlite_server, "this is **bold**, *italic* and _also italic_")

    def scenario(browser):
        reader = _reader(browser, sqlite_server, "also italic")
        text = _text(reader, "also italic")
        assert text.locator("strong").all_text_contents() == ["bold"]
        assert text.locator("em").all_text_contents() == ["italic", "also italic"]
        assert text.text_content() == "this is bold, italic and also italic"
        _no_script_errors(reader)

    await in_browser(scenario)


async def test_double_tildes_strike_through(sqlite_server: Server) -> None:
    await _said(sqlite_server, "the ~~old~~ new plan, ~not this~")

    def scenario(browser):
        reader = _reader(browser, sqlite_server, "new plan")
        text = _text(reader, "new plan")
        assert text.locator("s").all_text_contents() == ["old"]
        assert text.text_content() == "the old new plan, ~not this~"
        _no_script_errors(reader)

    await in_browser(scenario)


async def test_a_code_span_shows_its_text_untouched(sqlite_server: Server) -> None:
    await _said(sqlite_server, "type `**not bold** <b>_x_</b>` here")

    def scenario(browser):
        reader = _reader(browser, sqlite_server, "here")
        text = _text(reader, "here")
        assert text.locator("code").all_text_contents() == ["**not bold** <b>_x_</b>"]
        assert text.locator("strong, em, b").count() == 0
        _no_script_errors(reader)

    await in_browser(scenario)


async def test_a_fenced_code_block_keeps_its_lines_and_its_markdown_as_written(
    sqlite_server: Server,
) -> None:
    code = "def f(*args, **kwargs):\n    return `x` * 2  # __not__ bold\n\n\n<b>end</b>"
    await _said(sqlite_server, f"before\n```python\n{code}\n```\nafter")

    def scenario(browser):
        reader = _reader(browser, sqlite_server, "after")
        block = _text(reader, "after").locator("pre > code")
        assert block.text_content() == f"{code}\n"
        assert _text(reader, "after").locator("strong, em, b, code code").count() == 0
        _no_script_errors(reader)

    await in_browser(scenario)


async def test_an_indented_block_shows_as_code(sqlite_server: Server) -> None:
    await _said(sqlite_server, "run this:\n\n    make *all*\n    make test")

    def scenario(browser):
        reader = _reader(browser, sqlite_server, "run this:")
        text = _text(reader, "run this:")
        assert text.locator("pre > code").text_content() == "make *all*\nmake test\n"
        assert text.locator("em").count() == 0
        _no_script_errors(reader)

    await in_browser(scenario)


async def test_a_link_opens_in_a_new_tab_that_gets_neither_the_page_nor_its_address(
    sqlite_server: Server,
) -> None:
    target = f"{sqlite_server.http}/health"
    await _said(sqlite_server, f"see [the health page]({target}) now")

    def scenario(browser):
        reader = _reader(browser, sqlite_server, "the health page")
        link = _text(reader, "the health page").get_by_role("link", name="the health page")
        assert link.get_attribute("href") == target
        assert link.get_attribute("target") == "_blank"
        assert set(link.get_attribute("rel").split()) == {"noopener", "noreferrer", "nofollow"}
        with reader.page.expect_popup() as opened:
            link.click()
        tab = opened.value
        tab.wait_for_load_state()
        assert tab.url == target
        assert tab.evaluate("[window.opener, document.referrer]") == [None, ""]
        assert reader.page.url.startswith(sqlite_server.http)  # the chat stays where it was
        _no_script_errors(reader)

    await in_browser(scenario)


async def test_bare_addresses_with_their_scheme_become_links(sqlite_server: Server) -> None:
    await _said(
        sqlite_server,
        "read https://example.com/a?b=1. or mail mailto:ops@example.com (not example.org)",
    )

    def scenario(browser):
        reader = _reader(browser, sqlite_server, "not example.org")
        links = _text(reader, "not example.org").locator("a")
        assert links.all_text_contents() == ["https://example.com/a?b=1", "mailto:ops@example.com"]
        assert [links.nth(i).get_attribute("href") for i in range(2)] == [
            "https://example.com/a?b=1",
            "mailto:ops@example.com",
        ]
        assert links.nth(0).get_attribute("rel") == "noopener noreferrer nofollow"
        _no_script_errors(reader)

    await in_browser(scenario)


async def test_links_with_other_schemes_stay_text(sqlite_server: Server) -> None:
    text = (
        "[click](javascript:alert(1)) <javascript:alert(2)> javascript:alert(3)"
        " [data](data:text/html,hi) [file](file:///etc/passwd) [here](/static/app.js)"
        " [host](//evil.example) ftp://files.example"
    )
    await _said(sqlite_server, text)

    def scenario(browser):
        reader = _reader(browser, sqlite_server, "files.example")
        shown = _text(reader, "files.example")
        assert shown.locator("a").count() == 0
        assert shown.text_content() == text
        shown.click()
        _nothing_ran(reader)

    await in_browser(scenario)


async def test_raw_html_shows_as_text_and_makes_no_element(sqlite_server: Server) -> None:
    text = (
        "<b>x</b> <img src=x onerror=alert(1)> **<i>still text</i>**\n"
        "<div>\n<script>alert(2)</script>"
    )
    await _said(sqlite_server, text)

    def scenario(browser):
        reader = _reader(browser, sqlite_server, "still text")
        shown = _text(reader, "still text")
        assert shown.text_content() == text.replace("**", "")
        assert shown.locator("strong").all_text_contents() == ["<i>still text</i>"]
        assert reader.page.locator("#messages :is(b, i, img, div, script)").count() == 0
        _nothing_ran(reader)

    await in_browser(scenario)


async def test_line_breaks_and_blank_lines_show_as_typed(sqlite_server: Server) -> None:
    text = "one\ntwo *it*\n\n\nafter two blank lines\n```\ncode\n```\nright after the code"

    def scenario(browser):
        alice, bob = registered(browser, sqlite_server.http, "alice", "bob")
        composer = alice.page.locator("#send-form [name=text]")
        for number, line in enumerate(text.split("\n")):
            if number:
                composer.press("Shift+Enter")
            composer.type(line)
        composer.press("Enter")
        bob.wait_for_message("right after the code")
        shown = _text(bob, "right after the code")
        assert shown.text_content() == text.replace("*", "").replace("```\n", "")
        # On the screen too, one line for each typed (the fences aside): six lines of
        # text, and the code block's one.
        code = shown.locator("pre").evaluate(
            "e => e.getBoundingClientRect().height + 2 * parseFloat(getComputedStyle(e).marginTop)"
        )
        line = shown.evaluate("e => parseFloat(getComputedStyle(e).lineHeight)")
        assert round((shown.bounding_box()["height"] - code) / line, 2) == 6
        _no_script_errors(bob)

    await in_browser(scenario)


async def test_a_long_code_line_scrolls_within_its_block_not_the_page_on_a_phone(
    sqlite_server: Server,
) -> None:
    await _said(sqlite_server, "```\n" + "x = 1; " * 80 + "\n```\nshort after")

    def scenario(browser):
        reader = _reader(browser, sqlite_server, "short after", PHONE)
        pre = _text(reader, "short after").locator("pre")
        assert pre.evaluate("e => e.scrollWidth > e.clientWidth")  # it scrolls...
        assert reader.fits_sideways()  # ...and the page does not
        if os.environ.get("CHAT_SCREENSHOT_DIR"):
            reader.page.screenshot(path=f"{os.environ['CHAT_SCREENSHOT_DIR']}/markdown-phone.png")
        _no_script_errors(reader)

    await in_browser(scenario)


async def test_a_direct_message_is_formatted_too(sqlite_server: Server) -> None:
    def scenario(browser):
        alice, bob = registered(browser, sqlite_server.http, "alice", "bob")
        alice.send_direct("bob", "**psst** <b>x</b> `code`")
        bob.page.locator("#rooms button", has_text="with alice").click()
        bob.wait_for_message("psst")
        text = bob.page.locator("#messages li .text")
        assert text.locator("strong").all_text_contents() == ["psst"]
        assert text.locator("code").all_text_contents() == ["code"]
        assert text.text_content() == "psst <b>x</b> code"
        if os.environ.get("CHAT_SCREENSHOT_DIR"):
            bob.page.screenshot(path=f"{os.environ['CHAT_SCREENSHOT_DIR']}/markdown-direct.png")
        _no_script_errors(bob)

    await in_browser(scenario)


async def test_a_reply_quotes_a_formatted_message_as_plain_text(sqlite_server: Server) -> None:
    def scenario(browser):
        alice, bob = registered(browser, sqlite_server.http, "alice", "bob")
        alice.say("**big** news: `v2` is out")
        bob.wait_for_message("big news")
        question = bob.page.locator("#messages li").filter(has_text="big news")
        question.hover()
        question.get_by_role("button", name="Reply to alice").click()
        quoted = bob.page.locator("#replying .quoted")
        assert quoted.inner_text() == "Replying to alice: big news: v2 is out"
        assert quoted.locator("*").count() == 0
        bob.say("great")
        alice.wait_for_message("great")
        quote = alice.page.locator("#messages li.reply .quote")
        assert quote.inner_text() == "↪ alice: big news: v2 is out"
        assert quote.locator("*").count() == 0
        _no_script_errors(alice)

    await in_browser(scenario)


async def test_a_conversation_with_formatted_messages_looks_right(sqlite_server: Server) -> None:
    """A picture of every kind of formatting (with CHAT_SCREENSHOT_DIR set)."""
    await _said(
        sqlite_server,
        "The **release** is *today*: see https://example.com/notes"
        " or [the plan](https://example.com/plan).",
        "To try it:\n```\npip install trio-chat-server\n"
        "chat --port 9000  # then open http://127.0.0.1:9000/\n```\n"
        "and `chat --help` for the rest.",
        "A long line of code scrolls:\n\n    " + "print('a very long line of code'); " * 6,
        "Tags stay text: <b>not bold</b>, and [this](javascript:alert(1)) is no link.\n"
        "Second line,\n\nand one after a blank line.",
    )

    def scenario(browser):
        reader = _reader(browser, sqlite_server, "one after a blank line", WIDE)
        assert reader.page.locator("#messages li .text").count() == 4
        if os.environ.get("CHAT_SCREENSHOT_DIR"):
            reader.page.screenshot(path=f"{os.environ['CHAT_SCREENSHOT_DIR']}/markdown.png")
        _no_script_errors(reader)

    await in_browser(scenario)
