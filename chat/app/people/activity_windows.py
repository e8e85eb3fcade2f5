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
    #: A telling (or a look, to forget the window) is on the timer.
    timed: bool = False

    def add_message(self, message: Message) -> None:
        if message.in_main_timeline:
            self.senders.add(message.sender_id)
        elif message.mentions or message.mentions_room:
            # A thread's reply is not the room's news: only those it calls hear of it.
            self.called.update(message.mentions)
            self.called.discard(message.sender_id)
            if message.mentions_room:
                self.called_everyone_by.add(message.sender_id)
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

    def add_edit(self, change: Change, newly: EditedMentions) -> None:
        self.latest = max(self.latest, change.message_id)
        if len(self.edits) < MAX_EDITS:
            self.edits.append(newly)

    def told(self, now: float) -> None:
        self.told_at, self.latest = now, 0
        self.senders, self.named, self.everyone_by, self.edits = set(), set(), set(), []
        self.called, self.called_everyone_by = set(), set()

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


def activity_frame(room_id: int, message_id: int, mention: bool) -> bytes:
    # The same compact JSON as `chat.ws.dispatch.dumps` (which this module, imported by
    # the service, cannot import: the ws package imports the service).
    frame = {"Type": "activity", "RoomID": room_id, "MessageID": message_id, "Mention": mention}
    return text_frame(json.dumps(frame, separators=(",", ":")))
