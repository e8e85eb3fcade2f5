"""Saved messages on a cluster, on both buses: a message saved through one instance is on
the list another instance answers, and the user's connection on that other instance is
told of the save at once (the "saved" frame crosses the bus); a deletion through one
instance takes it off the list every instance answers."""

from __future__ import annotations

import trio
from cluster import Instance
from support import STEP, account, http_client, open_clients
from test_cluster import _enter, database_url, pair, redis

__all__ = ["database_url", "pair", "redis"]  # the fixtures, shared with test_cluster.py

LOBBY = 1


async def test_a_save_on_one_instance_is_listed_and_told_on_another(
    pair: list[Instance],
) -> None:
    a, b = pair[0].server, pair[1].server
    alice, bob = await account(a, "alice"), await account(a, "bob")
    async with http_client(a) as on_a, http_client(b) as on_b, open_clients(b) as clients_b:
        posted = await on_a.post(f"/messages/{LOBBY}", headers=bob.auth, json={"Text": "keep"})
        message_id = posted.json()["MessageID"]
        alices_tab = await clients_b.json("/ws", token=alice.token)
        await _enter(alices_tab, LOBBY)
        saved = await on_a.put(f"/me/saved/{message_id}", headers=alice.auth)
        assert saved.status_code == 204, saved.text
        with trio.fail_after(STEP):
            while (frame := await alices_tab.receive())["Type"] != "saved":
                pass
        assert frame == {"Type": "saved", "MessageID": message_id, "Saved": True}
        listed = await on_b.get("/me/saved", headers=alice.auth)
        assert [item["Message"]["MessageID"] for item in listed.json()] == [message_id]
        deleted = await on_b.delete(f"/messages/{LOBBY}/{message_id}", headers=bob.auth)
        assert deleted.status_code == 204, deleted.text
        assert (await on_a.get("/me/saved", headers=alice.auth)).json() == []
