"""The browser harness itself (tests/browser.py): a failed scenario says what each of its
pages showed, so that a timeout on a busy machine can be read from the log alone."""

from __future__ import annotations

import pytest
from browser import SQLITE_ONLY, in_browser, open_client
from support import Server

pytestmark = SQLITE_ONLY


async def test_a_failed_scenario_says_what_each_page_showed(server: Server) -> None:
    def scenario(browser):
        alice = open_client(browser, server.http)
        alice.register("alice")
        alice.wait_for_room("lobby")
        raise AssertionError("the scenario fails here")

    with pytest.raises(AssertionError, match="the scenario fails here") as failure:
        await in_browser(scenario)
    (note,) = failure.value.__notes__
    assert note.startswith("page 1: {")
    assert "'room': 'lobby'" in note
    assert "'connection': 'online'" in note
    assert '"Type":"entered"' in note.replace(" ", "")  # a frame the page received
    assert "requests: ['GET " in note  # what the page asked for last
