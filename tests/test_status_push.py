"""Do not disturb holds Web Push: a user whose status says "dnd" is not pushed while it
holds, and is again once it is cleared or its Until passes (chat/app/people/pusher.py,
chat/app/people/statuses.py). Pushes go to the tests' real push service
(tests/push_service.py), on SQLite and on PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import trio
from push_service import Browser, PushService
from support import Account, Server, http_client
from test_push import (
    _alice_subscribed,
    _direct_room,
    _post,
    _settled,
    _witness,
    push,
    push_config,
    server,
)

__all__ = ["push", "push_config", "server"]  # the fixtures, from test_push


def _in(seconds: float) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat()


async def _alice_with_status(
    server: Server, push: PushService, status: dict[str, Any]
) -> tuple[Account, Account, Browser, int]:
    """alice, subscribed and with `status` set; bob, who writes to her; their room."""
    alice, bob, browser = await _alice_subscribed(server, push)
    room_id = await _direct_room(server, bob, alice)
    async with http_client(server) as client:
        answer = await client.put("/me/status", headers=alice.auth, json=status)
    assert answer.status_code == 200, answer.text
    return alice, bob, browser, room_id


async def test_do_not_disturb_holds_pushes_until_it_is_cleared(
    server: Server, push: PushService
) -> None:
    alice, bob, browser, room_id = await _alice_with_status(server, push, {"Presence": "dnd"})
    witness = await _witness(server, push, bob)
    async with http_client(server) as client:
        await _post(server, bob, room_id, "while you do not want to hear")
        await witness.flush()
        assert push.to(browser) == []
        cleared = await client.delete("/me/status", headers=alice.auth)
        assert cleared.status_code == 200, cleared.text
    await _post(server, bob, room_id, "once you do")
    await _settled(push, pushes=2)
    assert [p["Text"] for p in push.to(browser)] == ["once you do"]


async def test_do_not_disturb_with_an_until_pushes_again_once_it_passes(
    server: Server, push: PushService
) -> None:
    status = {"Presence": "dnd", "Until": _in(1.5)}
    _, bob, browser, room_id = await _alice_with_status(server, push, status)
    witness = await _witness(server, push, bob)
    await _post(server, bob, room_id, "during")
    await witness.flush()
    assert push.to(browser) == []
    await trio.sleep(1.6)
    await _post(server, bob, room_id, "after")
    await _settled(push, pushes=2)
    assert [p["Text"] for p in push.to(browser)] == ["after"]


async def test_an_away_status_does_not_hold_pushes(server: Server, push: PushService) -> None:
    status = {"Presence": "away", "Text": "lunch"}
    _, bob, browser, room_id = await _alice_with_status(server, push, status)
    await _post(server, bob, room_id, "still pushed")
    await _settled(push, pushes=1)
    assert [p["Text"] for p in push.to(browser)] == ["still pushed"]
