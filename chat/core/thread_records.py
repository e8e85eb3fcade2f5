"""What a person has of a thread beyond its messages: whether they follow it, and what
of it they have not read (`GET /threads/unread`); and how a commit's new replies change
their threads' summaries (the stores' rule, and their in-memory double's)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from functools import cached_property

from chat.core.records import MAX_THREAD_PARTICIPANTS, Added, Change, Message, ThreadSummary

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


def summary_with_replies(before: ThreadSummary | None, replies: Sequence[Message]) -> ThreadSummary:
    """A thread's summary once `replies` (new, in id order, at least one) are added to it:
    their senders join the participants in the order they first replied, up to the cap."""
    participants = list(before.participants) if before else []
    for reply in replies:
        if reply.sender_id not in participants and len(participants) < MAX_THREAD_PARTICIPANTS:
            participants.append(reply.sender_id)
    return ThreadSummary(
        replies=(before.replies if before else 0) + len(replies),
        last_reply_at=replies[-1].created_at,
        participants=tuple(participants),
    )


def with_thread_changes(added: Sequence[Added], changes: Mapping[int, Change]) -> list[Added]:
    """`added`, each thread's change (root id -> `THREAD` change) carried by the batch's
    newest new reply in it, so that it is published right after that reply."""
    newest = {
        item.message.thread_id: item.message.id
        for item in added
        if item.new and item.message.thread_id is not None
    }
    return [
        replace(item, thread_change=changes[thread_id])
        if item.new
        and (thread_id := item.message.thread_id) is not None
        and newest[thread_id] == item.message.id
        and thread_id in changes
        else item
        for item in added
    ]
