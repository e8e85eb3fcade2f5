"""Incoming webhooks on a cluster: the table is the truth, so a webhook made on one
instance posts through another, its message reaches the room's connections on both, and a
rotation on one stops the old address on the other at once."""

from __future__ import annotations

from urllib.parse import urlsplit

from cluster import Instance
from support import entered, http_client, open_clients, room_history
from test_cluster_sessions import pair  # noqa: F401 (the fixture: two instances)
from test_room_moderation import ok, team


async def test_a_webhook_made_on_one_instance_posts_through_another_to_both(
    pair: list[Instance],  # noqa: F811
) -> None:
    a, b = pair[0].server, pair[1].server
    owner, mod, member, room_id = await team(a)
    made = await ok(a, mod, "POST", f"/room/{room_id}/webhooks", {"Name": "alerts"})
    async with open_clients(a) as on_a, open_clients(b) as on_b:
        watching_a = await entered(on_a, owner, room_id)
        watching_b = await entered(on_b, member, room_id)
        async with http_client(b) as client:
            posted = await client.post(urlsplit(made["URL"]).path, json={"text": "*disk* full"})
        assert (posted.status_code, posted.text) == (200, "ok")
        for ws in (watching_a, watching_b):
            frame = await ws.receive()
            assert (frame["Text"], frame["Username"], frame.get("Bot")) == (
                "**disk** full",
                "alerts-hook",
                True,
            )
    for server in (a, b):
        assert (await room_history(server, owner, room_id))[0]["Text"] == "**disk** full"


async def test_a_rotation_on_one_instance_stops_the_old_address_on_another_at_once(
    pair: list[Instance],  # noqa: F811
) -> None:
    a, b = pair[0].server, pair[1].server
    _owner, mod, _member, room_id = await team(a)
    made = await ok(a, mod, "POST", f"/room/{room_id}/webhooks", {"Name": "alerts"})
    hook = made["WebhookID"]
    rotated = await ok(a, mod, "POST", f"/room/{room_id}/webhooks/{hook}/rotate")
    async with http_client(b) as client:
        old = await client.post(urlsplit(made["URL"]).path, json={"text": "old"})
        new = await client.post(urlsplit(rotated["URL"]).path, json={"text": "new"})
    assert (old.status_code, new.status_code) == (404, 200)
