"""Threads on a cluster, on both buses: a thread reply posted through one instance
reaches a connection on another live with its ThreadID (the carried message holds it),
and every instance's main timeline, from memory or from the table, leaves it out while
the thread's pages hold it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import trio
from cluster import Instance
from support import STEP, Account, JsonClient, account, http_client, open_clients
from test_cluster import _enter, database_url, pair, redis

__all__ = ["database_url", "pair", "redis"]  # the fixtures, shared with test_cluster.py

LOBBY = 1


@dataclass
class ReplyAcross:
    """A root posted through instance a, a tab of its author in the lobby on instance b
    (whose window is open), and a reply in its thread posted through a."""

    alice: Account
    root_id: int
    reply: Any  # the answer to the reply's POST
    tab: JsonClient
    instances: tuple[Any, Any]  # HTTP clients of a and b

    async def next_frame_of_type(self, kind: str) -> dict[str, Any]:
        with trio.fail_after(STEP):
            while (frame := await self.tab.receive())["Type"] != kind:
                pass
        return frame


@asynccontextmanager
async def reply_across(pair: list[Instance]) -> AsyncIterator[ReplyAcross]:
    a, b = pair[0].server, pair[1].server
    alice = await account(a, "alice")
    async with http_client(a) as on_a, http_client(b) as on_b, open_clients(b) as clients_b:
        root = await on_a.post(f"/messages/{LOBBY}", headers=alice.auth, json={"Text": "q"})
        root_id = root.json()["MessageID"]
        tab = await clients_b.json("/ws", token=alice.token)
        await _enter(tab, LOBBY)
        await on_b.get(f"/messages/{LOBBY}", headers=alice.auth)  # b's window, if it opens
        reply = {"Text": "re", "ThreadID": root_id}
        posted = await on_a.post(f"/messages/{LOBBY}", headers=alice.auth, json=reply)
        assert posted.status_code == 201, posted.text
        yield ReplyAcross(alice, root_id, posted, tab, (on_a, on_b))


async def test_a_thread_reply_reaches_another_instance_and_stays_off_its_timeline(
    pair: list[Instance],
) -> None:
    async with reply_across(pair) as sent:
        frame = await sent.next_frame_of_type("message")
        assert (frame["Text"], frame["ThreadID"]) == ("re", sent.root_id)
        for client in sent.instances:
            auth = sent.alice.auth
            timeline = (await client.get(f"/messages/{LOBBY}", headers=auth)).json()
            assert [m["Text"] for m in timeline] == ["q"]
            thread = await client.get(f"/messages/{LOBBY}/threads/{sent.root_id}", headers=auth)
            assert [m["Text"] for m in thread.json()] == ["re", "q"]


async def test_a_roots_summary_changes_on_every_instance_live_and_in_history(
    pair: list[Instance],
) -> None:
    async with reply_across(pair) as sent:
        frame = await sent.next_frame_of_type("thread")
        summary = {
            "Replies": 1,
            "LastReplyAt": sent.reply.json()["CreatedAt"],
            "Participants": [sent.alice.uid],
        }
        assert (frame["MessageID"], frame["Thread"]) == (sent.root_id, summary)
        for client in sent.instances:
            (shown,) = (await client.get(f"/messages/{LOBBY}", headers=sent.alice.auth)).json()
            assert shown["Thread"] == summary
