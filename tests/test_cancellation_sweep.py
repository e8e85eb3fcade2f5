"""Cancellation swept: the message path (send, commit, publish, deliver, resume) and the
change path, each cancelled at every one of its checkpoints in turn, on a real server
in this process with a real database and real WebSocket clients.

How: an instrument (`Sweep`) watches the server's tasks and counts the steps that end
inside the operation's function (a step ends at a checkpoint: the task yields there,
and `after_task_step` sees its coroutine stack). Run k cancels, at the k-th of them, the
nursery that holds the task doing the operation, as the server itself would: for a
session's handler, the session's tasks (its busy spell); for an HTTP request, its own
nursery (what its client's disconnect cancels); for the writer or the broadcaster, the
root nursery (what a shutdown does once the drain is over). Cancelled
in `after_task_step`, the task is still parked at that checkpoint, so the `Cancelled`
comes out of exactly that await. The sweep ends with the first run that is not
cancelled: its count is the path's number of checkpoints, and each sweep holds
docs/DESIGN.md's table ("Cancellation swept") to it. On PostgreSQL the change path is
also swept at each step of the asyncio loop's task while the request waits for its
transaction (`Sweep`'s helpers).

After each run the clients follow docs/PROTOCOL.md's recovery (reconnect, resume with
`SinceID`, resend what was not confirmed with the same `ClientMsgID`, or a change again),
and the invariants (DESIGN.md says what each means) are checked:

- a message is stored once, and each member sees it once, live or by resume, whether
  or not its sender saw it confirmed; the same for a change;
- what was stored while the server goes on reaches the members connected, live;
- no task, subscription or session is left behind: the server's task tree, the
  broadcaster's subscriptions and the sessions open are back to what they were, and no
  subscription is left held (`HeldFrames`) while its session goes on.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import CodeType
from typing import Any

import httpx
import pytest
import trio
from support import (
    STEP,
    Account,
    Clients,
    JsonClient,
    Server,
    StoppableServer,
    account,
    create_room,
    http_client,
    open_clients,
)
from support import select_rows as rows_of
from trio_websocket import ConnectionClosed

from chat.app.messages.broadcaster import Broadcaster
from chat.app.messages.publisher import Publisher
from chat.app.messages.writer import MessageWriter
from chat.app.service import ChatService
from chat.core.config import Config
from chat.net.front_door import FrontDoor
from chat.ws.rooms import RoomProtocol
from chat.ws.server import WebSocketServer
from chat.ws.session.held_frames import HeldFrames
from chat.ws.session.outbox import Outbox

DESIGN = Path(__file__).parent.parent / "docs" / "DESIGN.md"


# --- counting and cancelling checkpoints ---


def _stack(task: trio.lowlevel.Task) -> Iterator[CodeType]:
    """The code of each coroutine (or generator) on `task`'s stack, outermost first."""
    awaiting: Any = task.coro
    while awaiting is not None:
        code = getattr(awaiting, "cr_code", None) or getattr(awaiting, "gi_code", None)
        if code is None:
            return
        yield code
        awaiting = getattr(awaiting, "cr_await", None) or getattr(awaiting, "gi_yieldfrom", None)


class Sweep(trio.abc.Instrument):
    """Counts the steps of any task that end inside one of `functions` (a step ends at a
    checkpoint), and at the `cancel_at`-th cancels the nursery holding that task. `over`
    once it has cancelled, or once a task that was inside has left (the operation ended)."""

    def __init__(
        self,
        functions: tuple[Callable[..., Any], ...],
        cancel_at: int,
        *,
        helpers: tuple[Callable[..., Any], ...] = (),
    ) -> None:
        self._codes = {function.__code__ for function in functions}
        self._cancel_at = cancel_at
        # Tasks that work for the operation while it waits (the asyncio loop's), whose
        # steps count too.
        self._helpers = {function.__code__ for function in helpers}
        self.count = 0
        self.cancelled: trio.Nursery | None = None  # the nursery it cancelled
        self.over = False
        self._inside: set[trio.lowlevel.Task] = set()

    def after_task_step(self, task: trio.lowlevel.Task) -> None:
        if self.over:
            return
        if any(code in self._codes for code in _stack(task)):
            self._inside.add(task)
            self._count(task)
        elif task in self._inside:
            self.over = True
        elif self._inside and any(code in self._helpers for code in _stack(task)):
            # A step of a helper while the operation waits for it (the asyncio loop
            # running its queries): cancelled there, the operation is woken with it.
            (inside,) = self._inside
            self._count(inside)

    def _count(self, task: trio.lowlevel.Task) -> None:
        self.count += 1
        if self.count == self._cancel_at:
            self.over = True
            self.cancelled = task.parent_nursery
            assert self.cancelled is not None
            # The task is parked at a checkpoint: the Cancelled comes out of it.
            self.cancelled.cancel_scope.cancel()


# --- the server's parts, found in its task tree ---


def _tasks(task: trio.lowlevel.Task) -> Iterator[trio.lowlevel.Task]:
    yield task
    for nursery in task.child_nurseries:
        for child in nursery.child_tasks:
            yield from _tasks(child)


def _running(run: Callable[..., Any]) -> Any:
    """The object whose `run` method a task of this process is running (one server)."""
    found = [
        task.coro.cr_frame.f_locals["self"]
        for task in _tasks(trio.lowlevel.current_root_task())
        if getattr(task.coro, "cr_code", None) is run.__code__
    ]
    assert len(found) == 1, found
    return found[0]


@dataclass
class Parts:
    """What the invariants are read from: the broadcaster's subscriptions, the sessions
    open, and the tasks of the root nursery."""

    broadcaster: Broadcaster
    websocket: WebSocketServer
    root: trio.Nursery

    @classmethod
    def find(cls) -> Parts:
        front_door: FrontDoor = _running(FrontDoor.run)
        (root,) = {
            task.parent_nursery
            for task in _tasks(trio.lowlevel.current_root_task())
            if getattr(task.coro, "cr_code", None) is MessageWriter.run.__code__
        }
        assert root is not None
        return cls(_running(Broadcaster.run), front_door._websocket, root)

    def tasks(self, *, connections: bool = True) -> list[str]:
        """The names of the tasks under the root nursery; without those of connections
        (HTTP's, kept alive a while after their requests, and sessions'), if not
        `connections`."""
        names = []
        todo = list(self.root.child_tasks)
        while todo:
            task = todo.pop()
            if not connections and task.name.endswith("FrontDoor._handle"):
                continue
            names.append(task.name)
            todo.extend(child for nursery in task.child_nurseries for child in nursery.child_tasks)
        return sorted(names)

    def subscriptions(self) -> list[Any]:
        return [s for topic in self.broadcaster._topics.values() for s in topic]

    def sessions(self) -> int:
        """Sessions open, and the sessions filed in the registries (revocations,
        presence, notices, activity): all of them unfiled as a session ends."""
        revocations, presence, notices, activity = self.websocket._room_registries
        return (
            len(self.websocket._open)
            + sum(self.websocket.sessions.values())
            + len(revocations._sessions)
            + len(presence._counted)
            + len(notices._connections)
            + len(activity._connections)
        )


# --- the clients ---


class Reader:
    """A room-protocol connection and every frame it got, read by a task of its own."""

    def __init__(self, client: JsonClient) -> None:
        self.client = client
        self.frames: list[dict[str, Any]] = []
        self._arrived = trio.Event()

    async def run(self) -> None:
        try:
            while True:
                self.frames.append(json.loads(await self.client.ws.get_message()))
                self._arrived.set()
                self._arrived = trio.Event()
        except ConnectionClosed:
            pass

    async def until(self, found: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        """The first frame `found` accepts, once it has arrived."""
        with trio.fail_after(STEP):
            while True:
                for frame in self.frames:
                    if found(frame):
                        return frame
                await self._arrived.wait()

    async def send(self, frame: dict[str, Any]) -> None:
        await self.client.send(frame)

    async def close(self) -> None:
        await self.client.ws.aclose()

    async def post(self, text: str, **fields: Any) -> dict[str, Any]:
        """Send a message and wait for its confirmation (its own copy)."""
        await self.send({"Type": "message", "Text": text, **fields})
        return await self.until(lambda f: f.get("Type") == "message" and f["Text"] == text)

    def last_seen(self, default: int) -> int:
        """The highest MessageID or Seq of the stream this connection got: where it
        resumes from (docs/PROTOCOL.md)."""
        seen = [f.get("Seq", f.get("MessageID")) for f in self.frames if f.get("Type") != "error"]
        return max([default, *(position for position in seen if isinstance(position, int))])

    def positions(self) -> list[int]:
        """The position of every frame of the stream it got, in the order it got them."""
        return [
            f["Seq"] if "Seq" in f else f["MessageID"]
            for f in self.frames
            if f.get("Type") == "message" or "Seq" in f
        ]

    def messages(self, client_msg_id: str) -> list[int]:
        return [
            f["MessageID"]
            for f in self.frames
            if f.get("Type") == "message" and f.get("ClientMsgID") == client_msg_id
        ]

    def changes(self, kind: str, message_id: int) -> list[int]:
        """The Seq of each change of `kind` ("edited", "reactions", "deleted") to message
        `message_id` that came in the stream (an answer of "unchanged" has no Seq)."""
        return [
            f["Seq"]
            for f in self.frames
            if f.get("Type") == kind and f.get("MessageID") == message_id and "Seq" in f
        ]


@dataclass
class World:
    """A server that the sweep cancels (stopped and started again on the same database
    when a run cancelled its root nursery), and two members of one room."""

    config: Config
    stoppable: StoppableServer
    server: Server
    alice: Account
    bob: Account
    room: int
    parts: Parts = field(init=False)
    #: The tasks of the root nursery with no connection open: the components'.
    baseline: list[str] = field(init=False)

    def __post_init__(self) -> None:
        self.found()

    def found(self) -> None:
        self.parts = Parts.find()
        self.baseline = self.parts.tasks(connections=False)

    async def after(self, sweep: Sweep) -> None:
        """Once a run's clients have closed: start the server again if the run cancelled
        its root nursery (a shutdown), else check that the run left nothing behind."""
        if sweep.cancelled is self.parts.root:
            await self.stoppable.stop()
            self.server = await self.stoppable.start()
            self.found()
            return
        parts = self.parts
        await until(lambda: not parts.sessions() and parts.tasks() == self.baseline)
        assert self.parts.subscriptions() == []

    async def no_subscription_held(self) -> None:
        """A session that goes on after its task was cancelled holds no subscription back
        (frames would pile up unsent until it is evicted)."""
        subscriptions = self.parts.subscriptions
        await until(lambda: not any(isinstance(s.subscriber, HeldFrames) for s in subscriptions()))


async def _world(nursery: trio.Nursery, config: Config) -> World:
    stoppable = StoppableServer(nursery, config)
    server = await stoppable.start()
    alice, bob = await account(server, "alice"), await account(server, "bob")
    room = await create_room(server, alice, "swept", bob)
    return World(config, stoppable, server, alice, bob, room)


class Members:
    """Room-protocol connections to a world's room, each read by a task of its own."""

    def __init__(self, world: World, clients: Clients, readers: trio.Nursery) -> None:
        self._world, self._clients, self._readers = world, clients, readers

    async def connect(self, user: Account) -> Reader:
        """A connection of `user`'s, in no room yet."""
        reader = Reader(await self._clients.json("/ws", token=user.token))
        self._readers.start_soon(reader.run)
        return reader

    async def enter(self, user: Account, since_id: int | None = None) -> Reader:
        """A connection of `user`'s that has entered the room (resuming after `since_id`,
        if given)."""
        reader = await self.connect(user)
        await reader.send(self.entering(since_id))
        await reader.until(lambda f: f.get("Type") == "entered")
        return reader

    def entering(self, since_id: int | None = None) -> dict[str, Any]:
        frame: dict[str, Any] = {"Type": "enter", "RoomID": self._world.room, "Presence": False}
        if since_id is not None:
            frame["SinceID"] = since_id
        return frame


@asynccontextmanager
async def members(world: World) -> AsyncIterator[Members]:
    """Connections to `world`'s room; all closed on exit."""
    async with open_clients(world.server) as clients, trio.open_nursery() as readers:
        yield Members(world, clients, readers)
        await clients.aclose()  # the readers end with their connections


@contextmanager
def swept(
    functions: tuple[Callable[..., Any], ...],
    k: int,
    *,
    helpers: tuple[Callable[..., Any], ...] = (),
) -> Iterator[Sweep]:
    sweep = Sweep(functions, k, helpers=helpers)
    trio.lowlevel.add_instrument(sweep)
    try:
        yield sweep
    finally:
        trio.lowlevel.remove_instrument(sweep)


async def until(condition: Callable[[], bool]) -> None:
    """Return once `condition()` holds (state of the server's, or of the clients', with no
    event to wait for); fail after `STEP` s."""
    with trio.fail_after(STEP):
        while not condition():  # noqa: ASYNC110
            await trio.sleep(0.001)


# --- the paths ---

#: The functions whose checkpoints each path is swept at, and the task that runs them:
#: the sender's handler (send), the writer (commit, publish), the broadcaster and any
#: outbox writer (deliver).
MESSAGE_PATHS: dict[str, tuple[Callable[..., Any], ...]] = {
    "send": (RoomProtocol._message,),
    "commit": (MessageWriter._commit,),
    "publish": (Publisher.publish_ours,),
    "deliver": (Broadcaster.run, Outbox._write_loop),
}


@dataclass
class Counted:
    """What a sweep found: the checkpoints of its path (those of the run that was not
    cancelled)."""

    checkpoints: int = 0


async def _message_run(world: World, path: str, k: int, counted: Counted) -> bool:
    """Run k of a message path's sweep; False once a run was not cancelled (the last)."""
    cid = f"swept-{path}-{k}"
    async with members(world) as room:
        alice, bob = await room.enter(world.alice), await room.enter(world.bob)
        before = (await alice.post(f"before {k}"))["MessageID"]
        await bob.until(lambda f: f.get("MessageID") == before)
        # A reply with a mention: every check a message passes before it is queued reads.
        message = {"Type": "message", "Text": f"@bob swept {k}", "ClientMsgID": cid}
        message["ReplyTo"] = before
        with swept(MESSAGE_PATHS[path], k) as sweep:
            await alice.send(message)
            await until(lambda: sweep.over or bool(alice.messages(cid) and bob.messages(cid)))
        if sweep.cancelled is not world.parts.root:
            await world.no_subscription_held()
        if await _stored(world, cid) and sweep.cancelled is not world.parts.root:
            # The server goes on: a member connected gets what was stored, live.
            await bob.until(lambda f: f.get("ClientMsgID") == cid)
    await world.after(sweep)
    confirmed = bool(alice.messages(cid))
    # The recovery of docs/PROTOCOL.md: resume from the last position seen, resend what
    # was not confirmed with the same ClientMsgID.
    async with members(world) as room:
        alice2 = await room.enter(world.alice, alice.last_seen(before))
        bob2 = await room.enter(world.bob, bob.last_seen(before))
        await alice2.post(f"resumed {k}")  # after the backlog
        if not alice2.messages(cid) and not confirmed:
            await alice2.send(message)
            await alice2.until(lambda f: f.get("ClientMsgID") == cid)
        await alice2.post(f"end {k}")
        await bob2.until(lambda f: f.get("Text") == f"end {k}")
    assert len(await _stored(world, cid)) == 1, "stored once"
    assert len(alice.messages(cid) + alice2.messages(cid)) == 1, "its sender saw it once"
    assert len(bob.messages(cid) + bob2.messages(cid)) == 1, "a member saw it once"
    if sweep.cancelled is None:
        counted.checkpoints = sweep.count
        return False
    return True


async def _stored(world: World, cid: str) -> list[tuple[Any, ...]]:
    return await rows_of(world.config, f"SELECT id FROM messages WHERE client_msg_id = '{cid}'")


async def sweep_message_path(nursery: trio.Nursery, config: Config, path: str) -> Counted:
    world = await _world(nursery, config)
    counted = Counted()
    k = 1
    while await _message_run(world, path, k, counted):
        k += 1
    assert counted.checkpoints == k - 1
    await world.stoppable.stop()
    return counted


async def _http_run(world: World, k: int, counted: Counted) -> bool:
    """Run k of the sweep of a message sent over HTTP (`POST /messages/{room}`, which
    answers once the message is committed); False once a run was not cancelled."""
    cid = f"swept-http-{k}"
    url = f"/messages/{world.room}"
    async with members(world) as room:
        alice, bob = await room.enter(world.alice), await room.enter(world.bob)
        before = (await alice.post(f"before {k}"))["MessageID"]
        await bob.until(lambda f: f.get("MessageID") == before)
        body = {"Text": f"@bob over HTTP {k}", "ClientMsgID": cid, "ReplyTo": before}
        async with http_client(world.server) as http:
            with swept((ChatService.post,), k) as sweep:
                try:
                    answer: httpx.Response | None = await http.post(
                        url, json=body, headers=world.alice.auth
                    )
                except httpx.TransportError:
                    answer = None
        # Cancelled, the request's nursery ends with no answer (as when its client
        # disconnects, which is what cancels it in earnest): Hypercorn answers 500 if
        # the connection is still there. Either way, not confirmed.
        if answer is not None and answer.status_code != 201:
            assert sweep.cancelled is not None, answer.text
            answer = None
        if await _stored(world, cid):
            # The server goes on: a member connected gets what was stored, live.
            await bob.until(lambda f: f.get("ClientMsgID") == cid)
    await world.after(sweep)
    async with members(world) as room:
        bob2 = await room.enter(world.bob, bob.last_seen(before))
        if answer is None:  # not confirmed: sent again, with the same ClientMsgID
            async with http_client(world.server) as http:
                answer = await http.post(url, json=body, headers=world.alice.auth)
            assert answer.status_code in (200, 201), answer.text
        alice2 = await room.enter(world.alice, before)
        await alice2.post(f"end {k}")
        await bob2.until(lambda f: f.get("Text") == f"end {k}")
    stored = await _stored(world, cid)
    assert [row[0] for row in stored] == [answer.json()["MessageID"]], "stored once"
    assert len(bob.messages(cid) + bob2.messages(cid)) == 1, "a member saw it once"
    if sweep.cancelled is None:
        counted.checkpoints = sweep.count
        return False
    return True


async def test_a_message_sent_over_http_cancelled_at_any_checkpoint_is_stored_and_seen_once(
    nursery: trio.Nursery, config: Config
) -> None:
    world = await _world(nursery, config)
    counted, k = Counted(), 1
    while await _http_run(world, k, counted):
        k += 1
    assert counted.checkpoints == documented("send over HTTP", engine(config))


def documented(path: str, engine: str) -> int:
    """The number of checkpoints docs/DESIGN.md's table ("Cancellation swept") gives
    `path` on `engine` ("SQLite" or "PostgreSQL")."""
    text = DESIGN.read_text()
    row = re.search(rf"^\| {path} \| [^|]* \| [^|]* \| (\d+) \| (\d+) \|", text, re.M)
    assert row, f"docs/DESIGN.md has no row for {path!r} in 'Cancellation swept'"
    return int(row.group(1 if engine == "SQLite" else 2))


def engine(config: Config) -> str:
    return "PostgreSQL" if config.is_postgres else "SQLite"


@pytest.mark.parametrize("path", list(MESSAGE_PATHS))
async def test_a_message_cancelled_at_any_checkpoint_is_stored_and_seen_once(
    nursery: trio.Nursery, config: Config, path: str
) -> None:
    counted = await sweep_message_path(nursery, config, path)
    assert counted.checkpoints == documented(path, engine(config))


#: The change requests swept (all of them run by the requester's handler, in
#: `RoomProtocol._change`): the request frame's fields, and the kind of change it makes.
CHANGES: dict[str, tuple[dict[str, Any], str]] = {
    "edit": ({"Type": "edit", "Text": "edited @bob"}, "edited"),
    "react": ({"Type": "react", "Emoji": "👍"}, "reactions"),
    "delete": ({"Type": "delete"}, "deleted"),
    # The room's owner deletes a member's message: audited.
    "moderator delete": ({"Type": "delete"}, "deleted"),
}


async def _change_run(
    world: World,
    request: str,
    k: int,
    counted: Counted,
    *,
    helpers: tuple[Callable[..., Any], ...] = (),
) -> bool:
    """Run k of a change path's sweep; False once a run was not cancelled (the last)."""
    fields, kind = CHANGES[request]
    async with members(world) as room:
        alice, bob = await room.enter(world.alice), await room.enter(world.bob)
        author, other = (bob, alice) if request == "moderator delete" else (alice, bob)
        target = (await author.post(f"to change {k}"))["MessageID"]
        await other.until(lambda f: f.get("MessageID") == target)
        change = {**fields, "MessageID": target}
        with swept((RoomProtocol._change,), k, helpers=helpers) as sweep:
            await alice.send(change)
            await until(lambda: sweep.over or bool(alice.changes(kind, target)))
        if sweep.cancelled is not world.parts.root:
            await world.no_subscription_held()
        if await _changes_stored(world, kind, target) and sweep.cancelled is not world.parts.root:
            # The server goes on: a member connected gets what was stored, live, at
            # once, not when something later commits.
            await bob.until(lambda f: f.get("Type") == kind and f.get("MessageID") == target)
    await world.after(sweep)
    confirmed = bool(alice.changes(kind, target))
    # Resume from the last position seen; make a change not seen again (a second time
    # changes nothing: it is answered "unchanged", with no Seq).
    async with members(world) as room:
        alice2 = await room.enter(world.alice, alice.last_seen(target))
        bob2 = await room.enter(world.bob, bob.last_seen(target))
        await alice2.post(f"resumed {k}")  # after the backlog
        if not alice2.changes(kind, target) and not confirmed:
            await alice2.send(change)
            await alice2.until(lambda f: f.get("Type") == kind and f.get("MessageID") == target)
        await alice2.post(f"end {k}")
        await bob2.until(lambda f: f.get("Text") == f"end {k}")
    assert await _changes_stored(world, kind, target) == 1, "stored once"
    assert len(alice.changes(kind, target) + alice2.changes(kind, target)) == 1
    assert len(bob.changes(kind, target) + bob2.changes(kind, target)) == 1
    if request == "moderator delete":
        assert await _audited(world, target) == 1, "a moderator's deletion is audited once"
    if sweep.cancelled is None:
        counted.checkpoints = sweep.count
        return False
    return True


async def _audited(world: World, message_id: int) -> int:
    sql = f"SELECT count(*) FROM audit_log WHERE action = 'delete' AND message_id = {message_id}"
    ((count,),) = await rows_of(world.config, sql)
    return int(count)


async def _changes_stored(world: World, kind: str, message_id: int) -> int:
    sql = (
        f"SELECT count(*) FROM message_changes WHERE message_id = {message_id} AND kind = '{kind}'"
    )
    ((count,),) = await rows_of(world.config, sql)
    return int(count)


@pytest.mark.parametrize("request_", list(CHANGES))
async def test_a_change_cancelled_at_any_checkpoint_is_stored_and_seen_once(
    nursery: trio.Nursery, config: Config, request_: str
) -> None:
    world = await _world(nursery, config)
    counted, k = Counted(), 1
    while await _change_run(world, request_, k, counted):
        k += 1
    assert counted.checkpoints == documented(request_, engine(config))


async def _resume_run(world: World, k: int, counted: Counted) -> bool:
    """Run k of the resume path's sweep; False once a run was not cancelled (the last)."""
    async with members(world) as room:
        alice, bob = await room.enter(world.alice), await room.enter(world.bob)
        since = (await alice.post(f"before {k}"))["MessageID"]
        await bob.until(lambda f: f.get("MessageID") == since)
        await bob.close()
        # Missed while bob was away: two messages and a change to an older one.
        missed = [(await alice.post(f"missed {k}.{i}"))["MessageID"] for i in (1, 2)]
        await alice.send({"Type": "edit", "MessageID": since, "Text": f"before {k}, edited"})
        edited = await alice.until(lambda f: f.get("Type") == "edited" and "Seq" in f)
        missed.append(edited["Seq"])
        bob2 = await room.connect(world.bob)
        with swept((RoomProtocol._enter,), k) as sweep:
            await bob2.send(room.entering(since))
            await until(lambda: sweep.over)
        await world.no_subscription_held()
        # What comes next reaches bob's connection if its resume went through, else not;
        # either way, after what it got of the backlog, in order, none twice.
        missed.append((await alice.post(f"live {k}"))["MessageID"])
        await alice.post(f"sync {k}")
        got = bob2.positions()
        assert got == sorted(set(got)), got
    await world.after(sweep)
    async with members(world) as room:
        bob3 = await room.enter(world.bob, bob2.last_seen(since))
        alice3 = await room.enter(world.alice, alice.last_seen(since))
        await alice3.post(f"end {k}")
        await bob3.until(lambda f: f.get("Text") == f"end {k}")
    seen = bob2.positions() + bob3.positions()
    assert [seen.count(position) for position in missed] == [1] * len(missed), (missed, seen)
    if sweep.cancelled is None:
        counted.checkpoints = sweep.count
        return False
    return True


#: Where a resume's backlog is read: the room's window in memory (the server's default),
#: or the tables (no history in memory: CHAT_HISTORY_CACHE_MB=0, or a room not active).
RESUMES = {"resume from memory": 64, "resume from the tables": 0}


@pytest.mark.parametrize("resume", list(RESUMES))
async def test_a_resume_cancelled_at_any_checkpoint_leaves_nothing_held_and_misses_nothing(
    nursery: trio.Nursery, config: Config, resume: str
) -> None:
    world = await _world(nursery, config.replace(history_cache_mb=RESUMES[resume]))
    counted, k = Counted(), 1
    while await _resume_run(world, k, counted):
        k += 1
    assert counted.checkpoints == documented(resume, engine(config))


# A deletion is swept as a moderator's, which is the author's and an audit entry more.
@pytest.mark.parametrize("request_", ["edit", "react", "moderator delete"])
async def test_a_change_cancelled_at_any_step_of_its_postgresql_transaction_is_seen_once(
    nursery: trio.Nursery, postgres_config: Config, request_: str
) -> None:
    """On PostgreSQL the transaction runs on the asyncio loop, a task of its own: the
    sweep cancels the request at each step of that task too (each round trip of its
    statements, the COMMIT's included), not only at the request's own checkpoints."""
    from trio_asyncio._base import BaseTrioEventLoop

    loop = (BaseTrioEventLoop._main_loop, BaseTrioEventLoop._io_task)
    world = await _world(nursery, postgres_config)
    counted, k = Counted(), 1
    while await _change_run(world, request_, k, counted, helpers=loop):
        k += 1
    # More than the request's own checkpoints: the loop's steps were swept too.
    assert counted.checkpoints > documented(request_, "PostgreSQL")
