"""When an idle writer holds a message for others to join its commit
(chat/app/messages/gathering.py): only while the arrival rate promises another within
the window, and never longer than the window."""

from __future__ import annotations

import pytest

from chat.app.messages.gathering import RATE_PERIOD_S, Gathering


def arriving(gathering: Gathering, per_second: float, seconds: float) -> float:
    """Feed `gathering` one message at a time at `per_second`; the time of the last."""
    now, step = 0.0, 1 / per_second
    for _ in range(round(per_second * seconds)):
        now += step
        gathering.arrived(1, now)
    return now


def test_a_first_message_is_never_held() -> None:
    gathering = Gathering(0.005)
    gathering.arrived(1, 10.0)
    assert gathering.hold_until(1, 10.0) is None


def test_a_message_is_held_for_the_window_while_others_arrive_within_it() -> None:
    gathering = Gathering(0.005)
    now = arriving(gathering, 400, 1.0)
    assert gathering.hold_until(1, now) == pytest.approx(now + 0.005)
    assert gathering.held == 1


def test_a_message_arriving_slower_than_one_a_window_is_committed_at_once() -> None:
    gathering = Gathering(0.005)
    now = arriving(gathering, 100, 1.0)  # half a message expected in 5 ms
    assert gathering.hold_until(1, now) is None
    assert gathering.held == 0


def test_a_batch_as_large_as_the_window_would_gather_is_not_held() -> None:
    gathering = Gathering(0.005)
    now = arriving(gathering, 1000, 1.0)  # five expected in 5 ms
    assert gathering.hold_until(4, now) is not None
    assert gathering.hold_until(5, now) is None


def test_after_a_quiet_spell_the_rate_is_the_quiet_one() -> None:
    gathering = Gathering(0.005)
    now = arriving(gathering, 1000, 1.0)
    gathering.arrived(1, now + 30.0)
    assert gathering.hold_until(1, now + 30.0) is None


def test_the_rate_is_renewed_every_period() -> None:
    gathering = Gathering(0.005)
    now = arriving(gathering, 100, 1.0)
    assert gathering.hold_until(1, now) is None
    # Within two periods, the faster rate is the one counted.
    for n in range(1, round(2 * RATE_PERIOD_S * 1000) + 1):
        gathering.arrived(1, now + n / 1000)
    assert gathering.hold_until(1, now + 2 * RATE_PERIOD_S) is not None


def test_a_window_of_zero_never_holds() -> None:
    gathering = Gathering(0.0)
    now = arriving(gathering, 10_000, 1.0)
    assert gathering.hold_until(1, now) is None


def test_a_negative_window_is_refused() -> None:
    with pytest.raises(ValueError, match="not negative"):
        Gathering(-0.001)
