"""Messages gathered for a few milliseconds (CHAT_GATHER_MS: the writer's hold in
chat/app/messages/gathering.py, the fan-out's pace in chat/app/messages/broadcaster.py),
on a real server over real sockets: commits are shared, and nothing is lost, doubled or
reordered by the waiting."""

from __future__ import annotations

import trio
from support import open_clients, register, start_server
from test_metrics import scrape, value

from chat.core.config import Config

#: A window wide enough that a test's sender at 100 messages a second promises five more.
WINDOW_MS = 50


async def test_commits_held_for_more_messages_are_counted(
    nursery: trio.Nursery, config: Config
) -> None:
    server = await start_server(nursery, config.replace(gather_ms=WINDOW_MS))
    async with open_clients(server) as clients:
        listener = await clients.talker()
        sender = await clients.talker(token=await register(server, "alice"))
        for i in range(100):
            await sender.say(f"hello {i}")
            await trio.sleep(0.01)
        for i in range(100):
            assert (await listener.receive())["message"] == f"hello {i}"
        samples = await scrape(server)
    assert value(samples, "chat_messages_stored_total") == 100
    held = value(samples, "chat_message_batches_held_total")
    commits = value(samples, "chat_commit_seconds_count")
    assert held > 0
    assert commits < 100


async def test_a_burst_within_the_window_reaches_every_listener_once_in_order(
    nursery: trio.Nursery, config: Config
) -> None:
    server = await start_server(nursery, config.replace(gather_ms=WINDOW_MS))
    async with open_clients(server) as clients:
        listeners = [await clients.talker() for _ in range(3)]
        sender = await clients.talker(token=await register(server, "alice"))
        for round_ in range(3):
            for i in range(40):  # no pause: fan-out steps fall within the pace
                await sender.say(f"r{round_} m{i}")
            for listener in listeners:
                got = [(await listener.receive())["message"] for _ in range(40)]
                assert got == [f"r{round_} m{i}" for i in range(40)]
            await trio.sleep(WINDOW_MS / 1000 * 2)  # a quiet spell between rounds
        samples = await scrape(server)
    assert value(samples, "chat_messages_stored_total") == 120
    assert value(samples, "chat_deliveries_total") == 360
