"""The account screen in the browser: a display name that the other person sees on new
messages, a picture, a password change (then logging in with the new one), logging out
another browser (which is signed out at once), and deleting the account, which ends on a
page saying so."""

from __future__ import annotations

from browser import SQLITE_ONLY, WAIT_MS, in_browser, open_client, registered
from files_support import png
from support import Server

pytestmark = SQLITE_ONLY  # tests/browser.py says why


def open_account(client) -> None:  # type: ignore[no-untyped-def]
    client.page.click("#account")
    client.page.wait_for_selector("#account-dialog[open]", timeout=WAIT_MS)


async def test_a_display_name_is_what_the_other_person_sees_on_new_messages(
    server: Server,
) -> None:
    def scenario(browser):
        alice, bob = registered(browser, server.http, "alice", "bob")
        open_account(alice)
        alice.page.fill("#profile-form input[name=display]", "Alice Liddell")
        alice.page.click("#profile-form button[type=submit]")
        alice.wait_for_text("#profile-status", "Alice Liddell")
        alice.screenshot("account-profile")
        alice.page.click("#account-close")
        header = alice.page.text_content("#whoami")
        alice.say("hello from alice")
        bob.wait_for_message("hello from alice")
        row = bob.page.locator("#messages li[data-id]").filter(has_text="hello from alice")
        bob.screenshot("display-name-on-messages")
        shown = row.locator(".name").inner_text()
        login = row.locator(".login-name").inner_text()
        alice.page.reload()
        alice.wait_online()
        return shown, login, (header, alice.page.text_content("#whoami")), alice.errors + bob.errors

    shown, login, headers, errors = await in_browser(scenario)
    assert shown.startswith("Alice Liddell")
    assert login == "alice"
    # The header shows the name others see, at once and after a reload.
    assert headers == ("Alice Liddell", "Alice Liddell")
    assert errors == []


async def test_a_picture_chosen_in_the_account_screen_becomes_the_avatar(
    server: Server,
) -> None:
    def scenario(browser):
        alice, bob = registered(browser, server.http, "alice", "bob")
        open_account(alice)
        alice.page.set_input_files(
            "#avatar-file",
            {"name": "me.png", "mimeType": "image/png", "buffer": png(600, 400)},
        )
        alice.page.wait_for_selector("#avatar-preview:not([hidden])", timeout=WAIT_MS)
        alice.page.wait_for_function(
            "() => document.querySelector('#avatar-preview').naturalWidth === 128", timeout=WAIT_MS
        )
        alice.screenshot("account-avatar")
        source = alice.page.get_attribute("#avatar-preview", "src")
        profile = alice.page.evaluate(
            "fetch('/profile/' + document.querySelector('#whoami').dataset.uid)"
            ".then((r) => r.json())"
        )
        alice.page.click("#account-close")
        alice.say("see my picture")
        bob.wait_for_message("see my picture")
        row = bob.page.locator("#messages li[data-id]").filter(has_text="see my picture")
        on_message = row.locator("img.avatar").get_attribute("src")
        bob.screenshot("avatar-on-messages")
        return source, profile, on_message, alice.errors + bob.errors

    source, profile, on_message, errors = await in_browser(scenario)
    assert source == profile["AvatarURL"] == on_message
    assert source.startswith(f"/avatars/{profile['UID']}/")
    assert errors == []


async def test_after_changing_the_password_the_new_one_logs_in(server: Server) -> None:
    def scenario(browser):
        (alice,) = registered(browser, server.http, "alice")
        open_account(alice)
        form = "#password-form"
        alice.page.fill(f"{form} input[name=old]", "password")
        alice.page.fill(f"{form} input[name=new]", "a new secret")
        alice.page.fill(f"{form} input[name=again]", "a new secret")
        alice.page.click(f"{form} button[type=submit]")
        alice.wait_for_text("#password-status", "Your password is changed")
        alice.page.locator("#password-status").scroll_into_view_if_needed()
        alice.screenshot("account-password-changed")
        alice.page.click("#account-close")
        alice.wait_online()  # still signed in, on a new session
        alice.say("still here")
        alice.wait_for_message("still here")
        alice.page.click("#logout")
        alice.page.wait_for_selector("#login-view:not([hidden])", timeout=WAIT_MS)
        alice.log_in("alice", "a new secret")
        return alice.errors

    assert await in_browser(scenario) == []


async def test_logging_out_another_browser_signs_that_browser_out(server: Server) -> None:
    def scenario(browser):
        (desk,) = registered(browser, server.http, "alice")
        laptop = open_client(browser, server.http)
        laptop.log_in("alice")
        open_account(desk)
        others = desk.page.locator("#sessions li").filter(has=desk.page.locator("button"))
        others.first.wait_for(timeout=WAIT_MS)
        listed = desk.page.locator("#sessions li").count()
        desk.page.locator("#sessions-section").scroll_into_view_if_needed()
        desk.screenshot("account-sessions")
        others.first.get_by_role("button").click()
        desk.wait_for_text("#sessions-status", "Logged out")
        # The page reloads to sign out: wait for the notice the reloaded page shows, not
        # for the login view (visible from the first paint, before the notice is put in).
        laptop.wait_for_text("#error", "Your session has ended")
        notice = laptop.page.text_content("#error")
        remaining = desk.page.locator("#sessions li").count()
        return listed, remaining, notice, desk.errors

    listed, remaining, notice, errors = await in_browser(scenario)
    assert (listed, remaining) == (2, 1)
    assert notice == "Your session has ended: log in again."
    assert errors == []


async def test_deleting_the_account_asks_for_the_name_and_ends_on_a_page_saying_so(
    server: Server,
) -> None:
    def scenario(browser):
        alice, bob = registered(browser, server.http, "alice", "bob")
        alice.say("soon deleted")
        bob.wait_for_message("soon deleted")
        page = alice.page
        open_account(alice)
        form = "#delete-account-form"
        page.fill(f"{form} input[name=confirm]", "alicia")
        page.fill(f"{form} input[name=password]", "password")
        page.click(f"{form} button[type=submit]")
        page.wait_for_selector("#delete-account-error:not([hidden])", timeout=WAIT_MS)
        wrong_name = page.text_content("#delete-account-error")
        page.fill(f"{form} input[name=confirm]", "alice")
        page.fill(f"{form} input[name=password]", "not my password")
        page.click(f"{form} button[type=submit]")
        page.wait_for_selector(
            "#delete-account-error:text-is('That is not your password: nothing was deleted.')",
            timeout=WAIT_MS,
        )
        page.fill(f"{form} input[name=password]", "password")
        page.click(f"{form} button[type=submit]")
        page.wait_for_selector("#deleted-view:not([hidden])", timeout=WAIT_MS)
        # It stays: nothing signs the page out to the login page afterwards.
        page.wait_for_timeout(3000)
        alice.screenshot("account-deleted")
        heading = page.text_content("#deleted-heading")
        login_hidden = page.is_hidden("#login-view") and page.is_hidden("#chat-view")
        bob.page.wait_for_selector(
            "#messages .text:text-is('soon deleted')", state="detached", timeout=WAIT_MS
        )
        return wrong_name, heading, login_hidden, alice.errors

    wrong_name, heading, login_hidden, errors = await in_browser(scenario)
    assert wrong_name == "Type your user name, alice, exactly: nothing was deleted."
    assert heading == "Your account has been deleted"
    assert login_hidden
    # The refused password is a 401 the page handled; the console says so, nothing else.
    assert [e for e in errors if "401" not in e] == []
