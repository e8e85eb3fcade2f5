"""The sliding-window counter behind every rate limit (chat/core/sliding_window.py), on a clock
of the test's own: the notation, the weighted count, taking counts back, when a refused key
may act again, and memory given back once windows pass."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from chat.app.limits.rate_limits import SWEEP_PER_PASS
from chat.core.sliding_window import Limit, WindowCounter, parse_limits


class Clock:
    """Time that moves only when the test says so."""

    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def counter(text: str, clock: Clock) -> WindowCounter:
    (limit,) = parse_limits(text)
    return WindowCounter(limit, clock)


# --- the notation ---


def test_the_notation_of_the_settings_parses_into_amounts_and_seconds() -> None:
    assert parse_limits("10/second;120/minute") == (
        Limit(10, 1, "10/second"),
        Limit(120, 60, "120/minute"),
    )
    assert parse_limits("5 per 15 minutes") == (Limit(5, 900, "5 per 15 minutes"),)
    assert parse_limits("50/hour, 2 per day") == (
        Limit(50, 3600, "50/hour"),
        Limit(2, 86_400, "2 per day"),
    )


@pytest.mark.parametrize("text", ["lots", "", "10", "0/minute", "5 per 0 minutes", "5/fortnight"])
def test_anything_else_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="not a limit"):
        parse_limits(text)


# --- counting ---


def test_a_key_is_allowed_up_to_the_limit_within_a_window() -> None:
    clock = Clock(60_000.0)  # the start of a minute
    minute = counter("3/minute", clock)
    for _ in range(3):
        assert minute.allows("k")
        minute.add("k")
    assert not minute.allows("k")
    assert minute.allows("other")


def test_the_previous_window_counts_for_the_part_of_it_still_inside_the_period() -> None:
    clock = Clock(60_000.0)
    minute = counter("4/minute", clock)
    for _ in range(4):
        minute.add("k")
    clock.now += 60 + 15  # a quarter into the next window: 3/4 of the last one counts
    assert minute.count("k") == pytest.approx(3.0)
    assert minute.allows("k")
    minute.add("k")
    assert not minute.allows("k")
    clock.now += 15  # half way: 2 + 1
    assert minute.count("k") == pytest.approx(3.0)


def test_a_key_unheard_of_for_two_windows_counts_nothing() -> None:
    clock = Clock(60_000.0)
    minute = counter("1/minute", clock)
    minute.add("k")
    clock.now += 120
    assert minute.count("k") == 0
    assert minute.allows("k")


def test_a_negative_cost_takes_back_what_was_counted_and_never_goes_below_zero() -> None:
    clock = Clock(60_000.0)
    minute = counter("2/minute", clock)
    minute.add("k")
    minute.add("k")
    minute.add("k", -1)
    assert minute.count("k") == 1
    minute.add("k", -5)
    assert minute.count("k") == 0
    minute.add("never counted", -1)
    assert len(minute) == 0


def test_taking_back_just_after_the_window_turned_takes_from_the_previous_window() -> None:
    clock = Clock(60_059.0)
    minute = counter("1/minute", clock)
    minute.add("k")  # an attempt begins in one window...
    clock.now += 2
    minute.add("k", -1)  # ...and succeeds in the next
    assert minute.count("k") == 0


@pytest.mark.parametrize("start", [0.0, 7.5, 30.0, 59.0])
@pytest.mark.parametrize("actions", [1, 3, 5])
def test_a_refused_key_is_allowed_again_exactly_when_seconds_until_allowed_says(
    start: float, actions: int
) -> None:
    clock = Clock(60_000.0 + start)
    minute = counter("5/minute", clock)
    for _ in range(actions):
        minute.add("k")
    clock.now += 5
    for _ in range(5 - actions):
        minute.add("k")
    assert not minute.allows("k")
    wait = minute.seconds_until_allowed("k")
    assert wait > 0
    clock.now += wait - 0.01
    assert not minute.allows("k")
    clock.now += 0.02
    assert minute.allows("k")
    assert minute.seconds_until_allowed("k") == 0


def test_more_than_the_limit_at_once_is_never_allowed() -> None:
    minute = counter("2/minute", Clock())
    assert not minute.allows("k", 3)
    assert minute.seconds_until_allowed("k", 3) == float("inf")


# --- memory ---


def test_keys_of_windows_that_passed_are_forgotten_a_bounded_number_per_sweep() -> None:
    clock = Clock(60_000.0)
    minute = counter("5/minute", clock)
    for n in range(10_000):
        minute.add(f"key {n}")
    clock.now += 120
    swept = []
    while (forgotten := minute.sweep(1000)) or not swept:
        swept.append(forgotten)
    assert max(swept) <= 1000
    assert sum(swept) == 10_000
    assert minute.sweep(1000) == 0


def test_100000_distinct_failed_logins_give_their_memory_back_after_the_window() -> None:
    """Measured in a process of its own, through the rate limits a login goes through:
    resident memory after the windows have passed and the sweeps have run is back near
    where it started (the dicts are freed whole, not just emptied)."""
    script = textwrap.dedent(
        """
        import gc, json
        from chat.core.config import Config
        from chat.app.limits.rate_limits import RateLimits

        def rss_mib():
            with open("/proc/self/statm") as statm:
                return int(statm.read().split()[1]) * 4096 / 2**20

        now = [1_000_000.0]
        limits = RateLimits(Config(rate_limits=True), clock=lambda: now[0])
        gc.collect()
        start = rss_mib()
        for n in range(100_000):
            address = f"10.{n >> 16}.{(n >> 8) & 255}.{n & 255}"
            limits.before_login(address, f"name:user-{n}")
            limits.reserve_failure(f"name:user-{n}", address)
            limits.login_failed(f"name:user-{n}", address)
        full = rss_mib()
        now[0] += 2 * 3600 + 1  # past the longest window of every login limit, twice
        most = 0
        while True:
            forgotten = limits.sweep()
            most = max(most, forgotten)
            if not forgotten:
                break
        gc.collect()
        keys = sum(len(c) for rule in limits._rules.values() for c in rule.counters)
        print(json.dumps({"start": start, "full": full, "after": rss_mib(),
                          "keys": keys, "most": most}))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=120
    )
    measured = json.loads(result.stdout.strip().splitlines()[-1])
    grew = measured["full"] - measured["start"]
    assert grew > 10, measured  # the logins did take memory
    assert measured["keys"] == 0, measured
    assert measured["most"] <= SWEEP_PER_PASS, measured  # each pass bounded
    # Back near the start: at most a tenth of what the logins took is still held.
    assert measured["after"] - measured["start"] < grew / 10, measured
