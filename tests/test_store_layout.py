"""Storage is written once: each concern's module serves both engines, and what differs
between SQLite and PostgreSQL is found through one name, the dialect."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

STORE = Path(__file__).resolve().parent.parent / "chat" / "store"
#: The engines: the only places that know a driver.
ENGINES = ("sqlite", "postgres")
DRIVERS = {"sqlite3", "asyncpg", "trio_asyncio"}


def _concern_modules() -> list[Path]:
    """Every module of chat/store outside the engines' packages."""
    return [
        path
        for path in STORE.rglob("*.py")
        if path.relative_to(STORE).parts[0] not in ENGINES and path.name != "aio_bridge.py"
    ]


def _imported(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_no_concern_module_imports_a_database_driver() -> None:
    drivers = {
        path.name: sorted(name for name in _imported(path) if name.split(".")[0] in DRIVERS)
        for path in _concern_modules()
    }
    assert not {name: found for name, found in drivers.items() if found}


def test_no_concern_module_imports_an_engine() -> None:
    engines = {
        path.name: sorted(
            name
            for name in _imported(path)
            if name.startswith(tuple(f"chat.store.{engine}" for engine in ENGINES))
        )
        for path in _concern_modules()
        if path.name != "__init__.py"  # open_store chooses the engine
    }
    assert not {name: found for name, found in engines.items() if found}


def test_only_the_dialect_names_an_engine() -> None:
    """An operation asks its dialect (`dialect.pick`, a member), never which engine it
    runs on."""
    naming = {
        path.name
        for path in _concern_modules()
        if path.name not in ("dialect.py", "__init__.py")
        and any(
            isinstance(node, ast.Constant) and node.value in ENGINES
            for node in ast.walk(ast.parse(path.read_text()))
        )
    }
    assert not naming


def test_the_store_has_no_shared_sql_package() -> None:
    """No SQL kept apart from the operation that runs it."""
    assert not (STORE / "shared").exists()
