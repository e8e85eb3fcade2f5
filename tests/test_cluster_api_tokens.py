"""Personal access tokens on a cluster: the table is the truth, so a token made on one
instance works on another, and revoking it on one closes its WebSockets on the other
at once (the bus's event; the sweep is too slow to matter here)."""

from __future__ import annotations

from cluster import Instance
from support import account, http_client, open_clients
from test_cluster_sessions import pair  # noqa: F401 (the fixture: two instances, a slow sweep)
from test_token_revocation import closed, still_open


async def test_a_token_revoked_on_one_instance_closes_its_websocket_on_another_at_once(
    pair: list[Instance],  # noqa: F811
) -> None:
    a, b = pair[0].server, pair[1].server
    alice = await account(a, "alice")
    async with http_client(a) as client:
        made = await client.post(
            "/tokens", json={"Name": "ci", "Scopes": ["read"]}, headers=alice.auth
        )
    assert made.status_code == 201, made.text
    token, token_id = made.json()["Token"], made.json()["TokenID"]
    async with open_clients(b) as clients:
        ws = await clients.connect(f"/ws?token={token}")
        await still_open(ws)
        async with http_client(a) as client:
            revoked = await client.delete(f"/tokens/{token_id}", headers=alice.auth)
        assert revoked.status_code == 204
        _, code, reason = await closed(ws)  # the bus event: the sweep waits 600 s
        assert (code, reason) == (1008, "token has been revoked")
    async with http_client(b) as client:
        response = await client.get("/tokens", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
