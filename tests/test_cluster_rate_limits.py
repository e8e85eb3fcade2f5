"""Rate limits hold for the whole chat: a user's messages are counted over every
instance (each instance shares its counts through the bus), on either bus."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trio
from cluster import Instance, RedisServer, open_cluster
from support import STEP, JsonClient, account, open_clients, throwaway_postgres_schema
from test_cluster import redis  # noqa: F401 (the fixture: each test on both buses)

from chat.app.limits.rate_limits import SHARE_EVERY_S


@pytest.fixture
async def pair(
    tmp_path: Path,
    redis: RedisServer | None,  # noqa: F811 (the fixture imported above)
) -> AsyncIterator[list[Instance]]:
    """Two instances of one chat allowing 6 messages a minute per user."""
    bus_url = redis.url if redis is not None else None
    async with (
        throwaway_postgres_schema() as database_url,
        open_cluster(
            tmp_path, database_url, 2, bus_url=bus_url, rate_limits=True, rate_messages="6/minute"
        ) as instances,
    ):
        yield instances


def is_refusal(frame: dict[str, object]) -> bool:
    return frame.get("Type") == "error" and str(frame.get("Error", "")).startswith("too many")


async def test_a_users_messages_are_limited_over_every_instance(pair: list[Instance]) -> None:
    first, second = pair
    user = await account(first.server, "chatty")
    async with open_clients(first.server) as on_first, open_clients(second.server) as on_second:
        a = await on_first.json("/ws", token=user.token)
        b = await on_second.json("/ws", token=user.token)
        for ws in (a, b):
            assert (await ws.request({"Type": "enter", "RoomID": 1, "Presence": False}))[
                "Type"
            ] == "entered"
        for n in range(4):
            answer = await a.request({"Type": "message", "Text": f"on first {n}"})
            assert answer.get("Text") == f"on first {n}", answer
        # The first instance shares its counts every SHARE_EVERY_S: give it two rounds.
        await trio.sleep(2 * SHARE_EVERY_S + 0.2)
        accepted = await send_until_refused(b, "on second")
    assert accepted == 2  # 6 a minute in all: 4 went through the first instance


async def send_until_refused(ws: JsonClient, prefix: str) -> int:
    """Send messages until one is refused; how many were accepted. The client also gets
    the first instance's messages (it is in the same room), which are skipped."""
    with trio.fail_after(STEP):
        for n in range(10):
            await ws.send({"Type": "message", "Text": f"{prefix} {n}"})
            while True:
                frame = await ws.receive()
                if is_refusal(frame):
                    return n
                if frame.get("Text") == f"{prefix} {n}":
                    break
    raise AssertionError("never refused")
