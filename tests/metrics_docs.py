"""The metrics table of docs/DEPLOYMENT.md ("Metrics"), read as data: what each metric is
called, and its labels (tests/test_metrics_table.py, tests/test_monitoring_pack.py).

A row is ``| `name` | type | labels | meaning |``. The first cell may name several metrics,
or patterns (``process_*``). The labels cell is a list of parts separated by ``;``, each
starting with the label's name in backticks; ``name: `a`, `b` ...`` then lists the values
it takes (a part whose values are prose, such as ``route``'s, lists none).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from fnmatch import fnmatch

from cluster import ROOT

DEPLOYMENT = ROOT / "docs" / "DEPLOYMENT.md"

_TICKED = re.compile(r"`([^`]+)`")
#: Samples a histogram shows besides its name.
HISTOGRAM_SAMPLES = ("_bucket", "_sum", "_count")


@dataclass
class Row:
    names: list[str]
    kind: str
    #: Label name -> the values the table lists (None: the values are not listed).
    labels: dict[str, set[str] | None] = field(default_factory=dict)


def metrics_table() -> list[Row]:
    """The rows of the "Metrics" section's table."""
    text = DEPLOYMENT.read_text()
    section = text.split("\n## Metrics\n", 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in section.splitlines():
        if not line.startswith("| `"):
            continue
        cells = [cell.strip() for cell in re.split(r"(?<!\\)\|", line.strip().strip("|"))]
        names, kind, labels = _TICKED.findall(cells[0]), cells[1], cells[2]
        row = Row(names, kind)
        for part in filter(None, (p.strip() for p in labels.split(";"))):
            label = _TICKED.match(part)
            assert label is not None, f"a label part without a `name`: {part!r} ({names})"
            rest = part[label.end() :]
            listed = rest.startswith(": `")
            row.labels[label.group(1)] = set(_TICKED.findall(rest)) if listed else None
        rows.append(row)
    return rows


def documented(name: str, rows: list[Row]) -> Row | None:
    """The row that documents the metric or sample `name` (a histogram's ``_bucket``
    too), or None."""
    for row in rows:
        for documented_name in row.names:
            if fnmatch(name, documented_name):
                return row
            if row.kind == "histogram" and any(
                name == documented_name + suffix for suffix in HISTOGRAM_SAMPLES
            ):
                return row
    return None
