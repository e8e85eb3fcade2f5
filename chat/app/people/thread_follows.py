"""Who follows the threads replied in lately, as this instance knows it, so that a
thread reply's followers are found without a read of the database per batch
(`chat.app.people.activity`).

Each thread's follow states are read once (`Threads.thread_follows`: its root's author
and every user's choice) and then kept up to date from the replies published here, in
the stream's order, by the store's own rule (`ThreadFollows.follows_after`). A choice
made through the API (follow, unfollow) is the one change the stream does not show: the
instance that stores it forgets the thread at once and tells the others (a
``thread-follows`` event), which forget it too. An event may be lost, so every thread is
also read again once it has been known for `MAX_AGE_S`. At most `MAX_THREADS` threads are
kept, the one replied in least recently going first.

Ownership: one task reads and applies (`followers_after`: the activity's loader of
followers); requests (`chose`) and the bus's task (`on_event`) only forget, which never
waits.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING, Any, Protocol

import trio

from chat.bus.interface import tell_others
from chat.core.records import Message
from chat.core.thread_records import ThreadFollows

if TYPE_CHECKING:
    from chat.bus.interface import Bus

log = logging.getLogger(__name__)

#: The type of the bus event that says a thread's follows changed by someone's choice.
THREAD_FOLLOWS_EVENT = "thread-follows"
#: How long a thread's states are trusted before they are read again (a lost event).
MAX_AGE_S = 60.0
#: The most threads whose states are kept.
MAX_THREADS = 10_000


class FollowsStore(Protocol):
    async def thread_follows(self, thread_ids: Collection[int]) -> dict[int, ThreadFollows]: ...


class KnownFollows:
    """The follow states of threads replied in lately, by root id."""

    def __init__(
        self,
        store: FollowsStore,
        bus: Bus | None = None,
        *,
        max_age_s: float = MAX_AGE_S,
        max_threads: int = MAX_THREADS,
    ) -> None:
        self._store = store
        self._bus = bus
        self._max_age_s = max_age_s
        self._max_threads = max_threads
        #: Root id -> (its states, when they were read), least recently replied in first.
        self._known: OrderedDict[int, tuple[ThreadFollows, float]] = OrderedDict()
        #: While a read is under way: the threads forgotten meanwhile, whose states as
        #: read may be older than the choice (not kept).
        self._forgotten_while_reading: set[int] | None = None

    def __len__(self) -> int:
        return len(self._known)

    async def followers_after(self, replies: Sequence[Message]) -> list[frozenset[int]]:
        """For each of `replies` (stored and published, in stream order), who follows its
        thread once it is stored: one read for the threads not known (or known too
        long), none when all are. A thread whose root is gone has nobody."""
        now = trio.current_time()
        threads = {reply.thread_id for reply in replies if reply.thread_id is not None}
        follows = {thread: self._known[thread][0] for thread in threads if self._fresh(thread, now)}
        unknown = threads - follows.keys()
        forgotten: set[int] = set()
        if unknown:
            self._forgotten_while_reading = set()
            try:
                read = await self._store.thread_follows(unknown)
            finally:
                forgotten, self._forgotten_while_reading = self._forgotten_while_reading, None
            follows.update(read)
        answers: list[frozenset[int]] = []
        for reply in replies:
            thread = reply.thread_id
            known = None if thread is None else follows.get(thread)
            if thread is None or known is None:
                answers.append(frozenset())
                continue
            follows[thread] = known = known.follows_after(reply)
            answers.append(known.followers)
        for thread, known in follows.items():
            if thread in forgotten:
                continue
            read_at = now if thread in unknown else self._known[thread][1]
            self._known[thread] = (known, read_at)
            self._known.move_to_end(thread)
        while len(self._known) > self._max_threads:
            self._known.popitem(last=False)
        return answers

    def _fresh(self, thread: int, now: float) -> bool:
        entry = self._known.get(thread)
        return entry is not None and now - entry[1] < self._max_age_s

    def forget(self, thread_id: int) -> None:
        """Thread `thread_id`'s follows changed by a choice: read them again when needed."""
        self._known.pop(thread_id, None)
        if self._forgotten_while_reading is not None:
            self._forgotten_while_reading.add(thread_id)

    async def chose(self, thread_id: int) -> None:
        """Someone followed or unfollowed thread `thread_id` through this instance (the
        choice is stored): forget it here, and tell the other instances (best effort,
        bounded: a lost event costs them at most `MAX_AGE_S` of old states)."""
        self.forget(thread_id)
        if self._bus is not None:
            event = {"type": THREAD_FOLLOWS_EVENT, "ThreadID": thread_id}
            await tell_others(self._bus, event, what=f"a follow of thread {thread_id}")

    def on_event(self, event: dict[str, Any]) -> None:
        """A ``thread-follows`` event from another instance."""
        thread_id = event.get("ThreadID")
        if isinstance(thread_id, int) and not isinstance(thread_id, bool):
            self.forget(thread_id)
        else:
            log.warning("thread-follows event without a ThreadID ignored")
