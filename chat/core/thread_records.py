"""What a person has of a thread beyond its messages: whether they follow it, and what
of it they have not read (`GET /threads/unread`); and how replies counted change a
thread's summary (the stores' rule, and their in-memory double's)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property

from chat.core.records import MAX_THREAD_PARTICIPANTS, Message, ThreadSummary

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


@dataclass(frozen=True)
class ThreadFollows:
    """Who has chosen what about following a thread, as stored: its root's author, and
    each user with a row (True: follows; False: chose not to; None: a read marker only,
    no choice). `follows_after` applies a new reply the way the store does."""

    author_id: int
    states: Mapping[int, bool | None]

    def follows_after(self, reply: Message) -> ThreadFollows:
        """The states once `reply` is stored: its sender follows (replying follows again,
        even after unfollowing); the root's author and those it mentions follow unless
        they chose not to (`chat.store.threads.remember_followers`). Itself when the
        reply changes nothing, as most replies of a long thread do: no copy of its
        states per reply."""
        states = self.states
        changed: dict[int, bool | None] = {}
        if states.get(reply.sender_id) is not True:
            changed[reply.sender_id] = True
        for named in (*reply.mentions, self.author_id):
            if named != reply.sender_id and states.get(named) is None:
                changed[named] = True
        if not changed:
            return self
        return ThreadFollows(self.author_id, {**states, **changed})

    @cached_property
    def followers(self) -> frozenset[int]:
        """Who follows: read once per states (each reply's fan-out asks)."""
        return frozenset(user_id for user_id, following in self.states.items() if following)


def summary_with_repliers(
    before: ThreadSummary | None,
    *,
    replies: int,
    last_reply_at: datetime | None,
    repliers: Sequence[int],
) -> ThreadSummary:
    """A thread's summary once `replies` more replies that show are counted (the newest
    sent at `last_reply_at`, None if none shows), by `repliers` in the order each first
    replied: they join the participants after those already named, up to the cap."""
    participants = list(before.participants) if before else []
    for uid in repliers:
        if uid not in participants and len(participants) < MAX_THREAD_PARTICIPANTS:
            participants.append(uid)
    return ThreadSummary(
        replies=(before.replies if before else 0) + replies,
        last_reply_at=last_reply_at or (before.last_reply_at if before else None),
        participants=tuple(participants),
    )
