"""One change stream, resumable: a change (edit, delete, reaction) has
a position ``Seq`` in the same sequence as MessageIDs, and ``{"Type": "enter", "SinceID":
N}`` sends every message *and every change* after N, in order, then goes live, with no
gap and no duplicate at the seam, including changes to messages older than N, within the
same bound of 1,000 (then ``truncated``)."""

from __future__ import annotations

from typing import Any

import trio
from support import STEP, Clients, JsonClient, Server, account, create_room, entered

from chat.app.history.backlog import MAX_RESUME


def _position(frame: dict[str, Any]) -> int:
    return frame["Seq"] if "Seq" in frame else frame["MessageID"]


async def _resume(clients: Clients, token: str, room_id: int, since: int) -> JsonClient:
    ws = await clients.json("/ws", token=token)
    entered_frame = await ws.request(
        {"Type": "enter", "RoomID": room_id, "SinceID": since, "Presence": False}
    )
    assert entered_frame["Type"] == "entered", entered_frame
    return ws


async def _nothing_more(ws: JsonClient) -> None:
    """The next frame is the answer to a ping: nothing else was on its way."""
    await ws.ws.send_message("ping")
    with trio.fail_after(STEP):
        assert await ws.ws.get_message() == "pong"


async def test_a_resume_sends_changes_to_messages_older_than_since_id(
    server: Server, clients: Clients
) -> None:
    alice = await account(server, "alice")
    room_id = await create_room(server, alice, "room")
    ws = await entered(clients, alice, room_id)
    old = await ws.request({"Type": "message", "Text": "old"})
    seen = await ws.request({"Type": "message", "Text": "seen"})
    # Away from here on: a message, and changes to a message from before SinceID.
    edited = await ws.request({"Type": "edit", "MessageID": old["MessageID"], "Text": "old!"})
    new = await ws.request({"Type": "message", "Text": "new"})
    reacted = await ws.request({"Type": "react", "MessageID": old["MessageID"], "Emoji": "👀"})
    deleted = await ws.request({"Type": "delete", "MessageID": seen["MessageID"]})
    resumed = await _resume(clients, alice.token, room_id, seen["MessageID"])
    missed = [await resumed.receive() for _ in range(4)]
    assert missed == [edited, new, reacted, deleted]
    assert [_position(f) for f in missed] == sorted(_position(f) for f in missed)
    await _nothing_more(resumed)


async def test_a_resume_from_the_newest_seq_sends_nothing(server: Server, clients: Clients) -> None:
    alice = await account(server, "alice")
    room_id = await create_room(server, alice, "room")
    ws = await entered(clients, alice, room_id)
    sent = await ws.request({"Type": "message", "Text": "x"})
    reacted = await ws.request({"Type": "react", "MessageID": sent["MessageID"], "Emoji": "👍"})
    resumed = await _resume(clients, alice.token, room_id, reacted["Seq"])
    await _nothing_more(resumed)


async def test_messages_and_changes_arrive_in_position_order_for_everyone(
    server: Server, clients: Clients
) -> None:
    alice, bob = await account(server, "alice"), await account(server, "bob")
    room_id = await create_room(server, alice, "room", bob)
    a, b = await entered(clients, alice, room_id), await entered(clients, bob, room_id)
    watcher = await entered(clients, alice, room_id)
    first = await a.request({"Type": "message", "Text": "first"})
    await b.receive()
    await watcher.receive()
    # Both write at once: messages, edits and reactions interleave.
    async with trio.open_nursery() as nursery:

        async def alice_writes() -> None:
            for i in range(10):
                await a.send({"Type": "message", "Text": f"a{i}"})
                await a.send({"Type": "edit", "MessageID": first["MessageID"], "Text": f"e{i}"})

        async def bob_writes() -> None:
            for i in range(10):
                emoji = f":b{i}:"
                await b.send({"Type": "react", "MessageID": first["MessageID"], "Emoji": emoji})
                await b.send({"Type": "message", "Text": f"b{i}"})

        nursery.start_soon(alice_writes)
        nursery.start_soon(bob_writes)
    streams = []
    for ws in (a, b, watcher):
        frames = [await ws.receive() for _ in range(40)]
        positions = [_position(frame) for frame in frames]
        assert positions == sorted(positions) and len(set(positions)) == 40
        streams.append(frames)
    assert streams[0] == streams[1] == streams[2]


async def test_a_resume_goes_live_with_no_gap_and_no_duplicate_while_changes_are_made(
    server: Server, clients: Clients
) -> None:
    alice = await account(server, "alice")
    room_id = await create_room(server, alice, "room")
    ws = await entered(clients, alice, room_id)
    target = await ws.request({"Type": "message", "Text": "target"})
    async with trio.open_nursery() as nursery:

        async def keep_changing() -> None:
            for i in range(30):
                await ws.send({"Type": "edit", "MessageID": target["MessageID"], "Text": f"v{i}"})
                await trio.sleep(0.002)

        nursery.start_soon(keep_changing)
        resumed = await _resume(clients, alice.token, room_id, target["MessageID"])
        texts = [(await resumed.receive())["Text"] for _ in range(30)]
    assert texts == [f"v{i}" for i in range(30)]
    await _nothing_more(resumed)


async def test_changes_count_toward_the_resume_bound(server: Server, clients: Clients) -> None:
    alice = await account(server, "alice")
    room_id = await create_room(server, alice, "room")
    ws = await entered(clients, alice, room_id)
    sent = await ws.request({"Type": "message", "Text": "popular"})
    seqs: list[int] = []
    async with trio.open_nursery() as nursery:

        async def confirmations() -> None:
            while len(seqs) < MAX_RESUME + 2:
                seqs.append((await ws.receive())["Seq"])

        nursery.start_soon(confirmations)
        for _ in range(MAX_RESUME // 2 + 1):
            for kind in ("react", "unreact"):
                await ws.send({"Type": kind, "MessageID": sent["MessageID"], "Emoji": ":x:"})
    resumed = await _resume(clients, alice.token, room_id, sent["MessageID"])
    truncated = await resumed.receive()
    kept = seqs[-MAX_RESUME:]
    assert (truncated["Type"], truncated["BeforeID"]) == ("truncated", kept[0])
    assert [(await resumed.receive())["Seq"] for _ in kept] == kept
