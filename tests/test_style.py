"""The code stays ruff-clean and type-checks under mypy --strict (the rules of both are in
pyproject.toml)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run_module(*args: str) -> subprocess.CompletedProcess[str]:
    """`python -m <args>` in the checkout, its output kept for the assertion message."""
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True)


def test_ruff_finds_nothing() -> None:
    result = run_module("ruff", "check", "chat", "tests", "bench")
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_strict_finds_nothing_in_chat() -> None:
    # `mypy` alone reads [tool.mypy]: chat/, strict. No cache, so that a test run leaves
    # nothing in the checkout.
    result = run_module("mypy", "--cache-dir", "/dev/null")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues found" in result.stdout
