"""Changes to messages across the instances of a cluster: edits, deletions
and reactions made on one instance reach every connection on every instance, in the same
order as the messages around them, on the PostgreSQL bus and on Redis; a change made
while a client is away is received on resume at another instance; edits racing each
other end in one final text that every instance agrees on."""

from __future__ import annotations

from typing import Any

import trio
from cluster import Instance
from support import account, create_room, open_clients, room_history
from test_cluster import _enter, _one_room_two_instances, database_url, pair, redis

__all__ = ["database_url", "pair", "redis"]  # fixtures, shared with test_cluster.py


def _position(frame: dict[str, Any]) -> int:
    return frame["Seq"] if "Seq" in frame else frame["MessageID"]


async def test_an_edit_on_one_instance_reaches_the_other(pair: list[Instance]) -> None:
    async with _one_room_two_instances(pair) as (ws_a, ws_b, _):
        sent = await ws_a.request({"Type": "message", "Text": "teh"})
        await ws_b.receive()
        await ws_a.send({"Type": "edit", "MessageID": sent["MessageID"], "Text": "the"})
        on_a, on_b = await ws_a.receive(), await ws_b.receive()
    assert on_a == on_b
    assert (on_b["Type"], on_b["Text"]) == ("edited", "the")


async def test_every_connection_sees_the_same_sequence_of_messages_and_changes(
    pair: list[Instance],
) -> None:
    async with _one_room_two_instances(pair) as (ws_a, ws_b, _):
        target = await ws_a.request({"Type": "message", "Text": "target"})
        await ws_b.receive()
        target_id = target["MessageID"]
        # Both instances write at once: messages, edits, reactions and a deletion.
        async with trio.open_nursery() as nursery:

            async def on_a() -> None:
                for i in range(8):
                    await ws_a.send({"Type": "message", "Text": f"a{i}"})
                    await ws_a.send({"Type": "edit", "MessageID": target_id, "Text": f"e{i}"})

            async def on_b() -> None:
                for i in range(8):
                    await ws_b.send({"Type": "react", "MessageID": target_id, "Emoji": f":b{i}:"})
                    await ws_b.send({"Type": "message", "Text": f"b{i}"})

            nursery.start_soon(on_a)
            nursery.start_soon(on_b)
        seen_a = [await ws_a.receive() for _ in range(32)]
        seen_b = [await ws_b.receive() for _ in range(32)]
        await ws_b.send({"Type": "delete", "MessageID": target_id})  # as the room's guest:
        refused = await ws_b.receive()  # only its author (or the room's creator) may
        assert refused["Error"].startswith(f"only the author of message {target_id}")
        await ws_a.send({"Type": "delete", "MessageID": target_id})
        seen_a.append(await ws_a.receive())
        seen_b.append(await ws_b.receive())
    assert seen_a == seen_b
    positions = [_position(frame) for frame in seen_a]
    assert positions == sorted(positions) and len(set(positions)) == len(positions)
    assert seen_a[-1]["Type"] == "deleted"


async def test_a_change_made_while_away_arrives_on_resume_at_another_instance(
    pair: list[Instance],
) -> None:
    a, b = pair
    owner, guest = await account(a.server, "owner"), await account(b.server, "guest")
    room_id = await create_room(a.server, owner, "general", guest)
    async with open_clients(a.server) as on_a, open_clients(b.server) as on_b:
        writer = await on_a.json("/ws", token=owner.token)
        await _enter(writer, room_id)
        reader = await on_b.json("/ws", token=guest.token)
        await _enter(reader, room_id)
        old = await writer.request({"Type": "message", "Text": "old"})
        newest = await writer.request({"Type": "message", "Text": "newest seen"})
        for _ in range(2):
            await reader.receive()
        await reader.ws.aclose()  # away
        edited = await writer.request({"Type": "edit", "MessageID": old["MessageID"], "Text": "v2"})
        deleted = await writer.request({"Type": "delete", "MessageID": newest["MessageID"]})
        resumed = await on_a.json("/ws", token=guest.token)  # back, on the other instance
        await _enter(resumed, room_id, SinceID=newest["MessageID"])
        assert [await resumed.receive(), await resumed.receive()] == [edited, deleted]


async def test_racing_edits_end_in_one_text_every_instance_agrees_on(
    pair: list[Instance],
) -> None:
    a, b = pair
    owner = await account(a.server, "owner")
    room_id = await create_room(a.server, owner, "general")
    async with open_clients(a.server) as on_a, open_clients(b.server) as on_b:
        here, there = (
            await on_a.json("/ws", token=owner.token),
            await on_b.json("/ws", token=owner.token),
        )
        await _enter(here, room_id)
        await _enter(there, room_id)
        target = await here.request({"Type": "message", "Text": "v0"})
        await there.receive()
        async with trio.open_nursery() as nursery:
            for ws, name in ((here, "a"), (there, "b")):

                async def edit(ws: Any = ws, name: str = name) -> None:
                    for i in range(10):
                        text = f"{name}{i}"
                        await ws.send(
                            {"Type": "edit", "MessageID": target["MessageID"], "Text": text}
                        )

                nursery.start_soon(edit)
        last_a = [await here.receive() for _ in range(20)][-1]
        last_b = [await there.receive() for _ in range(20)][-1]
    assert last_a == last_b
    for instance in pair:
        (stored,) = await room_history(instance.server, owner, room_id)
        assert stored["Text"] == last_a["Text"]
