"""Clients that keep chatting through a network fault, as docs/PROTOCOL.md tells a client
to: every message sent with a `ClientMsgID` and resent with the same one until it is
confirmed, every reconnection resumed with `SinceID` (the last message seen); and what
they saw, to check the cluster's promises against.

A `Chatter` is one member on one instance: one `/ws` connection at a time, one message
in flight at a time, at most `MAX_MESSAGES`. It records every message frame in the order
it came (live or resumed), the confirmation of each of its own, and the longest it ever
waited for an answer to a send (a confirmation, an error frame, or the connection's
close). `check_delivery` then compares every member's record with the table.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import trio
from support import Account
from trio_websocket import (
    ConnectionClosed,
    ConnectionRejected,
    HandshakeError,
    WebSocketConnection,
    open_websocket_url,
)

#: The most a chatter sends in one scenario: the whole room stays under the 1,000 a
#: resume sends (docs/PROTOCOL.md), so one resume always catches a member up.
MAX_MESSAGES = 200
#: A pause between a confirmation and the next send, which bounds the load.
PACE = 0.2
#: A pause before trying again after an error or a lost connection.
RETRY = 0.5
#: Connecting and entering the room may take this long (the handshake checks the token
#: against the database, which may be unreachable).
CONNECT_BOUND = 40.0


class SessionOver(Exception):
    """This connection is done for (closed, or it would not enter): connect again."""


@dataclass
class Chatter:
    """One member of the room, on one instance (see the module docstring)."""

    name: str
    account: Account
    ws_url: str  # the instance's ws://host:port
    room: int
    answer_bound: float  # the longest a send may wait for any answer (documented)
    delivered: list[int] = field(default_factory=list)  # MessageIDs, as they came
    _seen: set[int] = field(default_factory=set)  # the same, to look up
    delivered_at: dict[int, float] = field(default_factory=dict)  # trio time, by id
    duplicates: list[int] = field(default_factory=list)
    out_of_order: list[tuple[int, int]] = field(default_factory=list)
    confirmed: dict[str, int] = field(default_factory=dict)  # ClientMsgID -> MessageID
    confirmed_at: dict[str, float] = field(default_factory=dict)  # trio time
    silences: list[float] = field(default_factory=list)  # waits past `answer_bound`
    longest_wait: float = 0.0
    errors: int = 0
    closes: int = 0
    connections: int = 0
    #: While set, the chatter only listens (it sends nothing new, resends nothing).
    holding: bool = False
    #: Whether a sent message waits for its answer (it may still be committed).
    awaiting: bool = False
    _pending: str | None = None
    _resend: bool = False
    _resent: dict[str, int] = field(default_factory=dict)  # resends sent, by ClientMsgID
    _answer: trio.Event = field(default_factory=trio.Event)
    _answer_kind: str = ""

    def _client_msg_id(self) -> str:
        return f"{self.name}-{len(self.confirmed)}"

    def _on_frame(self, frame: dict[str, Any], entered: trio.Event) -> None:
        kind = frame.get("Type")
        if kind == "entered":
            entered.set()
        elif kind == "error":
            if self._pending is not None and frame.get("ClientMsgID") == self._pending:
                self._answer_kind = "error"
                self._answer.set()
            elif not entered.is_set():
                raise SessionOver(f"enter refused: {frame.get('Error')}")
        elif kind == "message" and frame.get("RoomID") == self.room:
            message_id = frame["MessageID"]
            mine = frame.get("UID") == self.account.uid and frame.get("ClientMsgID") == (
                self._pending
            )
            client_msg_id = frame.get("ClientMsgID")
            answers_a_resend = (
                frame.get("UID") == self.account.uid and self._resent.get(client_msg_id, 0) > 0
            )
            if message_id in self._seen:
                # A resend of a message already stored is confirmed with the original's
                # frame, to this connection alone: an answer, not a second delivery.
                # (The original may also reach it live: a commit whose answer was lost
                # is published when its instance next catches up.)
                if answers_a_resend:
                    self._resent[client_msg_id] -= 1
                else:
                    self.duplicates.append(message_id)
            else:
                if self.delivered and message_id < self.delivered[-1]:
                    self.out_of_order.append((self.delivered[-1], message_id))
                self.delivered.append(message_id)
                self._seen.add(message_id)
                self.delivered_at[message_id] = trio.current_time()
            if mine:
                self.confirmed[frame["ClientMsgID"]] = message_id
                self.confirmed_at[frame["ClientMsgID"]] = trio.current_time()
                self._answer_kind = "confirmed"
                self._answer.set()

    async def _read(self, ws: WebSocketConnection, entered: trio.Event) -> None:
        while True:
            self._on_frame(json.loads(await ws.get_message()), entered)

    async def _send_until_answered(self, ws: WebSocketConnection) -> str:
        """Send the pending message; "confirmed" or "error". Raises `SessionOver` if the
        connection closes first or nothing answers within `answer_bound`."""
        assert self._pending is not None
        self._answer, self._answer_kind = trio.Event(), ""
        frame = {"Type": "message", "Text": self._pending, "ClientMsgID": self._pending}
        started = trio.current_time()
        self.awaiting = True
        if self._resend:
            self._resent[self._pending] = self._resent.get(self._pending, 0) + 1
        try:
            await ws.send_message(json.dumps(frame))
            with trio.move_on_after(self.answer_bound):
                await self._answer.wait()
        finally:
            self.awaiting = False
            waited = trio.current_time() - started
            self.longest_wait = max(self.longest_wait, waited)
        if not self._answer.is_set():
            self.silences.append(waited)
            raise SessionOver(f"no answer to {self._pending} within {self.answer_bound} s")
        return self._answer_kind

    async def _session(self, stop_sending: trio.Event) -> None:
        """One connection: enter (resuming), then send until told to stop; returns when
        told to stop, raises `SessionOver` (or the connection's errors) otherwise."""
        entered = trio.Event()
        url = f"{self.ws_url}/ws?token={self.account.token}"
        async with open_websocket_url(
            url, connect_timeout=CONNECT_BOUND, disconnect_timeout=2.0
        ) as ws:
            self.connections += 1
            # From the room's first message the first time (whatever was sent before this
            # member connected), from the last one it saw after that.
            since = self.delivered[-1] if self.delivered else 0
            enter = {"Type": "enter", "RoomID": self.room, "Presence": False, "SinceID": since}
            # Holds the reader; ends when this session does (cancelled, or by an error).
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._read, ws, entered)
                await ws.send_message(json.dumps(enter))
                with trio.fail_after(CONNECT_BOUND):
                    await entered.wait()
                while not stop_sending.is_set() and len(self.confirmed) < MAX_MESSAGES:
                    if self.holding:
                        await trio.sleep(0.1)
                        continue
                    if self._pending is None:
                        self._pending, self._resend = self._client_msg_id(), False
                    answer = await self._send_until_answered(ws)
                    if answer == "confirmed":
                        self._pending = None
                        await trio.sleep(PACE)
                    else:
                        self.errors += 1
                        self._resend = True
                        await trio.sleep(RETRY)
                # Keep reading (deliveries) until the scenario is over.
                await trio.sleep_forever()

    async def run(self, stop_sending: trio.Event) -> None:
        """Chat, reconnecting after every lost connection, until cancelled."""
        while True:
            try:
                await self._session(stop_sending)
            except* (
                SessionOver,
                ConnectionClosed,
                ConnectionRejected,
                HandshakeError,
                OSError,
                trio.TooSlowError,
            ):
                self.closes += 1
            if self._pending is not None:
                self._resend = True  # it may have been stored: the same id again
            await trio.sleep(RETRY)


@dataclass
class Tally:
    """What a scenario's clients saw, against the table."""

    stored: int
    confirmed: int
    lost: list[str]  # confirmed, and missing from the table or from a member
    duplicated: list[str]  # stored or delivered twice
    out_of_order: list[str]
    #: The longest from a message's confirmation to its delivery to another member.
    longest_lag: float


def tally(chatters: list[Chatter], stored: list[tuple[int, int, str | None]]) -> Tally:
    """Compare what every chatter saw with the room's rows (id, sender, ClientMsgID)."""
    ids = sorted(row[0] for row in stored)
    by_client_id: dict[tuple[int, str | None], list[int]] = {}
    for message_id, sender, client_msg_id in stored:
        by_client_id.setdefault((sender, client_msg_id), []).append(message_id)
    lost, duplicated, out_of_order = [], [], []
    for key, message_ids in by_client_id.items():
        if len(message_ids) > 1:
            duplicated.append(f"{key} stored as {message_ids}")
    confirmed = 0
    confirmed_at = {
        message_id: chatter.confirmed_at[client_msg_id]
        for chatter in chatters
        for client_msg_id, message_id in chatter.confirmed.items()
    }
    longest_lag = max(
        (
            at - confirmed_at[message_id]
            for chatter in chatters
            for message_id, at in chatter.delivered_at.items()
            if message_id in confirmed_at
        ),
        default=0.0,
    )
    for chatter in chatters:
        for client_msg_id, message_id in chatter.confirmed.items():
            confirmed += 1
            if by_client_id.get((chatter.account.uid, client_msg_id)) != [message_id]:
                lost.append(f"{client_msg_id} confirmed as {message_id}, not stored so")
        missing = sorted(set(ids) - set(chatter.delivered))
        if missing:
            lost.append(f"{chatter.name} never got {missing}")
        if chatter.delivered != ids:
            extra = sorted(set(chatter.delivered) - set(ids))
            if extra:
                lost.append(f"{chatter.name} got {extra}, which are not stored")
        if chatter.duplicates:
            duplicated.append(f"{chatter.name} got {chatter.duplicates} twice")
        if chatter.out_of_order:
            out_of_order.append(f"{chatter.name}: {chatter.out_of_order}")
    return Tally(len(ids), confirmed, lost, duplicated, out_of_order, longest_lag)
