"""What a room's activity window gathers between two tellings (`ActivityWindow`), and
the frame a telling sends (`activity_frame`); `chat.app.people.activity` owns the windows
and decides when each is told."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from chat.core.frames import text_frame
from chat.core.records import Change, EditedMentions, Message, Room

#: The most edits a window keeps (each may mention people anew); past it, more edits in
#: the same second are not told (best effort: the counts are in the database).
MAX_EDITS = 64


@dataclass(slots=True)
class ActivityWindow:
    """What happened in a room since its connections elsewhere were last told
    (`told_at`): what the next telling says. Empty (`latest` 0) once told."""

    room: Room
    told_at: float
    #: The newest message (or edited message) id to tell of; 0: nothing waits.
    latest: int = 0
    senders: set[int] = field(default_factory=set)
    #: Users mentioned by name, and the senders who mentioned the whole room.
    named: set[int] = field(default_factory=set)
    everyone_by: set[int] = field(default_factory=set)
    #: Edits that mention people anew (`Change.newly`).
    edits: list[EditedMentions] = field(default_factory=list)
    #: Who thread replies not sent to the room called by name (their senders aside) or
    #: follow their threads (`add_followers`), and the senders of those that called the
    #: whole room.
    called: set[int] = field(default_factory=set)
    called_everyone_by: set[int] = field(default_factory=set)
    #: The thread of the newest of those replies that called each user (by name, or as
    #: a follower), and of each sender's newest that called the whole room, as (reply
    #: id, root id): the ``ThreadID`` their telling carries. Newest by id, as followers
    #: are found after the replies that follow them (`add_followers`).
    threads: dict[int, tuple[int, int]] = field(default_factory=dict)
    everyone_threads: dict[int, tuple[int, int]] = field(default_factory=dict)
    #: A telling (or a look, to forget the window) is on the timer.
    timed: bool = False

    def add_message(self, message: Message) -> None:
        if message.in_main_timeline:
            self.senders.add(message.sender_id)
        elif message.mentions or message.mentions_room:
            # A thread's reply is not the room's news: only those it calls hear of it.
            reply = (message.id, message.thread_id or 0)
            for user_id in message.mentions:
                if user_id != message.sender_id:
                    self.called.add(user_id)
                    _keep_newest(self.threads, user_id, reply)
            if message.mentions_room:
                self.called_everyone_by.add(message.sender_id)
                _keep_newest(self.everyone_threads, message.sender_id, reply)
        else:
            return
        self.latest = max(self.latest, message.id)
        self.named.update(message.mentions)
        if message.mentions_room:
            self.everyone_by.add(message.sender_id)

    def add_followers(self, reply: Message, user_ids: frozenset[int]) -> None:
        """`user_ids` follow `reply`'s thread (connected here, its sender aside)."""
        self.latest = max(self.latest, reply.id)
        self.called.update(user_ids)
        for user_id in user_ids:
            _keep_newest(self.threads, user_id, (reply.id, reply.thread_id or 0))

    def add_edit(self, change: Change, newly: EditedMentions) -> None:
        self.latest = max(self.latest, change.message_id)
        if len(self.edits) < MAX_EDITS:
            self.edits.append(newly)

    def told(self, now: float) -> None:
        self.told_at, self.latest = now, 0
        self.senders, self.named, self.everyone_by, self.edits = set(), set(), set(), []
        self.called, self.called_everyone_by = set(), set()
        self.threads, self.everyone_threads = {}, {}

    def heard_by(self, user_id: int) -> tuple[bool, bool]:
        """(whether `user_id` is told, whether as a mention): told of messages someone
        else sent to the room, of thread replies that call them, or of an edit that
        mentions them anew. Each test is a set lookup."""
        others = len(self.senders) > 1 or (bool(self.senders) and user_id not in self.senders)
        edited = any(edit.mentions_user(user_id) for edit in self.edits)
        everyone = len(self.everyone_by) > 1 or (
            bool(self.everyone_by) and user_id not in self.everyone_by
        )
        called = (
            user_id in self.called
            or len(self.called_everyone_by) > 1
            or (bool(self.called_everyone_by) and user_id not in self.called_everyone_by)
        )
        return others or edited or called, edited or user_id in self.named or everyone

    def thread_of(self, user_id: int) -> int | None:
        """The root of the thread whose newest reply told `user_id` of this window (they
        follow it, or it called them by name or the whole room, someone else sending);
        None if no thread reply called them. One lookup, and one per sender who called
        the whole room from a thread."""
        newest = self.threads.get(user_id)
        for sender_id, reply in self.everyone_threads.items():
            if sender_id != user_id and (newest is None or reply > newest):
                newest = reply
        return None if newest is None else newest[1]


def _keep_newest(threads: dict[int, tuple[int, int]], key: int, reply: tuple[int, int]) -> None:
    known = threads.get(key)
    if known is None or reply > known:
        threads[key] = reply


def activity_frame(room_id: int, message_id: int, mention: bool, thread_id: int | None) -> bytes:
    """The frame telling of a room's activity: with ``ThreadID`` (a thread's root) when
    a reply in that thread, which the room's timeline leaves out, is what the user is
    told of."""
    # The same compact JSON as `chat.ws.dispatch.dumps` (which this module, imported by
    # the service, cannot import: the ws package imports the service).
    frame: dict[str, object] = {
        "Type": "activity",
        "RoomID": room_id,
        "MessageID": message_id,
        "Mention": mention,
    }
    if thread_id is not None:
        frame["ThreadID"] = thread_id
    return text_frame(json.dumps(frame, separators=(",", ":")))
