"""The package shows its architecture: a few top-level parts, imports that run one way
between layers (pyproject.toml's import-linter contracts), no import cycle at run time,
and no module past the size a reader takes in at once."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parent.parent
CHAT = ROOT / "chat"
#: What a top-level listing of chat/ may hold besides its parts.
FURNITURE = {"__init__.py", "__main__.py", "py.typed", "static", "__pycache__"}
MAX_PARTS = 12
MAX_MODULE_LINES = 500


def test_the_import_contracts_are_kept() -> None:
    lint_imports = Path(sys.executable).parent / "lint-imports"
    result = subprocess.run(
        [str(lint_imports), "--no-cache"], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_chat_holds_at_most_twelve_parts() -> None:
    parts = sorted(p.name for p in CHAT.iterdir() if p.name not in FURNITURE)
    assert len(parts) <= MAX_PARTS, parts


def test_every_part_says_what_it_holds() -> None:
    for part in CHAT.iterdir():
        if part.is_dir() and part.name not in FURNITURE:
            init = part / "__init__.py"
            assert init.exists(), f"{part} is not a package"
            text = init.read_text()
            assert text.lstrip().startswith('"""'), f"{init} has no docstring"


def test_no_module_is_over_five_hundred_lines() -> None:
    long = {
        str(path.relative_to(ROOT)): lines
        for path in CHAT.rglob("*.py")
        if (lines := len(path.read_text().splitlines())) > MAX_MODULE_LINES
    }
    assert not long, long


def test_no_browser_script_is_over_five_hundred_lines() -> None:
    long = {
        path.name: lines
        for path in (CHAT / "static").glob("*.js")
        if (lines := len(path.read_text().splitlines())) > MAX_MODULE_LINES
    }
    assert not long, long


def _cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for imported in graph.find_modules_directly_imported_by(module):
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in on_stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == module:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for module in sorted(graph.modules):
        if module not in index:
            visit(module)
    return found


def test_no_import_cycle_at_run_time() -> None:
    graph = grimp.build_graph("chat", exclude_type_checking_imports=True, cache_dir=None)
    assert _cycles(graph) == []


def test_no_import_cycle_between_top_level_parts_even_for_type_checking() -> None:
    graph = grimp.build_graph("chat", cache_dir=None)
    parts = {m.split(".")[1] for m in graph.modules if m.count(".") >= 1}
    between: dict[str, set[str]] = {part: set() for part in parts}
    for module in graph.modules:
        if module.count(".") < 1:
            continue
        for imported in graph.find_modules_directly_imported_by(module):
            if imported.count(".") >= 1 and imported.split(".")[1] != module.split(".")[1]:
                between[module.split(".")[1]].add(imported.split(".")[1])
    parts_graph = grimp.ImportGraph()
    for part, imports in between.items():
        parts_graph.add_module(part)
        for imported in imports:
            parts_graph.add_import(importer=part, imported=imported)
    assert _cycles(parts_graph) == []


def test_the_code_cites_no_issue_numbers() -> None:
    # Docstrings and comments say what and why; which issue brought a change is git's.
    citing = {
        f"{path.relative_to(ROOT)}:{number}"
        for path in [*CHAT.rglob("*.py"), *(CHAT / "static").glob("*.js")]
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if re.search(r"\b[Ii]ssues? \d+", line)
    }
    assert not citing, sorted(citing)
