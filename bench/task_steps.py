"""How many Trio task steps and scheduler passes a message costs the server, by task: the
`low-rate` load (one sender at 300 messages/s to 10 receivers) against one `chat serve`
counted by an instrument (bench/task_steps/sitecustomize.py). At low rates a message's
CPU follows its steps more than any one function: this says which task takes them.

    python bench/task_steps.py [--backend sqlite|postgres] [--seconds 15] [--code DIR]

`--code` runs another checkout's server (its directory first on PYTHONPATH).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import tempfile
from pathlib import Path

import message_runs
import scenarios
import targets

HOOK = Path(__file__).resolve().parent / "task_steps"


def count(a: argparse.Namespace, loadgen: Path, tmp: Path) -> tuple[dict, dict]:
    """The load generator's result and the server's counts."""
    out = tmp / "steps.json"
    with contextlib.ExitStack() as stack:
        url = None
        if a.backend == "postgres":
            url, _database = stack.enter_context(targets.postgres_schema(a.database_url))
        target = targets.chat_target(tmp, a.backend, url, label="task-steps")
        paths = [str(HOOK), *([a.code] if a.code else []), os.environ.get("PYTHONPATH", "")]
        target.env["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
        target.env["CHAT_BENCH_TASK_STEPS"] = str(out)
        target.start()
        try:
            low = {**scenarios.LOW_RATE, "seconds": a.seconds}
            tokens = targets.tokens_for(target, low["receivers"] + low["senders"], tmp)
            result = message_runs.fanout(target, loadgen, tokens, low)
        finally:
            target.stop()  # the counts are written as the server exits
    return result, json.loads(out.read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backend", default="sqlite", choices=("sqlite", "postgres"))
    parser.add_argument("--database-url", default="postgresql://postgres@127.0.0.1/test")
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--code", default="", help="another checkout's server")
    a = parser.parse_args()
    loadgen = targets.build_loadgen()
    with tempfile.TemporaryDirectory(prefix="chat-task-steps-") as tmp:
        result, counts = count(a, loadgen, Path(tmp))
    # Start-up and the clients' connections are counted too: a few hundred steps,
    # a small share over thousands of messages.
    sent = max(1, result["sent"])
    print(f"{sent} messages, {result['lost']} lost, {a.backend}; per message:")
    for name, steps in sorted(counts["steps"].items(), key=lambda kv: -kv[1]):
        if steps / sent >= 0.01:
            print(f"  {steps / sent:6.2f}  {name}")
    total = sum(counts["steps"].values()) / sent
    passes = {kind: round(n / sent, 2) for kind, n in counts["passes"].items()}
    print(f"  {total:6.2f}  task steps in all; scheduler passes {passes}")
    cpu = result["server_cpu_seconds"] * 1e6 / sent
    print(f"  server CPU {cpu:,.0f} us a message (with the instrument's own)")


if __name__ == "__main__":
    main()
