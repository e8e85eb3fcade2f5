"""Two versions of the code under the same load at the same time: their CPU a message.

The machines here change speed by half within a day (the peer's fanout-100 moved from
122,820 to 80,042 deliveries a second between a morning and an afternoon), so runs one
after the other compare the machine as much as the code. This runs both versions at
once instead: a `chat serve` from each checkout, both on the server's CPU, each under
its own load generator at the same fixed rate (`low-rate` by default: 10 receivers, one
sender at 300 messages a second), and compares the server CPU each used for the same
messages over the same seconds. Rounds swap which starts first; the figure is the median
of the rounds' ratios (B over A).

    python bench/same_time.py --code /tmp/before,~/chat [--backend postgres] [--rounds 4]

Each checkout is put first on the servers' PYTHONPATH (a `git worktree` of a revision
will do). bench/README.md, "Comparing two versions of the code".
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import tempfile
import threading
from pathlib import Path

from message_runs import fanout
from scenarios import LOW_RATE
from targets import build_loadgen, chat_target, postgres_schema, tokens_for


def round_of(codes: list[str], a: argparse.Namespace, loadgen: Path, tmp: Path) -> list[float]:
    """One round: both servers started, loaded together; each one's server CPU (us) a
    message sent, in the order of `codes`."""
    # The load each server gets: run.py's low-rate scenario, shorter.
    low = {**LOW_RATE, "seconds": a.seconds}
    with contextlib.ExitStack() as stack:
        targets = []
        for i, code in enumerate(codes):
            url = None
            if a.backend == "postgres":
                url, _database = stack.enter_context(postgres_schema(a.database_url))
            target = chat_target(tmp, a.backend, url, label=f"chat-{i}")
            target.env["PYTHONPATH"] = str(Path(code).expanduser())
            target.start()
            stack.callback(target.stop)
            targets.append((target, tokens_for(target, low["receivers"] + low["senders"], tmp)))
        per_message: list[float] = [0.0] * len(targets)

        def load(i: int) -> None:
            target, tokens = targets[i]
            result = fanout(target, loadgen, tokens, low)
            if result.get("lost"):
                raise RuntimeError(f"{codes[i]}: {result['lost']} messages lost")
            per_message[i] = result["server_cpu_seconds"] * 1e6 / max(1, result["sent"])

        # A thread each: the two loads run at once (each load generator is a process).
        loads = [threading.Thread(target=load, args=(i,)) for i in range(len(targets))]
        for thread in loads:
            thread.start()
        for thread in loads:
            thread.join()
        return per_message


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--code", required=True, help="two checkouts: A,B")
    parser.add_argument("--backend", default="sqlite", choices=("sqlite", "postgres"))
    parser.add_argument("--database-url", default="postgresql://postgres@127.0.0.1/test")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--seconds", type=int, default=30, help="length of each load")
    a = parser.parse_args()
    codes = a.code.split(",")
    if len(codes) != 2:
        parser.error("--code takes two checkouts, A,B")
    loadgen = build_loadgen()
    ratios = []
    with tempfile.TemporaryDirectory(prefix="chat-same-time-") as tmp:
        for n in range(a.rounds):
            # Each goes first in every other round (the same checkout twice measures noise).
            flipped = n % 2 == 1
            order = codes[::-1] if flipped else codes
            cost_a, cost_b = round_of(order, a, loadgen, Path(tmp))[:: -1 if flipped else 1]
            ratio = cost_b / cost_a
            ratios.append(ratio)
            print(
                f"round {n + 1}: A {cost_a:,.0f} us a message, B {cost_b:,.0f}: B/A {ratio:.3f}",
                flush=True,
            )
    print(f"B/A median {statistics.median(ratios):.3f} over {a.rounds} rounds ({a.backend})")


if __name__ == "__main__":
    main()
