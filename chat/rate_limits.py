"""Rate limits: how often one client address, account or user may do something.

Every limit is on by default and configured in the notation of the `limits` library
(``CHAT_RATE_MESSAGES="10/second;120/minute"``); ``CHAT_RATE_LIMITS=off`` turns them all
off, for benchmarks and load tests. docs/SECURITY.md lists them with their reasons.

Counting: `limits`' moving-window strategy over its synchronous in-memory storage. A
check is a few dictionary and list operations with no I/O, so it runs on the Trio thread
without blocking anything (the storage expires old entries from a timer thread of its
own, touching only its own data under its own locks). A moving window means what the
setting says: never more than N in any period of that length.

Logins: a limit per client address on attempts; failures counted per account *and*
address, so an attacker at one address is stopped after a few guesses at an account
while its owner, elsewhere, is not; and failures per account from every address. Past
that last one the account goes slow for addresses that have never logged in to it (one
attempt every `SLOW_ACCOUNT_EVERY_S`, shared by all of them), while addresses it was used
from before are not slowed: a distributed guesser is throttled, the owner not locked out.

Several instances: each instance counts what it sees, and every `SHARE_EVERY_S` tells the
others what it counted, through the bus (`run`); they add it to their own counts
(`on_event`). So a limit holds for the whole chat (a user's messages over all their
connections on every instance), late by at most that interval.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NoReturn

import trio
from limits import RateLimitItem, parse, parse_many
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

from .errors import RateLimited, Unavailable

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from .bus import Bus
    from .config import Config

#: How often an instance tells the others what it counted.
SHARE_EVERY_S = 0.5
#: The type of the bus events that carry counts between instances.
EVENT_TYPE = "rate-hits"
#: A bus event's JSON stays below this (PostgreSQL's NOTIFY takes at most 8000 bytes).
MAX_EVENT_BYTES = 6000
#: An account in slow mode takes one login attempt from unknown addresses this often.
SLOW_ACCOUNT_EVERY_S = 5
#: How many (account, address) pairs that logged in successfully are remembered.
KNOWN_ADDRESSES = 100_000


@dataclass(frozen=True, slots=True)
class Rule:
    """One limited action: its name (part of every counter's key) and its limits."""

    name: str
    items: tuple[RateLimitItem, ...]
    #: What the client did too often, for the error message ("login attempts").
    what: str


class RateLimits:
    """Every rate limit of one server, and the task that shares counts in a cluster."""

    def __init__(self, config: Config) -> None:
        self.enabled = config.rate_limits
        self._limiter = MovingWindowRateLimiter(MemoryStorage())

        def rule(name: str, setting: str, what: str) -> Rule:
            return Rule(name, tuple(parse_many(setting)), what)

        self.login = rule("login", config.rate_login, "login attempts from your address")
        self.login_failures = rule(
            "login-failures", config.rate_login_failures, "failed logins to this account"
        )
        self.account_failures = rule(
            "account-failures", config.rate_account_failures, "failed logins to this account"
        )
        self.slow_account = Rule(
            "slow-account",
            (parse(f"1 per {SLOW_ACCOUNT_EVERY_S} seconds"),),
            "login attempts to this account, which is under attack",
        )
        self.register = rule("register", config.rate_register, "registrations from your address")
        self.messages = rule("messages", config.rate_messages, "messages")
        self.connections = rule(
            "connections", config.rate_connections, "connections from your address"
        )
        self.rooms = rule("rooms", config.rate_rooms, "rooms created")
        self.invites = rule("invites", config.rate_invites, "invitations and new conversations")
        self._rules = {
            r.name: r
            for r in (
                self.login,
                self.login_failures,
                self.account_failures,
                self.slow_account,
                self.register,
                self.messages,
                self.connections,
                self.rooms,
                self.invites,
            )
        }
        # (account, address) pairs that logged in: the owner's addresses, never slowed.
        self._known: OrderedDict[tuple[str, str], None] = OrderedDict()
        # Counts not yet told to the other instances; None: there are none to tell.
        self._unshared: dict[tuple[str, str], int] | None = None
        #: Actions refused, by rule name (read by `chat.metrics`).
        self.refusals: dict[str, int] = dict.fromkeys(self._rules, 0)

    # --- checks ---

    def hit(self, rule: Rule, key: str) -> None:
        """Count one action under `rule` for `key`, or raise `RateLimited` if one of the
        rule's limits is reached.

        One pass, a `hit` per limit (testing every limit first would double the cost of
        the check on the message path): a refused action still counts against the
        limits it did not reach, so a client that keeps trying is not let in sooner.
        """
        if not self.enabled:
            return
        refused = [item for item in rule.items if not self._limiter.hit(item, rule.name, key)]
        if refused:
            wait = self._retry_after(refused, rule, key)
            self.refusals[rule.name] += 1
            raise RateLimited(f"too many {rule.what}: try again in {wait} s", retry_after=wait)
        self._share(rule, key)

    def reached(self, rule: Rule, key: str) -> int | None:
        """Seconds until `key` may act under `rule` again, or None if it may now. Counts
        nothing."""
        if not self.enabled:
            return None
        refused = [item for item in rule.items if not self._limiter.test(item, rule.name, key)]
        return self._retry_after(refused, rule, key) if refused else None

    def record(self, rule: Rule, key: str) -> None:
        """Count an action that has happened, whatever the limit (a failed login)."""
        if self.enabled:
            for item in rule.items:
                self._limiter.hit(item, rule.name, key)
            self._share(rule, key)

    def _share(self, rule: Rule, key: str) -> None:
        """Note one action counted here, for `run` to tell the other instances."""
        if self._unshared is not None:
            self._unshared[(rule.name, key)] = self._unshared.get((rule.name, key), 0) + 1

    def _retry_after(self, items: list[RateLimitItem], rule: Rule, key: str) -> int:
        now = time.time()
        resets = [self._limiter.get_window_stats(i, rule.name, key).reset_time for i in items]
        return max(1, math.ceil(max(resets) - now))

    # --- logins ---

    def before_login(self, account: str, address: str) -> None:
        """Raise `RateLimited` if `address` may not try to log in to `account` now."""
        if not self.enabled:
            return
        self.hit(self.login, address)
        pair = f"{account}\n{address}"
        wait = self.reached(self.login_failures, pair)
        if wait is not None:
            self.refusals[self.login_failures.name] += 1
            raise RateLimited(
                f"too many failed logins to this account from your address: try again in {wait} s",
                retry_after=wait,
            )
        if (account, address) not in self._known and self.reached(self.account_failures, account):
            self.hit(self.slow_account, account)

    def login_failed(self, account: str, address: str) -> None:
        self.record(self.login_failures, f"{account}\n{address}")
        self.record(self.account_failures, account)

    def login_succeeded(self, account: str, address: str) -> None:
        """Remember that `address` is one the account's owner uses."""
        if not self.enabled:
            return
        self._known[(account, address)] = None
        self._known.move_to_end((account, address))
        if len(self._known) > KNOWN_ADDRESSES:
            self._known.popitem(last=False)

    # --- several instances ---

    def on_event(self, event: dict[str, Any]) -> None:
        """Add the counts another instance shared (a bus event of `EVENT_TYPE`)."""
        if not self.enabled:
            return
        for entry in event.get("hits", ()):
            try:
                name, key, cost = entry
                rule = self._rules[name]
            except (ValueError, TypeError, KeyError):
                continue  # another version's rule, or garbage: nothing to add
            if not (isinstance(key, str) and isinstance(cost, int) and cost > 0):
                continue
            for item in rule.items:
                # Up to the limit: past it the key is refused anyway, and `hit` with a
                # cost larger than what is left would add nothing at all.
                left = self._limiter.get_window_stats(item, rule.name, key).remaining
                if left > 0:
                    self._limiter.hit(item, rule.name, key, cost=min(cost, left))

    async def run(
        self, bus: Bus, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> NoReturn:
        """Tell the other instances what this one counted, every `SHARE_EVERY_S`. Runs
        until cancelled (and does nothing with the limits off)."""
        if self.enabled:
            self._unshared = {}
        task_status.started()
        while True:
            await trio.sleep(SHARE_EVERY_S)
            if not self._unshared:
                continue
            hits, self._unshared = self._unshared, {}
            for event in _events(hits):
                try:
                    await bus.send_event(event)
                except Unavailable as error:
                    # A lost event costs only precision: each instance still counts its
                    # own, and the next interval's counts go out as usual.
                    log.debug("cannot share rate-limit counts: %s", error)


def _events(hits: dict[tuple[str, str], int]) -> list[dict[str, Any]]:
    """`hits` as bus events, each small enough for PostgreSQL's NOTIFY."""
    events: list[dict[str, Any]] = []
    batch: list[list[Any]] = []
    size = 0
    for (name, key), cost in hits.items():
        entry = [name, key, cost]
        entry_size = len(json.dumps(entry)) + 1
        if batch and size + entry_size > MAX_EVENT_BYTES:
            events.append({"type": EVENT_TYPE, "hits": batch})
            batch, size = [], 0
        batch.append(entry)
        size += entry_size
    if batch:
        events.append({"type": EVENT_TYPE, "hits": batch})
    return events
