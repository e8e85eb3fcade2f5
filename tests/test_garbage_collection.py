"""How `chat serve` has CPython collect garbage (`chat.server.garbage_collection`): a full
collection that found next to nothing makes the next wait longer, one that found garbage
brings the usual wait back. Run in a fresh interpreter: the collector is the process's."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from chat.server import garbage_collection
from chat.server.garbage_collection import BARREN_WAIT, USUAL_WAIT, next_wait


def _oldest_thresholds_after(script: str) -> list[int]:
    """The oldest generation's threshold after each line `script` prints, in a fresh
    interpreter that has run `tune()`."""
    program = "import gc\nfrom chat.server import garbage_collection\ngarbage_collection.tune()\n"
    program += textwrap.dedent(script)
    done = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=60, check=True
    )
    return [int(line) for line in done.stdout.split()]


def test_a_collection_that_freed_under_a_hundredth_makes_the_next_wait_longer() -> None:
    assert next_wait(freed=99, survivors=10_000) == BARREN_WAIT


def test_a_collection_that_freed_a_hundredth_keeps_the_usual_wait() -> None:
    assert next_wait(freed=102, survivors=10_000) == USUAL_WAIT


def test_live_objects_arriving_in_bulk_hold_the_next_full_collection_off() -> None:
    thresholds = _oldest_thresholds_after(
        """
        kept = [[i] for i in range(300_000)]  # clients arriving: everything lives
        gc.collect()
        print(gc.get_threshold()[2])
        """
    )
    assert thresholds == [BARREN_WAIT]


def test_cyclic_garbage_found_brings_the_usual_wait_back() -> None:
    thresholds = _oldest_thresholds_after(
        """
        kept = [[i] for i in range(300_000)]
        gc.collect()
        print(gc.get_threshold()[2])
        lives = []
        for _ in range(50_000):  # lives long enough to reach the oldest generation
            cycle = []
            cycle.append(cycle)
            lives.append(cycle)
        del cycle
        gc.collect(1)
        lives.clear()  # over: what they leave behind is cycles, for a full collection
        gc.collect()
        print(gc.get_threshold()[2])
        """
    )
    assert thresholds == [BARREN_WAIT, USUAL_WAIT]


def test_tuning_twice_registers_the_callback_once() -> None:
    counts = _oldest_thresholds_after(
        """
        garbage_collection.tune()
        print(gc.callbacks.count(garbage_collection.after_collection))
        """
    )
    assert counts == [1]


def test_young_generations_are_collected_less_often_than_cpythons_default() -> None:
    assert garbage_collection.YOUNG_THRESHOLDS[0] > 700
