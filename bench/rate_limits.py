"""Rate-limit counting beside the `limits` library, in one run: the cost of a check, the
memory of 100,000 distinct failed logins, the memory left once their windows have passed,
and the longest pass of the sweeps that give it back (the targets: memory back
near its start, no pass over 5 ms).

    pip install '.[bench]' && python bench/rate_limits.py

Each side runs in a process of its own, so one's memory cannot flatter or burden the
other's. The clock is the script's own: the windows pass without waiting for them.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import textwrap

LOGINS = 100_000
CHECKS = 200_000

OURS = textwrap.dedent(
    """
    import gc, json, time
    from chat.core.config import Config
    from chat.app.limits.rate_limits import RateLimits

    def rss_mib():
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * 4096 / 2**20

    now = [1_000_000.0]
    limits = RateLimits(Config(rate_limits=True, rate_messages="1000000/second;100000000/minute"),
                        clock=lambda: now[0])
    started = time.perf_counter()
    for n in range(CHECKS):
        limits.hit(limits.messages, str(n % 1000))
        now[0] += 0.0001
    check_us = (time.perf_counter() - started) / CHECKS * 1e6
    gc.collect()
    start = rss_mib()
    for n in range(LOGINS):
        address = f"10.{n >> 16}.{(n >> 8) & 255}.{n & 255}"
        limits.before_login(address)
        limits.reserve_failure(f"name:user-{n}", address)
        limits.login_failed(f"name:user-{n}", address)
    full = rss_mib()
    now[0] += 2 * 3600 + 1
    longest = 0.0
    while True:
        began = time.perf_counter()
        forgotten = limits.sweep()
        longest = max(longest, time.perf_counter() - began)
        if not forgotten:
            break
    gc.collect()
    print(json.dumps({"check_us": check_us, "start": start, "full": full,
                      "after": rss_mib(), "longest_pass_ms": longest * 1e3}))
    """
)

PEER = textwrap.dedent(
    """
    import gc, json, time
    from limits import parse, parse_many
    from limits.storage import MemoryStorage
    from limits.strategies import MovingWindowRateLimiter

    def rss_mib():
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * 4096 / 2**20

    storage = MemoryStorage()
    limiter = MovingWindowRateLimiter(storage)
    messages = parse_many("1000000/second;100000000/minute")
    started = time.perf_counter()
    for n in range(CHECKS):
        for item in messages:
            limiter.hit(item, "messages", str(n % 1000))
    check_us = (time.perf_counter() - started) / CHECKS * 1e6
    storage.reset()
    gc.collect()
    start = rss_mib()
    login = parse_many("20/minute;200/hour")
    failures, account = parse("5 per 15 minutes"), parse("50/hour")
    for n in range(LOGINS):
        address = f"10.{n >> 16}.{(n >> 8) & 255}.{n & 255}"
        for item in login:
            limiter.hit(item, "login", address)
        limiter.hit(failures, "login-failures", f"name:user-{n}\\n{address}")
        limiter.hit(account, "account-failures", f"name:user-{n}")
    full = rss_mib()
    # The library expires entries from a timer thread once their window has passed; its
    # clock is the real one, so this side cannot skip two hours: it reports what it holds.
    gc.collect()
    print(json.dumps({"check_us": check_us, "start": start, "full": full,
                      "after": None, "longest_pass_ms": None}))
    """
)


def measure(script: str) -> dict[str, float | None]:
    code = f"CHECKS = {CHECKS}\nLOGINS = {LOGINS}\n" + script
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=600
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    argparse.ArgumentParser(description=__doc__).parse_args()
    rows = [("chat (sliding window)", measure(OURS))]
    try:
        rows.append(("limits (moving window)", measure(PEER)))
    except subprocess.CalledProcessError as error:
        print(f"the peer did not run (pip install '.[bench]' installs it): {error.stderr}")
    print(
        f"{'':24} {'check (us)':>10} {'100k logins (MiB)':>18} "
        f"{'after (MiB)':>12} {'longest pass (ms)':>18}"
    )
    for name, figures in rows:
        grew = figures["full"] - figures["start"]
        after = "-" if figures["after"] is None else f"{figures['after'] - figures['start']:.1f}"
        longest = "-" if figures["longest_pass_ms"] is None else f"{figures['longest_pass_ms']:.2f}"
        print(f"{name:24} {figures['check_us']:>10.2f} {grew:>18.1f} {after:>12} {longest:>18}")


if __name__ == "__main__":
    main()
