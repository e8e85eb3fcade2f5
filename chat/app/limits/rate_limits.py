"""Rate limits: how often one client address, account or user may do something.

Every limit is on by default and configured in the notation the settings have always used
(``CHAT_RATE_MESSAGES="10/second;120/minute"``); ``CHAT_RATE_LIMITS=off`` turns them all
off, for benchmarks and load tests. docs/SECURITY.md lists them with their reasons.

Counting: `chat.core.sliding_window`, an O(1) counter per key and limit whose memory is given
back once a key's windows have passed (`run` sweeps a bounded number of keys per round).
A check is a dictionary look-up with no I/O, so it runs on the Trio thread. Keys are
bounded: one longer than `MAX_KEY_CHARS`, or not ASCII (a name that Unicode
normalisation expanded 18-fold, say), is replaced by its hash (`bounded_key`), so no
client sizes what is kept in memory or sent to the other instances.

Logins: a limit per client address on attempts; failures counted per account *and*
address, so an attacker at one address is stopped after a few guesses at an account
while its owner, elsewhere, is not; and failures per account from every address. Past
that last one the account goes slow for addresses its owner has never logged in from (one
attempt every `SLOW_ACCOUNT_EVERY_S`, shared by all of them); the owner's addresses are
kept in the database by the caller (`chat.app.service`), so every instance spares them. A
failure is counted *before* the password is checked (`reserve_failure`) and taken back if
the password was right (`login_succeeded`): twenty guesses at once cannot all slip in
while the first ones are still being checked, and the other instances only ever hear of
attempts that did fail.

Trusted networks (``CHAT_TRUSTED_NETWORKS``, `chat.core.trusted_networks`): an office
behind one NAT address is many people, so inside a trusted network the limits count
people, not the address: WebSocket connections by user (`before_connection`, then
`user_connected` once the handshake names one), login attempts by address *and* account
(`before_login`), so one person's typos lock out no one else. Each network as a whole is
held to a ceiling, ``CHAT_TRUSTED_NETWORK_MULTIPLIER`` times the per-address limits
(`network_connections`, `network_logins`): a machine inside that misbehaves still cannot
open or guess without limit. A connection that names nobody at its handshake (``?auth=frame``,
the paths that need no token) counts against the ceiling only.

Several instances: each instance counts what it sees, and tells the others what it
counted through the bus (`run`) every `SHARE_EVERY_S`, or at once when a key has used up
its share (below); they add it to their own counts (`on_event`). Until the others have
heard, an instance may count for a key at most its share of each limit (the limit divided
by the live instances, from presence): twenty logins at once on each of two instances get
twenty through in all, not forty. Chat messages are exempt from the share (a pasted burst
of lines must not be refused for the cluster's sake): theirs is late by at most
`SHARE_EVERY_S`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NoReturn

import trio

from chat.core.errors import RateLimited, Unavailable
from chat.core.sliding_window import Limit, WindowCounter, parse_limits
from chat.core.task_failures import TaskFailures
from chat.core.trusted_networks import TrustedNetworks

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from chat.bus.interface import Bus
    from chat.core.config import Config

#: How often an instance tells the others what it counted, at the latest.
SHARE_EVERY_S = 0.5
#: The shortest time between two rounds of sharing, however often keys run out of their
#: share.
SHARE_SETTLE_S = 0.1
#: How long what an instance sent counts against its share: by then the other instances
#: have heard of it (a notification takes milliseconds; this allows for an instance that
#: is too busy to read its bus for a while).
IN_FLIGHT_S = 1.0
#: The type of the bus events that carry counts between instances.
EVENT_TYPE = "rate-hits"
#: A bus event's JSON stays below this (PostgreSQL's NOTIFY takes at most 8000 bytes).
MAX_EVENT_BYTES = 6000
#: An account in slow mode takes one login attempt from unknown addresses this often.
SLOW_ACCOUNT_EVERY_S = 5
#: Keys longer than this, or not ASCII, are counted under their hash (`bounded_key`).
MAX_KEY_CHARS = 64
#: The most expired keys one pass of `sweep` forgets (about a millisecond's work); `run`
#: makes passes until none is left, with a checkpoint between two.
SWEEP_PER_PASS = 1000


def scaled(setting: str, multiplier: int) -> tuple[Limit, ...]:
    """The limits of `setting` ("20/minute;200/hour"), each `multiplier` times larger."""
    if multiplier == 1:
        return parse_limits(setting)
    return tuple(
        Limit(
            limit.amount * multiplier,
            limit.seconds,
            f"{limit.amount * multiplier} per {limit.seconds} seconds",
        )
        for limit in parse_limits(setting)
    )


def bounded_key(key: str) -> str:
    """`key` itself if it is short ASCII, else a 34-character hash of it: what a client
    sends never sizes the memory or the bus events that count it."""
    if len(key) <= MAX_KEY_CHARS and key.isascii():
        return key
    digest = hashlib.blake2b(key.encode("utf-8", "surrogatepass"), digest_size=16)
    return "#" + digest.hexdigest()


@dataclass(frozen=True, slots=True, eq=False)
class Rule:
    """One limited action: its name (part of every shared count), its limits, and what
    the client did too often, for the error message ("login attempts")."""

    name: str
    counters: tuple[WindowCounter, ...]
    what: str
    #: Whether counts not yet shared are held to this instance's share of each limit.
    shared_strictly: bool = True


class RateLimits:
    """Every rate limit of one server, and the task that shares counts in a cluster."""

    def __init__(
        self,
        config: Config,
        *,
        clock: Callable[[], float] = time.monotonic,
        failures: TaskFailures | None = None,
    ) -> None:
        self.enabled = config.rate_limits
        self._failures = failures or TaskFailures()

        #: The trusted networks, whose addresses are counted by user and account.
        self.networks = TrustedNetworks(config.trusted_networks)

        def rule(
            name: str, setting: str, what: str, *, strictly: bool = True, multiplier: int = 1
        ) -> Rule:
            counters = tuple(WindowCounter(limit, clock) for limit in scaled(setting, multiplier))
            return Rule(name, counters, what, strictly)

        self.login = rule("login", config.rate_login, "login attempts from your address")
        self.login_failures = rule(
            "login-failures",
            config.rate_login_failures,
            "failed logins to this account from your address",
        )
        self.account_failures = rule(
            "account-failures", config.rate_account_failures, "failed logins to this account"
        )
        self.slow_account = rule(
            "slow-account",
            f"1 per {SLOW_ACCOUNT_EVERY_S} seconds",
            "login attempts to this account, which is under attack",
        )
        self.register = rule("register", config.rate_register, "registrations from your address")
        self.messages = rule("messages", config.rate_messages, "messages", strictly=False)
        self.connections = rule(
            "connections", config.rate_connections, "connections from your address"
        )
        self.user_connections = rule(
            "user-connections", config.rate_connections, "connections by your account"
        )
        multiplier = config.trusted_network_multiplier
        self.network_logins = rule(
            "network-logins",
            config.rate_login,
            "login attempts from your network",
            multiplier=multiplier,
        )
        self.network_connections = rule(
            "network-connections",
            config.rate_connections,
            "connections from your network",
            multiplier=multiplier,
        )
        self.rooms = rule("rooms", config.rate_rooms, "rooms created")
        self.invites = rule("invites", config.rate_invites, "invitations and new conversations")
        self.uploads = rule("uploads", config.rate_uploads, "file uploads")
        self.searches = rule("searches", config.rate_searches, "searches")
        self.reports = rule("reports", config.rate_reports, "reports")
        self.exports = rule("exports", config.rate_exports, "exports of your data")
        self.emails = rule("emails", config.rate_emails, "mails asked for")
        self.incoming_webhooks = rule(
            "incoming-webhooks", config.rate_incoming_webhooks, "messages to this webhook"
        )
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
                self.user_connections,
                self.network_logins,
                self.network_connections,
                self.rooms,
                self.invites,
                self.uploads,
                self.searches,
                self.reports,
                self.exports,
                self.emails,
                self.incoming_webhooks,
            )
        }
        # Counts for the other instances, by (rule name, key): not sent yet (None: no
        # other instances to tell), and sent within `IN_FLIGHT_S`, by when they were sent
        # (the others may not have heard yet).
        self._unshared: dict[tuple[str, str], int] | None = None
        self._in_flight: deque[tuple[float, dict[tuple[str, str], int]]] = deque()
        # Failed logins counted here before their outcome is known (`reserve_failure`):
        # shared only if they fail, and counted against this instance's share meanwhile.
        self._reserved: dict[tuple[str, str], int] = {}
        self._share_now = trio.Event()  # a key used up its share: share before the round
        self._instances: Callable[[], int] = lambda: 1
        #: Actions refused, by rule name (read by `chat.app.metrics`).
        self.refusals: dict[str, int] = dict.fromkeys(self._rules, 0)

    # --- checks ---

    def hit(self, rule: Rule, key: str, cost: int = 1, *, share: bool = True) -> None:
        """Count one action under `rule` for `key`, or raise `RateLimited` if one of the
        rule's limits is reached. `share=False` counts it here only, for now (a failed
        login reserved before its outcome is known: `reserve_failure`).

        A refused action still counts against the limits it did not reach (a client that
        keeps trying is not let in sooner), but not against this instance's share.
        """
        if not self.enabled:
            return
        key = bounded_key(key)
        refused = [c for c in rule.counters if not c.allows(key, cost)]
        if refused:
            for counter in rule.counters:
                if counter not in refused:
                    counter.add(key, cost)
            raise self._refusal(rule, refused, key, cost)
        if not self._within_share(rule, key, cost):
            # Only until the other instances hear of this one's counts: moments.
            self.refusals[rule.name] += 1
            raise RateLimited(f"too many {rule.what}: try again in 1 s", retry_after=1)
        self._count(rule, key, cost, share)

    def record(self, rule: Rule, key: str, cost: int = 1, *, share: bool = True) -> None:
        """Count an action that has happened, whatever the limit (`share`: as in `hit`)."""
        if self.enabled:
            self._count(rule, bounded_key(key), cost, share)

    def _count(self, rule: Rule, key: str, cost: int, share: bool) -> None:
        for counter in rule.counters:
            counter.add(key, cost)
        if share:
            self._share(rule, key, cost)
        else:
            self._reserved[(rule.name, key)] = self._reserved.get((rule.name, key), 0) + cost

    def reached(self, rule: Rule, key: str) -> bool:
        """Whether one more action of `key` would be refused by a limit. Counts nothing."""
        if not self.enabled:
            return False
        key = bounded_key(key)
        return not all(counter.allows(key) for counter in rule.counters)

    def _refusal(
        self, rule: Rule, refused: list[WindowCounter], key: str, cost: int
    ) -> RateLimited:
        wait = max(counter.seconds_until_allowed(key, cost) for counter in refused)
        seconds = max(1, math.ceil(min(wait, 365 * 86_400)))
        self.refusals[rule.name] += 1
        return RateLimited(f"too many {rule.what}: try again in {seconds} s", retry_after=seconds)

    # --- logins ---

    def before_login(self, address: str, account: str) -> None:
        """Count a login attempt from `address` (its key) at `account` (what the attempt
        names: ``name:<key>``, ``email:<address>``, ``user:<id>``); `RateLimited` past its
        limit. Counted by address, or, in a trusted network, by address and account under
        the network's ceiling."""
        network = self.networks.network_of(address)
        if network is None:
            self.hit(self.login, address)
        else:
            self.hit(self.network_logins, network)
            self.hit(self.login, f"{address}\n{account}")

    # --- connections ---

    def before_connection(self, address: str) -> bool:
        """Count a WebSocket upgrade from `address` (its key); `RateLimited` past its
        limit. True if the address is in a trusted network: it was counted against the
        network's ceiling, and the caller counts it by user (`user_connected`) once the
        handshake says who."""
        network = self.networks.network_of(address)
        if network is None:
            self.hit(self.connections, address)
            return False
        self.hit(self.network_connections, network)
        return True

    def user_connected(self, user_id: int) -> None:
        """Count an upgrade from a trusted network by its user (`before_connection`);
        `RateLimited` past the per-client limit."""
        self.hit(self.user_connections, f"user:{user_id}")

    def under_attack(self, account: str) -> bool:
        """Whether `account` has had so many failed logins that it is in slow mode."""
        return self.reached(self.account_failures, account)

    def slow_down(self, account: str) -> None:
        """One attempt at an account in slow mode, from an address its owner never used:
        `RateLimited` unless none was made in the last `SLOW_ACCOUNT_EVERY_S`."""
        self.hit(self.slow_account, account)

    def reserve_failure(self, account: str, address: str) -> None:
        """Count this attempt as failed before the password is checked, here only:
        `RateLimited` if `address` has used up its failures at `account`. Also counts
        towards the account's failures from every address. The outcome settles it:
        `login_failed` tells the other instances, `login_succeeded` takes it back (so
        they never hear of a failure that was not one)."""
        self.hit(self.login_failures, f"{account}\n{address}", share=False)
        self.record(self.account_failures, account, share=False)

    def login_failed(self, account: str, address: str) -> None:
        """The attempt `reserve_failure` counted failed (or was cut short): tell the
        other instances."""
        self._settle(self.login_failures, f"{account}\n{address}", failed=True)
        self._settle(self.account_failures, account, failed=True)

    def login_succeeded(self, account: str, address: str) -> None:
        """The attempt `reserve_failure` counted succeeded (or was never checked, the
        bcrypt queue being full): take its failure back."""
        self._settle(self.login_failures, f"{account}\n{address}", failed=False)
        self._settle(self.account_failures, account, failed=False)

    def _settle(self, rule: Rule, key: str, *, failed: bool) -> None:
        if not self.enabled:
            return
        key = bounded_key(key)
        reserved = self._reserved.get((rule.name, key), 0) - 1
        if reserved > 0:
            self._reserved[(rule.name, key)] = reserved
        else:
            self._reserved.pop((rule.name, key), None)
        if failed:
            self._share(rule, key, 1)
        else:
            for counter in rule.counters:
                counter.add(key, -1)

    # --- several instances ---

    def _within_share(self, rule: Rule, key: str, cost: int) -> bool:
        """Whether this instance may count `cost` more for `key` before the others have
        heard of what it counted: at most its share (limit / instances) of each limit."""
        if self._unshared is None or not rule.shared_strictly:
            return True
        instances = self._instances()
        if instances <= 1:
            return True
        counted = (
            self._unshared.get((rule.name, key), 0)
            + self._reserved.get((rule.name, key), 0)
            + sum(sent.get((rule.name, key), 0) for _, sent in self._in_flight)
        )
        share = min(max(1, counter.limit.amount // instances) for counter in rule.counters)
        if counted + cost >= share:
            # Used up: tell the others now rather than at the next round, so that what
            # was counted stops counting against the share as soon as it can.
            self._share_now.set()
        return counted + cost <= share

    def _share(self, rule: Rule, key: str, cost: int) -> None:
        """Note counts made here, for `run` to tell the other instances."""
        if self._unshared is not None:
            self._unshared[(rule.name, key)] = self._unshared.get((rule.name, key), 0) + cost

    def on_event(self, event: dict[str, Any]) -> None:
        """Add the counts another instance shared (a bus event of `EVENT_TYPE`). Entries
        that are not a known rule, a bounded key and a small count are skipped."""
        if not self.enabled:
            return
        for entry in event.get("hits", ()):
            try:
                name, key, cost = entry
                rule = self._rules[name]
            except (ValueError, TypeError, KeyError):
                continue  # another version's rule, or garbage: nothing to add
            if not (isinstance(key, str) and bounded_key(key) == key):
                continue
            if isinstance(cost, bool) or not isinstance(cost, int):
                continue
            for counter in rule.counters:
                # Never more than the limit: past it the key is refused anyway.
                amount = counter.limit.amount
                counter.add(key, max(-amount, min(cost, amount)))

    async def run(
        self,
        bus: Bus,
        instances: Callable[[], int] = lambda: 1,
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> NoReturn:
        """Tell the other instances what this one counted, every `SHARE_EVERY_S` or as
        soon as a key has used up its share; forget the keys whose windows have passed.
        `instances` says how many instances are live (this one included). Runs until
        cancelled."""
        self._instances = instances
        if self.enabled:
            self._unshared = {}
        task_status.started()
        while True:
            with trio.move_on_after(SHARE_EVERY_S):
                await self._share_now.wait()
            self._share_now = trio.Event()
            with self._failures.contained("rate-limits", "a round of sharing counts"):
                await self._round(bus)
            await trio.sleep(SHARE_SETTLE_S)

    def sweep(self, most: int = SWEEP_PER_PASS) -> int:
        """Forget up to `most` keys whose windows have passed, over every limit; how many
        were forgotten (0: none is left)."""
        left = most
        for rule in self._rules.values():
            for counter in rule.counters:
                left -= counter.sweep(left)
                if not left:
                    return most
        return most - left

    async def _round(self, bus: Bus) -> None:
        # Passes of bounded length, letting every other task run between two: forgetting
        # 100,000 keys must not hold the Trio thread for the time it takes.
        while self.sweep():
            await trio.lowlevel.checkpoint()
        if self._unshared is None:
            return
        now = trio.current_time()
        while self._in_flight and now - self._in_flight[0][0] >= IN_FLIGHT_S:
            self._in_flight.popleft()  # the others have heard of it by now
        hits = {key: cost for key, cost in self._unshared.items() if cost}
        self._unshared = {}
        if hits:
            self._in_flight.append((now, hits))
        for event in _events(hits):
            try:
                await bus.send_event(event)
            except Unavailable as error:
                # A lost event costs only precision: each instance still counts its
                # own, and the next round's counts go out as usual.
                log.debug("cannot share rate-limit counts: %s", error)


def _events(hits: dict[tuple[str, str], int]) -> list[dict[str, Any]]:
    """`hits` as bus events, each small enough for PostgreSQL's NOTIFY (every key is
    short ASCII: `bounded_key`)."""
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
