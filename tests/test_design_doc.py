"""docs/DESIGN.md's module table ("The modules") lists every module of chat/, and only
those: a module added, moved or removed without its line there fails here, naming the
lines to add or remove.

The table's rows are ``| `chat/path/to/module.py` | what it holds |``; a package is
listed by its ``__init__.py``. Only the rows of that section count, so other tables of
the document may name modules freely."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DESIGN = ROOT / "docs" / "DESIGN.md"
SECTION = "## The modules"

#: A row of the module table: its first cell is one module's path, in backticks.
_ROW = re.compile(r"^\|\s*`(?P<path>chat/[^`]+)`\s*\|(?P<rest>.*)\|\s*$")


def _table_rows() -> list[tuple[int, str, str]]:
    """(line number, module path, what it holds) for each row of the module table."""
    lines = DESIGN.read_text(encoding="utf-8").splitlines()
    assert SECTION in lines, f"docs/DESIGN.md has no {SECTION!r} section"
    start = lines.index(SECTION) + 1
    rows = []
    for number, line in enumerate(lines[start:], start + 1):
        if line.startswith("## "):
            break  # the next section
        match = _ROW.match(line)
        if match:
            rows.append((number, match["path"], match["rest"].strip()))
    return rows


def _modules_in_tree() -> set[str]:
    """Every module of the package on disk, as a path from the checkout's root."""
    return {
        path.relative_to(ROOT).as_posix()
        for path in (ROOT / "chat").rglob("*.py")
        if "__pycache__" not in path.parts
    }


def test_the_module_table_lists_every_module_of_chat_and_nothing_else() -> None:
    listed = [path for _, path, _ in _table_rows()]
    tree = _modules_in_tree()
    missing = sorted(tree - set(listed))
    gone = sorted(set(listed) - tree)
    problems = []
    if missing:
        problems.append(
            "add a row for each of these modules to docs/DESIGN.md, section"
            f" {SECTION!r}, in its layer's table:\n"
            + "\n".join(f"  | `{path}` | <what it holds> |" for path in missing)
        )
    if gone:
        problems.append(
            "remove (or rename) these rows of docs/DESIGN.md, section"
            f" {SECTION!r}: no such module in chat/:\n"
            + "\n".join(f"  | `{path}` |" for path in gone)
        )
    assert not problems, "\n\n".join(problems)


def test_each_module_is_listed_once_and_says_what_it_holds() -> None:
    seen: dict[str, int] = {}
    problems = []
    for number, path, what in _table_rows():
        first = seen.setdefault(path, number)
        if first != number:
            problems.append(f"docs/DESIGN.md:{number}: {path} is listed again (line {first})")
        if not what.strip("| "):
            problems.append(f"docs/DESIGN.md:{number}: {path} says nothing of what it holds")
    assert not problems, "\n".join(problems)


def test_the_performance_page_stays_a_results_page() -> None:
    # Today's figures, how to reproduce them and where the time goes; the runs' diaries
    # are in git's history, not on the page.
    lines = len((ROOT / "docs" / "PERFORMANCE.md").read_text().splitlines())
    assert lines <= 600, f"docs/PERFORMANCE.md is {lines} lines: keep it a results page"
