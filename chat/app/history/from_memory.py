"""History from memory: `history N`, `/ws` resumes, the page an ``enter`` carries and
the pages of `GET /messages` (the first, and older, newer and around ones within reach)
answered from the newest messages of active rooms.

The windows (`chat.app.history.windows`) follow the writer's stream (`MessageWriter.follow`):
every message and change committed anywhere in the cluster reaches them in position
order, so a window stays what a read of the table answers. This module opens them, says
when one may answer, and drops them when something happens that the stream does not
carry.

Opening a window (`_fill`, in the task of the request that missed): note P0, the
writer's position, and from then on record the room's published items; read the room's
newest `PER_ROOM` messages (tombstones included), the changes made to the room's
messages since the oldest of them, then the table's newest position Q;
build the window from the read and apply what was recorded. The read may already show
items published after P0, so until the writer has published everything up to Q the
window can be ahead of itself (an older edit re-applied over a newer deletion); changes
commit in position order (`chat.store.changes`), so once the writer reaches Q the
last change applied to each message is the table's. A window answers only from then on
(`RoomWindow.ready_at`); before, and whenever it does not hold enough, the table answers.

An answer from a window holds everything this instance has delivered (the writer
publishes to its followers before the broadcaster delivers), as a read of the table
would; the table may hold more, committed elsewhere and not yet here.

What the stream does not carry, and what happens then:

- names (joined in when messages are read): a rename or an erasure here drops every
  window and tells the other instances (a ``history-forget`` event); events can be
  lost, so each instance also drops every window when its bus (re)connects and when
  the count of erased accounts moves (read every `ERASURE_CHECK_S`: `chat user delete`
  erases without a server, and without a bus);
- retention's row deletions: the room's window is dropped (here and, by the event,
  elsewhere).

Memory: `CHAT_HISTORY_CACHE_MB` bounds what the windows hold (an estimate per message,
`chat.app.history.windows.cost`); 0 turns the cache off. The least recently asked-about rooms
go first.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NoReturn, Protocol

import trio
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from chat.app.history.windows import PER_ROOM, RecentWindows, RoomWindow
from chat.core.records import Change, Message, Room

if TYPE_CHECKING:
    from chat.bus.interface import Bus
    from chat.store.roles import Accounts, Changes, History, Messages

    class CacheStore(Accounts, Changes, History, Messages, Protocol):
        """The roles the cache reads."""


log = logging.getLogger(__name__)

#: The bus event that drops windows on the other instances: ``{"type": EVENT_TYPE}``
#: drops all of them, with ``"RoomID"`` the room's only.
EVENT_TYPE = "history-forget"
#: How often the count of erased accounts is read (an erasure made without a server).
ERASURE_CHECK_S = 5.0
#: The default memory ceiling, in MiB (`CHAT_HISTORY_CACHE_MB`).
DEFAULT_MB = 64


@dataclass
class HistoryFromMemoryStats:
    """Plain counts, read by `chat.app.metrics` at scrape time: answers from a window
    (`hits`) and from the table (`misses`), by kind (``history``, ``resume``, ``page``);
    windows opened, and dropped by why."""

    hits: dict[str, int] = field(default_factory=dict)
    misses: dict[str, int] = field(default_factory=dict)
    fills: int = 0
    #: Windows dropped, by why (`HistoryFromMemoryCollector`).
    forgotten: dict[str, int] = field(default_factory=dict)


class HistoryFromMemory:
    """The windows of one instance, and when they may answer (module docstring)."""

    def __init__(
        self,
        store: CacheStore | None,
        writer_position: Callable[[], int],
        *,
        max_bytes: int = DEFAULT_MB * 1024 * 1024,
        per_room: int = PER_ROOM,
    ) -> None:
        """`writer_position()` is the writer's position (`MessageWriter.position`);
        `max_bytes` 0 (or no store) turns the cache off: every answer from the table."""
        self._store = store
        self._writer_position = writer_position
        self.enabled = max_bytes > 0 and store is not None
        self.recent = RecentWindows(per_room=per_room, max_bytes=max_bytes)
        # The rooms whose window is being read, each with what was published for it
        # since: a forget drops the entry, and the read that finds it gone is discarded.
        self._filling: dict[int, list[Message | Change]] = {}
        self._bus: Bus | None = None
        self._erased: int | None = None  # the count of erased accounts last read
        self.stats = HistoryFromMemoryStats()

    # --- fed by the writer and the events ---

    def offer(self, items: Sequence[tuple[Message | Change, Room]]) -> None:
        """A published batch (a `MessageWriter.follow` follower: never waits)."""
        if self._filling:
            for item, room in items:
                recorded = self._filling.get(room.id)
                if recorded is not None:
                    recorded.append(item)
        self.recent.offer(items)

    def forget_room(self, room_id: int, why: str) -> None:
        """Drop the room's window, and any read of it in flight."""
        held = len(self.recent)
        self.recent.forget_room(room_id)
        self._filling.pop(room_id, None)
        self._count_forget(why, held - len(self.recent))

    def forget_all(self, why: str) -> None:
        """Drop every window, and every read of one in flight."""
        held = len(self.recent)
        self.recent.forget_all()
        self._filling.clear()
        self._count_forget(why, held)

    def bus_woken(self, position: int | None) -> None:
        """The bus's wake-up, seen first (`chat.server.serving`): None means it has just
        (re)connected, so events may have been lost while it was away."""
        if position is None:
            self.forget_all("bus-connected")

    def on_event(self, event: dict[str, Any]) -> None:
        """A ``history-forget`` event from another instance."""
        room_id = event.get("RoomID")
        if isinstance(room_id, int) and not isinstance(room_id, bool):
            self.forget_room(room_id, "event")
        else:
            self.forget_all("event")

    async def names_changed(self) -> None:
        """A rename or an erasure was committed here: drop every window, here and on the
        other instances."""
        self.forget_all("names")
        await self._tell_others({"type": EVENT_TYPE})

    async def messages_expired(self, room_id: int) -> None:
        """Retention deleted messages of the room: drop its window everywhere."""
        self.forget_room(room_id, "expired")
        await self._tell_others({"type": EVENT_TYPE, "RoomID": room_id})

    async def _tell_others(self, event: dict[str, Any]) -> None:
        if self._bus is None:
            return
        try:
            await self._bus.send_event(event)
        except Exception as error:  # the bus is away: its reconnection drops them all
            log.warning("could not tell the other instances to forget history: %s", error)

    def _count_forget(self, why: str, windows: int) -> None:
        if windows:
            self.stats.forgotten[why] = self.stats.forgotten.get(why, 0) + windows

    # --- answers ---

    async def latest(
        self,
        room_id: int,
        count: int,
        *,
        skip_deleted: bool,
        kind: str,
        up_to_id: int | None = None,
    ) -> list[Message] | None:
        """The room's `count` newest messages (with ids up to `up_to_id`, if given),
        oldest first (`History.latest_messages`), from its window; None if the table
        must answer."""
        window = await self._ready_window(room_id)
        found = None
        if window is not None:
            found = window.latest(count, skip_deleted=skip_deleted, up_to_id=up_to_id)
        self._count(kind, found is not None)
        return found

    def latest_now(
        self, room_id: int, count: int, *, skip_deleted: bool, kind: str
    ) -> list[Message] | None:
        """`latest` without waiting: the page if the room's window is open and ready now,
        else None (and nothing counted: the caller then asks `latest`, which counts)."""
        if not self.enabled:
            return None
        window = self._answering(self.recent.window(room_id))
        if window is None:
            return None
        found = window.latest(count, skip_deleted=skip_deleted)
        if found is not None:
            self._count(kind, True)
        return found

    async def after(
        self, room_id: int, after_id: int, count: int, *, kind: str
    ) -> list[Message] | None:
        """The room's `count` messages next after `after_id`, oldest first
        (`History.messages_after`), from its window; None if the table must answer."""
        window = await self._ready_window(room_id)
        found = None if window is None else window.after(after_id, count)
        self._count(kind, found is not None)
        return found

    async def around(
        self, room_id: int, message_id: int, older: int, limit: int
    ) -> tuple[list[Message], list[Message]] | None:
        """A page around `message_id` from the room's window: up to `older` messages up
        to it (the message itself the newest of them, if the room has it) and the
        messages next after it to make `limit`, each part oldest first; None if the table
        must answer."""
        window = await self._ready_window(room_id)
        found = None
        if window is not None:
            through = window.latest(older, skip_deleted=False, up_to_id=message_id)
            if through is not None:
                newer = window.after(message_id, limit - len(through))
                if newer is not None:
                    found = (through, newer)
        self._count("around", found is not None)
        return found

    async def between(
        self, room_id: int, since: int, up_to: int
    ) -> tuple[list[Message], list[Change]] | None:
        """The room's messages and changes with ``since < position <= up_to`` (a resume's
        backlog before its bound), from its window; None if the table must answer."""
        window = await self._ready_window(room_id)
        found = None
        if window is not None:
            messages = window.messages_between(since, up_to)
            changes = window.changes_between(since, up_to)
            if messages is not None and changes is not None:
                found = (messages, changes)
        self._count("resume", found is not None)
        return found

    def _count(self, kind: str, hit: bool) -> None:
        counts = self.stats.hits if hit else self.stats.misses
        counts[kind] = counts.get(kind, 0) + 1

    async def _ready_window(self, room_id: int) -> RoomWindow | None:
        """The room's window if it may answer now; a missing one is opened first (unless
        another request is opening it: that one's answer comes from its read)."""
        if not self.enabled:
            return None
        window = self.recent.window(room_id)
        if window is None and room_id not in self._filling:
            window = await self._fill(room_id)
        return self._answering(window)

    def _answering(self, window: RoomWindow | None) -> RoomWindow | None:
        """`window`, brought up to the writer's position, if it may answer at that
        position (it holds everything published for its room since it opened)."""
        position = self._writer_position()
        if window is None or window.ready_at > position:
            return None
        window.advance(position)
        return window

    async def _fill(self, room_id: int) -> RoomWindow | None:
        """Open the room's window (module docstring); None if it was forgotten while the
        table was read. A read that fails raises, as the table's own answer would."""
        assert self._store is not None, "a cache with no store is off"
        opened_at = self._writer_position()
        # From here every item published for the room is recorded, with no checkpoint
        # between reading the position and registering.
        recorded: list[Message | Change] = []
        self._filling[room_id] = recorded
        per_room = self.recent.per_room
        try:
            newest = await self._store.messages_before(room_id, None, per_room)
            # The changes since the oldest message held (one more than it keeps: then it
            # knows where its record of them starts), so that a resume from before the
            # window opened can be answered too: after a restart or a kill elsewhere,
            # every client resumes from before.
            floor = 0 if len(newest) < per_room else newest[-1].id - 1
            changes = await self._store.room_changes(
                room_id, after=floor, before=None, limit=per_room + 1
            )
            ready_at = await self._store.last_position()
        finally:
            # Cancelled or failed: the entry goes, and nothing half-read stays.
            still_ours = self._filling.get(room_id) is recorded
            if still_ours:
                del self._filling[room_id]
        if not still_ours:
            return None
        self.stats.fills += 1
        return self.recent.open(
            room_id,
            newest,
            through=opened_at,
            then=recorded,
            ready_at=ready_at,
            changes=changes[::-1],
            changes_floor=floor,
        )

    # --- the task ---

    async def run(
        self,
        bus: Bus | None = None,
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> NoReturn:
        """Send the events through `bus` from now on, and read the count of erased
        accounts every `ERASURE_CHECK_S`: a change drops every window. Runs until
        cancelled (a child of the root nursery)."""
        self._bus = bus
        task_status.started()
        while True:
            if self.enabled:
                await self._check_erasures()
            await trio.sleep(ERASURE_CHECK_S)

    async def _check_erasures(self) -> None:
        assert self._store is not None, "a cache with no store is off"
        try:
            erased = await self._store.erased_accounts()
        except Exception as error:  # the database is away: try again at the next check
            log.warning("could not read the count of erased accounts: %s", error)
            return
        if self._erased is not None and erased != self._erased:
            self.forget_all("erasure")
        self._erased = erased


class HistoryFromMemoryCollector(Collector):
    """At scrape time: ``chat_history_cache_answers_total{kind, source}`` (``memory``
    or ``table``), ``chat_history_cache_fills_total``,
    ``chat_history_cache_dropped_total{why}`` (windows dropped: by an event, a rename or
    an erasure, retention, the bus reconnecting; or ``evicted`` for the memory ceiling),
    and the gauges ``chat_history_cache_rooms`` and ``chat_history_cache_bytes``."""

    def __init__(self, cache: HistoryFromMemory) -> None:
        self._cache = cache

    def collect(self) -> Iterator[Metric]:
        stats, recent = self._cache.stats, self._cache.recent
        answers = CounterMetricFamily(
            "chat_history_cache_answers",
            "History, resume and first-page answers, by kind and by where they came from.",
            labels=["kind", "source"],
        )
        for source, counts in (("memory", stats.hits), ("table", stats.misses)):
            for kind, count in sorted(counts.items()):
                answers.add_metric([kind, source], count)
        yield answers
        yield CounterMetricFamily(
            "chat_history_cache_fills", "Rooms' windows read from the table.", value=stats.fills
        )
        dropped = CounterMetricFamily(
            "chat_history_cache_dropped",
            "Windows dropped, by why (evicted: the memory ceiling or the room count).",
            labels=["why"],
        )
        for why, count in sorted({**stats.forgotten, "evicted": recent.evictions}.items()):
            dropped.add_metric([why], count)
        yield dropped
        yield GaugeMetricFamily(
            "chat_history_cache_rooms", "Rooms with a window in memory.", value=len(recent)
        )
        yield GaugeMetricFamily(
            "chat_history_cache_bytes",
            "What the windows hold, in bytes (an estimate: chat.app.history.windows.cost).",
            value=recent.bytes,
        )
