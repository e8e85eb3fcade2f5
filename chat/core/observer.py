"""What records a measurement: the one thing a component needs of the metrics to time its
work (a prometheus-client Histogram is one), so that no layer below the metrics imports
them."""

from __future__ import annotations

from typing import Protocol


class Observer(Protocol):
    """Something that records one measurement, such as a prometheus-client Histogram."""

    def observe(self, amount: float) -> None: ...
