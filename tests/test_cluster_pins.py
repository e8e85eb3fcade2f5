"""Pinned messages across the instances of a cluster: a pin made through one instance
reaches a connection on the other as a ``pins`` change, in its place among the messages,
on the PostgreSQL bus and on Redis; a pin made while a client is away is received on
resume at the other instance; the list reads the same through either; the release
before, serving beside this one, is not disturbed by a pin."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import trio
from cluster import Instance, instance_config, start_instance
from support import (
    Account,
    account,
    create_room,
    http_client,
    open_clients,
    throwaway_postgres_schema,
)
from test_cluster import _enter, database_url, pair, redis
from test_cluster_upgrade import _previous_release_or_skip, _serves, _start_previous

__all__ = ["database_url", "pair", "redis"]  # fixtures, shared with test_cluster.py


async def _pin(instance: Instance, who: Account, room_id: int, message_id: int) -> None:
    async with http_client(instance.server) as client:
        response = await client.put(f"/messages/{room_id}/{message_id}/pin", headers=who.auth)
    assert response.status_code == 200, response.text


async def _pins(instance: Instance, who: Account, room_id: int) -> list[int]:
    async with http_client(instance.server) as client:
        response: httpx.Response = await client.get(f"/room/{room_id}/pins", headers=who.auth)
    assert response.status_code == 200, response.text
    return [pin["Message"]["MessageID"] for pin in response.json()]


def _pin_fields(frame: dict[str, Any]) -> tuple[Any, ...]:
    return (frame["Type"], frame["MessageID"], frame["Pinned"])


@asynccontextmanager
async def _general(pair: list[Instance]) -> AsyncIterator[tuple[Account, Account, int, Any, Any]]:
    """The owner of a room (on the first instance) and a guest in it (on the second),
    the room, and WebSocket clients of each instance."""
    a, b = pair
    owner, guest = await account(a.server, "owner"), await account(b.server, "guest")
    room_id = await create_room(a.server, owner, "general", guest)
    async with open_clients(a.server) as on_a, open_clients(b.server) as on_b:
        yield owner, guest, room_id, on_a, on_b


async def test_a_pin_through_one_instance_reaches_a_connection_on_the_other(
    pair: list[Instance],
) -> None:
    a, b = pair
    async with _general(pair) as (owner, guest, room_id, on_a, on_b):
        writer = await on_a.json("/ws", token=owner.token)
        reader = await on_b.json("/ws", token=guest.token)
        await _enter(writer, room_id)
        await _enter(reader, room_id)
        sent = await writer.request({"Type": "message", "Text": "the runbook"})
        assert (await reader.receive())["MessageID"] == sent["MessageID"]
        await _pin(a, owner, room_id, sent["MessageID"])
        assert (await writer.receive())["Type"] == "pins"
        after = await writer.request({"Type": "message", "Text": "after the pin"})
        pinned, then = await reader.receive(), await reader.receive()
    assert _pin_fields(pinned) == ("pins", sent["MessageID"], True)
    assert sent["MessageID"] < pinned["Seq"] < then["MessageID"] == after["MessageID"]
    assert await _pins(b, guest, room_id) == [sent["MessageID"]]


async def test_a_pin_made_while_away_arrives_on_resume_at_the_other_instance(
    pair: list[Instance],
) -> None:
    a, _b = pair
    async with _general(pair) as (owner, guest, room_id, on_a, on_b):
        writer = await on_a.json("/ws", token=owner.token)
        await _enter(writer, room_id)
        reader = await on_a.json("/ws", token=guest.token)
        await _enter(reader, room_id)
        seen = await writer.request({"Type": "message", "Text": "seen before leaving"})
        await reader.receive()
        await reader.ws.aclose()  # away
        await _pin(a, owner, room_id, seen["MessageID"])
        assert (await writer.receive())["Type"] == "pins"
        resumed = await on_b.json("/ws", token=guest.token)  # back, on the other instance
        await _enter(resumed, room_id, SinceID=seen["MessageID"])
        frame = await resumed.receive()
    assert _pin_fields(frame) == ("pins", seen["MessageID"], True)


async def test_the_previous_release_keeps_serving_a_room_beside_a_pin(tmp_path: Path) -> None:
    """The migrations are declared compatible with older code: an instance of the release
    before, beside this one, delivers the messages around a pin (never the pin: it reads
    no pin changes) and goes on serving."""
    previous = _previous_release_or_skip(tmp_path)
    async with throwaway_postgres_schema() as url:
        old = await _start_previous(
            instance_config(tmp_path, url, 1), previous, tmp_path / "previous.log"
        )
        new: Instance | None = None
        try:
            new = await start_instance(instance_config(tmp_path, url, 2), tmp_path / "new.log")
            owner, guest = await account(new.server, "owner"), await account(old.server, "guest")
            room_id = await create_room(new.server, owner, "general", guest)
            async with open_clients(new.server) as on_new, open_clients(old.server) as on_old:
                writer = await on_new.json("/ws", token=owner.token)
                reader = await on_old.json("/ws", token=guest.token)
                await _enter(writer, room_id)
                await _enter(reader, room_id)
                before = await writer.request({"Type": "message", "Text": "before the pin"})
                assert (await reader.receive())["MessageID"] == before["MessageID"]
                await _pin(new, owner, room_id, before["MessageID"])
                assert (await writer.receive())["Type"] == "pins"
                after = await writer.request({"Type": "message", "Text": "after the pin"})
                assert (await reader.receive())["MessageID"] == after["MessageID"]
            await _serves(old)
            assert "Traceback" not in old.log, old.log
        finally:
            with trio.CancelScope(shield=True):
                for instance in (old, new):
                    if instance is not None and instance.running:
                        await instance.stop()
