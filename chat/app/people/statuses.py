"""`Statuses`: users' statuses ("🌴 On holiday", away, do not disturb), set and cleared by
their owners, told to everyone, and ended when their time passes, on every instance.

Who is told: everyone who shares a room with the user, which is everyone (every user is
a member of the lobby), so a ``{"Type": "status", "UID", "Status"}`` frame goes to every
room-protocol connection (`chat.app.people.user_notices`' `deliver_to_everyone`), here
and, by a `STATUS_EVENT` on the bus, on every other instance.

The table is the truth (`chat.store.statuses`); each instance keeps the statuses in
force in memory (`_known`, one entry per user who has one), so that presence frames and
the pusher read them without a query. `run` loads them at start, reloads them every
`RESYNC_S` (a lost bus event costs at most that long; what changed is told as if it had
just happened), and ends each status whose ``until`` passes: every instance drops it
from its memory and tells its own connections (no bus event needed: each has the same
``until``), and sweeps the table (`clear_expired`; the rows are ended already for every
read, so the sweep is housekeeping, and idempotent). A status's end is thus told by a
timer of each instance's one task, which a restart or another instance agrees with.

Ownership: `_known` is changed only by synchronous methods (`_apply`), so a cancellation
cannot leave it half-changed; `run` owns the timer and is a child of the root nursery.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, NoReturn

import trio

from chat.bus.interface import tell_others
from chat.core.errors import Gone, RateLimited, Unavailable
from chat.core.sliding_window import Limit, WindowCounter
from chat.core.statuses import PRESENCES, UserStatus, status_frame, status_json
from chat.core.task_failures import TaskFailures

if TYPE_CHECKING:
    from chat.bus.interface import Bus
    from chat.core.records import Identity
    from chat.store import Statuses as StatusStore

log = logging.getLogger(__name__)

#: The type of the bus event that tells the other instances a status changed.
STATUS_EVENT = "user-status"
#: How often each instance reads every status in force again.
RESYNC_S = 60.0
#: How many times one user may set or clear their status (per instance): each change is
#: a frame to every connection of the chat, so it is held to a person's pace.
CHANGES_LIMIT = Limit(10, 60, "10/minute")


def now_utc() -> datetime:
    return datetime.now(UTC)


class Statuses:
    """The statuses in force, as this instance knows them, and the task that ends them."""

    def __init__(
        self,
        store: StatusStore,
        bus: Bus,
        *,
        failures: TaskFailures | None = None,
        resync_s: float = RESYNC_S,
    ) -> None:
        self._store = store
        self._bus = bus
        self._failures = failures or TaskFailures()
        self._resync_s = resync_s
        self._known: dict[int, UserStatus] = {}
        #: Wakes `run`: a status with an ``until`` was set (it may end first).
        self._changed = trio.Event()
        self._tell_frame: Callable[[dict[str, Any]], None] = lambda _frame: None
        self._followers: list[Callable[[int], None]] = []
        self._changes = WindowCounter(CHANGES_LIMIT)

    def tell_with(self, deliver_to_everyone: Callable[[dict[str, Any]], None]) -> None:
        """Offer each ``status`` frame with `deliver_to_everyone` (this instance's
        connections; it must not wait)."""
        self._tell_frame = deliver_to_everyone

    def follow(self, changed: Callable[[int], None]) -> None:
        """Call `changed(user_id)` whenever a user's status changes here (presence
        re-encodes them). It must not wait."""
        self._followers.append(changed)

    # --- reads, without a query ---

    def in_force(self, user_id: int) -> UserStatus | None:
        """The user's status as this instance knows it, None once its time has passed."""
        status = self._known.get(user_id)
        if status is None or not status.in_force(now_utc()):
            return None
        return status

    def shown(self, user_id: int) -> dict[str, Any] | None:
        """`in_force` as frames show it (presence's)."""
        return status_json(self.in_force(user_id))

    def do_not_disturb(self, user_id: int) -> bool:
        """Whether the user asked not to be disturbed (no pushes) and that holds now."""
        status = self.in_force(user_id)
        return status is not None and status.presence == "dnd"

    async def status_of(self, user_id: int) -> UserStatus | None:
        """The user's status as the table has it now (a profile's)."""
        return await self._store.status_of(user_id, now_utc())

    # --- changes, by their owners ---

    async def set(self, identity: Identity, status: UserStatus) -> UserStatus:
        """Set the caller's status (`chat.core.statuses.status_from_fields` checked it),
        and tell everyone."""
        self._count_change(identity.user_id)
        if not await self._store.set_status(identity.user_id, status):
            raise Gone("your account")
        await self._changed_here(identity.user_id, status)
        return status

    async def clear(self, identity: Identity) -> None:
        """Clear the caller's status (nothing to tell if they had none)."""
        self._count_change(identity.user_id)
        if await self._store.clear_status(identity.user_id):
            await self._changed_here(identity.user_id, None)

    def _count_change(self, user_id: int) -> None:
        """One more change of `user_id`'s status, or `RateLimited` past `CHANGES_LIMIT`."""
        key = str(user_id)
        if not self._changes.allows(key):
            wait = math.ceil(self._changes.seconds_until_allowed(key))
            raise RateLimited(
                f"too many status changes: at most {CHANGES_LIMIT.text}", retry_after=wait
            )
        self._changes.add(key)

    async def _changed_here(self, user_id: int, status: UserStatus | None) -> None:
        self._apply(user_id, status)
        event = {"type": STATUS_EVENT, "user_id": user_id, "status": status_json(status)}
        await tell_others(self._bus, event, what=f"user {user_id}'s status")

    def on_event(self, event: dict[str, Any]) -> None:
        """A `STATUS_EVENT` from another instance. Malformed ones (another version's) are
        ignored; the next resync repairs whatever they would have said."""
        user_id = event.get("user_id")
        if not isinstance(user_id, int) or isinstance(user_id, bool):
            return
        fields = event.get("status")
        if fields is None:
            self._apply(user_id, None)
            return
        status = _status_from_event(fields)
        if status is not None:
            self._apply(user_id, status)

    def _apply(self, user_id: int, status: UserStatus | None) -> None:
        """`user_id`'s status is `status` from now on: remembered, and told to this
        instance's connections if that changes what they were told. Never waits."""
        before = self.in_force(user_id)
        if status is None or not status.in_force(now_utc()):
            self._known.pop(user_id, None)
            status = None
        else:
            self._known[user_id] = status
            if status.until is not None:
                self._changed.set()
        if status_json(before) == status_json(status):  # what the connections were told
            return
        for changed in self._followers:
            changed(user_id)
        self._tell_frame(status_frame(user_id, status))

    # --- the task ---

    async def run(
        self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> NoReturn:
        """Load the statuses in force, end each when its time passes, and read them all
        again every `resync_s`. Runs until cancelled."""
        with self._failures.contained("statuses", "reading the statuses in force"):
            self._known = await self._store.statuses_in_force(now_utc())
        task_status.started()
        next_resync = trio.current_time() + self._resync_s
        while True:
            self._changed = trio.Event()
            wait = min(self._next_end_in(), next_resync - trio.current_time())
            with trio.move_on_after(max(0.0, wait)):
                await self._changed.wait()
            # No await from here to the sweep's query: what ends is decided at one time.
            ended = self._end_due()
            if ended:
                with self._failures.contained("statuses", "sweeping ended statuses"):
                    await self._sweep()
            if trio.current_time() >= next_resync:
                next_resync = trio.current_time() + self._resync_s
                with self._failures.contained("statuses", "reading the statuses again"):
                    await self._resync()

    def _next_end_in(self) -> float:
        """Seconds until the first known status ends (infinity if none will)."""
        ends = [s.until for s in self._known.values() if s.until is not None]
        if not ends:
            return math.inf
        return (min(ends) - now_utc()).total_seconds()

    def _end_due(self) -> list[int]:
        """End every known status whose time has passed, telling this instance's
        connections; whose they were."""
        now = now_utc()
        ended = [uid for uid, s in self._known.items() if not s.in_force(now)]
        for user_id in ended:
            self._known.pop(user_id, None)
            for changed in self._followers:
                changed(user_id)
            self._tell_frame(status_frame(user_id, None))
        return ended

    async def _sweep(self) -> None:
        try:
            swept = await self._store.clear_expired(now_utc())
        except Unavailable as error:
            log.debug("ended statuses not swept yet: %s", error)  # the next end sweeps them
            return
        if swept:
            log.debug("swept %d ended statuses", len(swept))

    async def _resync(self) -> None:
        """Read every status in force again, and tell what differs from what this
        instance knew (a bus event it missed)."""
        self._changes.sweep(1000)  # the counts of windows gone, a bounded part a pass
        fresh = await self._store.statuses_in_force(now_utc())
        for user_id in set(self._known) | set(fresh):
            if self._known.get(user_id) != fresh.get(user_id):
                self._apply(user_id, fresh.get(user_id))


def _status_from_event(fields: object) -> UserStatus | None:
    """A status as `status_json` put it on the bus; None if it is not one."""
    if not isinstance(fields, dict):
        return None
    emoji, text, presence, until = (fields.get(k) for k in ("Emoji", "Text", "Presence", "Until"))
    if not (isinstance(emoji, str) and isinstance(text, str) and presence in PRESENCES):
        return None
    try:
        ends = None if until is None else datetime.fromisoformat(str(until))
    except ValueError:
        return None
    if ends is not None and ends.tzinfo is None:
        return None
    return UserStatus(emoji[:64], text[:200], str(presence), ends, now_utc())
