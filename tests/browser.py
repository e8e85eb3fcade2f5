"""Driving real headless Chromium pages from Trio tests.

Playwright's synchronous API runs in a worker thread (`in_browser`): each test's browser
scenario is one plain function, given the session's browser (the contexts it opens are
closed after it), while the server under test runs on the Trio thread. The browser is
Debian's `chromium` (no browser download); with CI=true a browser that cannot start
fails the test instead of skipping it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import queue
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from functools import partial
from typing import Any, TypeVar

import pytest
import trio
from support import in_ci

CHROMIUM = os.environ.get("CHAT_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
#: A module's `pytestmark`: its tests that touch the store run on SQLite only. The
#: browser client is the same whichever store the server has, and what the server does
#: on each is tested below the browser, on both (the HTTP and WebSocket tests), so the
#: browser's own tests run on one. Two instances, which need PostgreSQL, have browser
#: tests of their own (tests/test_browser_cluster.py, the cluster half of
#: tests/test_browser_moderation.py), and search, which each backend does its way, is
#: tried in the browser on both (tests/test_browser_search.py).
SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
#: How long the page may take to show something (loopback, so generous).
WAIT_MS = 10_000

T = TypeVar("T")


class BrowserUnavailable(Exception):
    pass


#: The pages the scenario running in this thread opened (`open_client`), described in
#: its failure (`_describe_pages`): a timeout alone does not say what the page showed.
_opened = threading.local()


def _scenario_starts() -> None:
    _opened.clients = []


#: What a page shows that says where it is and what went wrong.
_PAGE_STATE = """() => ({
  room: document.querySelector("#room-name")?.textContent,
  connection: document.querySelector("#connection")?.dataset.state,
  error: document.querySelector("#error")?.textContent,
  notice: document.querySelector("#notice")?.textContent,
  address: location.hash,
})"""


def _describe_pages(error: BaseException) -> None:
    """Add to `error` what each page of the failed scenario showed, and the frames and
    requests that led there."""
    for number, client in enumerate(getattr(_opened, "clients", ()), start=1):
        try:
            shown = client.page.evaluate(_PAGE_STATE)
        except Exception as problem:  # closed, crashed: say so, describe the rest
            shown = f"unreadable ({type(problem).__name__})"
        error.add_note(
            f"page {number}: {shown}\n"
            f"  sent: {list(client.frames_sent)[-8:]}\n"
            f"  received: {list(client.frames_received)}\n"
            f"  requests: {client.requests[-8:]}\n"
            f"  errors: {client.errors[-4:]}"
        )


def _unavailable(reason: str) -> None:
    if in_ci():
        pytest.fail(f"headless Chromium is needed (CI=true): {reason}")
    pytest.skip(f"headless Chromium is not available: {reason}")


def _require_chromium() -> None:
    if not os.path.exists(CHROMIUM):
        raise BrowserUnavailable(f"{CHROMIUM} does not exist (apt-get install chromium)")


def _launch(playwright: Any) -> Any:
    """A headless Chromium from `playwright`; `BrowserUnavailable` if it cannot start.
    Assertions wait WAIT_MS, not Playwright's 5 s: two test processes and Chromium share
    two cores, and an assertion that passes never waits longer for it."""
    from playwright.sync_api import Error, expect

    expect.set_options(timeout=WAIT_MS)
    try:
        return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
    except Error as error:
        raise BrowserUnavailable(str(error).splitlines()[0]) from None


class _BrowserThread:
    """One headless Chromium for the whole test session (per pytest process), in a
    thread of its own, which runs one test's scenario at a time.

    Playwright's synchronous API belongs to the thread that started it, and starting it
    and Chromium costs a couple of seconds of CPU: paid once, not by each of the
    browser tests. Each scenario still starts from a clean slate: the browser contexts
    (pages, cookies, storage, permissions) it opened are closed when it ends, and a
    browser that died is launched again for the next one.
    """

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[tuple[Callable[..., Any], tuple[Any, ...], Future[Any]]]
        self._jobs = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def run(self, scenario: Callable[..., T], args: tuple[Any, ...]) -> T:
        """`scenario(browser, *args)` in the browser's thread; waits for it (blocking)."""
        _require_chromium()
        with self._lock:
            if self._thread is None:
                # A daemon: it holds nothing that needs closing when the tests end (the
                # browser's processes go with the process's pipes).
                self._thread = threading.Thread(target=self._serve, daemon=True)
                self._thread.start()
        done: Future[T] = Future()
        self._jobs.put((scenario, args, done))
        return done.result()

    def _serve(self) -> None:
        try:
            from playwright.sync_api import Error, sync_playwright
        except ImportError as error:
            self._refuse_all(BrowserUnavailable(f"playwright is not installed ({error})"))
            return
        # Playwright's sync API runs its own asyncio loop in this thread. trio-asyncio
        # (imported by the PostgreSQL tests) replaces asyncio's policy process-wide; a
        # policy set in this thread takes precedence, for this thread only.
        asyncio.set_event_loop_policy(asyncio.DefaultEventLoopPolicy())
        with sync_playwright() as playwright:
            browser = None
            while True:
                scenario, args, done = self._jobs.get()
                if browser is None or not browser.is_connected():
                    try:
                        browser = _launch(playwright)
                    except BrowserUnavailable as error:
                        browser = None
                        done.set_exception(error)
                        continue
                before = set(browser.contexts)
                _scenario_starts()
                try:
                    done.set_result(scenario(browser, *args))
                except BaseException as error:  # the test's failure, reported in the test
                    _describe_pages(error)
                    done.set_exception(error)
                finally:
                    for context in browser.contexts:
                        if context not in before:
                            with contextlib.suppress(Error):
                                context.close()

    def _refuse_all(self, error: BaseException) -> None:
        while True:
            _scenario, _args, done = self._jobs.get()
            done.set_exception(error)


_BROWSER = _BrowserThread()


def _run_in_own_browser(scenario: Callable[..., T], args: tuple[Any, ...]) -> T:
    """`scenario(browser, *args)` with a Chromium of its own, launched and closed here."""
    _require_chromium()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as error:
        raise BrowserUnavailable(f"playwright is not installed ({error})") from None
    asyncio.set_event_loop_policy(asyncio.DefaultEventLoopPolicy())  # as in `_serve`
    try:
        with sync_playwright() as playwright:
            browser = _launch(playwright)
            _scenario_starts()
            try:
                return scenario(browser, *args)
            except BaseException as error:
                _describe_pages(error)
                raise
            finally:
                browser.close()
    finally:
        asyncio.set_event_loop_policy(None)


async def in_own_browser(scenario: Callable[..., T], *args: Any) -> T:
    """`in_browser`, with a Chromium of its own, for a scenario that needs a browser
    nobody used before: a push delivered through DevTools' ServiceWorker domain once
    never showed its notification in the session's long-lived browser, after hundreds of
    other tests' contexts (it always does in a fresh one)."""
    try:
        return await trio.to_thread.run_sync(partial(_run_in_own_browser, scenario, args))
    except BrowserUnavailable as error:
        _unavailable(str(error))
        raise


async def in_browser(scenario: Callable[..., T], *args: Any) -> T:
    """Run `scenario(browser, *args)` in the session's headless Chromium (its own
    thread), with the browser contexts it opens closed after it."""
    try:
        return await trio.to_thread.run_sync(partial(_BROWSER.run, scenario, args))
    except BrowserUnavailable as error:
        _unavailable(str(error))
        raise


@dataclass
class Client:
    """One person's page, with what went wrong in it (script errors, dialogs) and what it
    sent on its WebSockets (decoded JSON frames, in order)."""

    page: Any
    errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    frames_sent: list[Any] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)  # "GET /messages/1?limit=50", ...
    #: The last frames the page received (text, cut short), for a failure's description.
    frames_received: deque[str] = field(default_factory=lambda: deque(maxlen=12))

    def fill_and_click(self, name: str, password: str, button: str) -> None:
        self.page.fill("#login-form input[name=name]", name)
        self.page.fill("#login-form input[name=password]", password)
        self.page.click(button)

    def register(self, name: str, password: str = "password") -> None:
        self.fill_and_click(name, password, "#register")
        self.wait_online()

    def log_in(self, name: str, password: str = "password") -> None:
        self.fill_and_click(name, password, "#login")
        self.wait_online()

    def wait_online(self) -> None:
        self.page.wait_for_selector("#connection[data-state=online]", timeout=WAIT_MS)

    def wait_room_shown(self) -> None:
        """Wait until a room is shown. Online is not enough: until the server has answered
        the page's first `enter`, no room is shown, Enter sends nothing (sending.js) and
        the room's parts are still moving into place under a click."""
        self.page.wait_for_selector("#room-name:not(:empty)", timeout=WAIT_MS)

    def say(self, text: str) -> None:
        """Write `text` in the room shown and send it (once one is shown)."""
        self.wait_room_shown()
        self.page.fill("#send-form [name=text]", text)
        self.page.press("#send-form [name=text]", "Enter")

    def open_direct(self, to: str) -> None:
        """Open the direct conversation with `to` by name (the page's "Write to" form)."""
        self.page.fill("#dm-form input[name=to]", to)
        self.page.click("#dm-form button")
        self.page.wait_for_selector(f"#room-name:text-is('with {to.lower()}')", timeout=WAIT_MS)

    def send_direct(self, to: str, text: str) -> None:
        """Send `text` to `to`: open their conversation and say it there."""
        from playwright.sync_api import expect

        self.open_direct(to)
        self.say(text)
        expect(self.page.locator("#messages li.unconfirmed")).to_have_count(0, timeout=WAIT_MS)

    def message_texts(self) -> list[str]:
        """The texts of the room's messages the server has confirmed, in order."""
        return self.page.locator("#messages li:not(.unconfirmed) .text").all_text_contents()

    def unconfirmed_texts(self) -> list[str]:
        """The texts of our messages still waiting for the server's confirmation."""
        return self.page.locator("#messages li.unconfirmed .text").all_text_contents()

    def wait_for_text(self, selector: str, text: str) -> None:
        """Wait until an element of `selector` holds `text`; failing, say what they held."""
        from playwright.sync_api import expect

        try:
            expect(self.page.locator(selector).filter(has_text=text)).not_to_have_count(
                0, timeout=WAIT_MS
            )
        except AssertionError as error:
            held = self.page.locator(selector).all_text_contents()
            error.add_note(f"{selector} held {held!r}; the page asked {self.requests[-12:]!r}")
            raise

    def wait_for_message(self, text: str) -> None:
        """Wait until the room shows `text` as a message the server confirmed."""
        self.wait_for_text("#messages li:not(.unconfirmed) .text", text)

    def screenshot(self, name: str) -> None:
        """Save the page as `name`.png in CHAT_SCREENSHOT_DIR, if that is set (to be
        looked at: tests cannot judge a layout by themselves)."""
        if os.environ.get("CHAT_SCREENSHOT_DIR"):
            self.page.screenshot(path=f"{os.environ['CHAT_SCREENSHOT_DIR']}/{name}.png")

    def screenshot_in_both_themes(self, name: str) -> None:
        """`screenshot` as `name`-dark.png, then `name`-light.png (the system's preference,
        emulated); the page is left light."""
        for scheme in ("dark", "light"):
            self.page.emulate_media(color_scheme=scheme)
            self.screenshot(f"{name}-{scheme}")

    def fits_sideways(self) -> bool:
        """Nothing sticks out on the right: the page never scrolls sideways."""
        return self.page.evaluate("document.documentElement.scrollWidth <= innerWidth")

    def assert_on_screen(self, selector: str) -> None:
        """`selector` is shown (scrolled to, if need be) within the screen's width, and
        the page does not scroll sideways."""
        from playwright.sync_api import expect

        locator = self.page.locator(selector).first
        expect(locator).to_be_visible(timeout=WAIT_MS)
        locator.scroll_into_view_if_needed()
        box = locator.bounding_box()
        assert box is not None
        width = self.page.evaluate("innerWidth")
        assert box["x"] >= 0 and box["x"] + box["width"] <= width, (selector, box)
        assert self.fits_sideways(), selector

    def submit_on_screen(self, form: str, field: str, text: str) -> None:
        """Fill in `form`'s input called `field` with `text` and tap the form's button,
        having checked a person could see each of them there."""
        self.assert_on_screen(f"{form} [name={field}]")
        self.page.fill(f"{form} [name={field}]", text)
        self.tap_on_screen(f"{form} button[type=submit]")

    def tap_on_screen(self, selector: str) -> None:
        """Tap `selector` (the first match), having checked a person could see it there."""
        self.assert_on_screen(selector)
        self.page.locator(selector).first.tap()

    def attach(self, *files: dict[str, Any]) -> None:
        """Choose `files` (as Playwright's set_files takes them) with the composer's 📎
        button, and wait until they are uploaded."""
        from playwright.sync_api import expect

        with self.page.expect_file_chooser() as chooser:
            self.page.get_by_role("button", name="Attach files", exact=True).click()
        chooser.value.set_files(list(files))
        expect(self.page.locator("#attachments li.uploaded")).to_have_count(
            len(files), timeout=WAIT_MS
        )

    def invite(self, name: str) -> None:
        """Invite `name` to the room shown, with the page's invite form."""
        self.page.fill("#invite-form input[name=name]", name)
        self.page.click("#invite-form button")

    def cut_off(self) -> None:
        """The page loses its network: its WebSocket closes, it cannot open another, and
        it says so (needs `open_client(..., cuttable=True)`)."""
        self.page.evaluate("window.__cut()")
        self.page.wait_for_selector("#connection:not([data-state=online])", timeout=WAIT_MS)

    def reconnect(self) -> None:
        """The page's network is back (after `cut_off`): it reconnects on its own."""
        self.page.evaluate("window.__cutOff = false")
        self.wait_online()

    def uid(self) -> int:
        return int(self.page.get_attribute("#whoami", "data-uid") or "")

    def room_in_address(self) -> str:
        return self.page.evaluate("location.hash")

    def wait_for_room(self, name: str) -> None:
        """Wait until the page shows the room called `name`."""
        self.page.wait_for_selector(f"#room-name:text-is('{name}')", timeout=WAIT_MS)

    def create_room(self, name: str, *, private: bool = False) -> int:
        """Create a room from the page; return its id once the page shows it."""
        self.page.fill("#create-room-form input[name=name]", name)
        if private:
            self.page.check("#create-room-form input[name=private]")
        self.page.click("#create-room-form button")
        self.wait_for_room(name)
        return int(self.page.get_attribute(f"#rooms button:text-is('{name}')", "data-room") or "")


#: The screens a page is opened on. A laptop's window (the default);
DESKTOP = {"viewport": {"width": 960, "height": 600}}
#: a wide one, where the people in the room get a column of their own;
WIDE = {"viewport": {"width": 1280, "height": 800}}
#: a 390 px wide phone (an iPhone 12 to 15, in CSS pixels), which honours the page's
#: viewport meta tag as phones do.
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}


#: Put in a page before its own scripts (`open_client(..., cuttable=True)`): its
#: WebSockets are kept where `Client.cut_off` can close them, and while it is cut off new
#: ones are refused (as with no network). Playwright's offline mode leaves open
#: WebSockets open; this is a page losing its network, as the page sees it.
_CUTTABLE = """
(() => {
  const Native = WebSocket;
  const sockets = [];
  window.__cutOff = false;
  window.__cut = () => {
    window.__cutOff = true;
    for (const socket of sockets.splice(0)) socket.close();
  };
  window.WebSocket = class extends Native {
    constructor(url, ...rest) {
      // (Somewhere else on the page's own server: the page's policy allows no other.)
      const away = String(url).replace("/ws", "/cut-off");  // the first /ws: the path
      super(window.__cutOff ? away : url, ...rest);
      sockets.push(this);
    }
  };
})();
"""


def _console_error(message: Any) -> str:
    """A console error as a test reports it: with the address it came from, which a
    "Failed to load resource" does not say in its text."""
    url = message.location.get("url", "")
    return f"{message.text} ({url})" if url else message.text


def open_client(
    browser: Any, url: str, *, screen: dict[str, Any] = DESKTOP, cuttable: bool = False
) -> Client:
    """A new page in its own context (its own sessionStorage), at `url`, on `screen`;
    `cuttable`: one whose network `Client.cut_off` can take away."""
    page = browser.new_context(**screen).new_page()
    if cuttable:
        page.add_init_script(_CUTTABLE)
    client = Client(page)
    getattr(_opened, "clients", []).append(client)
    page.on("pageerror", lambda error: client.errors.append(str(error)))
    page.on("console", lambda m: m.type == "error" and client.errors.append(_console_error(m)))

    def on_dialog(dialog: Any) -> None:
        client.dialogs.append(dialog.message)
        dialog.dismiss()

    def on_frame_sent(payload: str | bytes) -> None:
        try:
            client.frames_sent.append(json.loads(payload))
        except ValueError:
            client.frames_sent.append(payload)

    def on_frame_received(payload: str | bytes) -> None:
        client.frames_received.append(str(payload)[:160])

    def on_websocket(ws: Any) -> None:
        ws.on("framesent", on_frame_sent)
        ws.on("framereceived", on_frame_received)

    page.on("dialog", on_dialog)
    page.on("websocket", on_websocket)
    page.on("request", lambda r: client.requests.append(f"{r.method} {r.url.split('/', 3)[3]}"))
    page.goto(url)
    return client


def registered(browser: Any, url: str, *names: str) -> list[Client]:
    """One page per name, each registered under it and online."""
    clients = [open_client(browser, url) for _ in names]
    for client, name in zip(clients, names, strict=True):
        client.register(name)
    return clients
