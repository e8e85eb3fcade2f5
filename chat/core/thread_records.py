"""What a person has of a thread beyond its messages: whether they follow it, and what
of it they have not read (`GET /threads/unread`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

#: The most replies a followed thread's unread count counts: past it, "at least this many".
THREAD_UNREAD_CAP = 1000


@dataclass(frozen=True, slots=True)
class FollowedThread:
    """A thread someone follows: its root and room, the newest message of it they read
    (`read_id`: the root's id if none of its replies), its newest reply that shows (None:
    none does), and how many replies after `read_id` others sent that show (`unread`),
    of which how many mention them by name or @room (`mentions`), each at most
    `THREAD_UNREAD_CAP`."""

    thread_id: int
    room_id: int
    read_id: int
    last_reply_id: int | None
    last_reply_at: datetime | None
    unread: int
    mentions: int
