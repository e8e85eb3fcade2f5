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


def test_browser_tests_wait_on_functions_not_expressions() -> None:
    # Playwright evaluates a plain expression given to wait_for_function anew on every
    # poll with eval(), which the page's Content-Security-Policy forbids once polling
    # leaves the first, DevTools-driven call: such a wait passes when the condition
    # already holds and fails when it has to wait. A function is evaluated once.
    import ast

    expressions = []
    for path in sorted((ROOT / "tests").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "wait_for_function"
                and node.args
            ):
                first = node.args[0]
                text = ast.unparse(first)
                if isinstance(first, ast.Constant | ast.JoinedStr) and "=>" not in text:
                    expressions.append(f"{path.name}:{node.lineno}: {text}")
    assert expressions == []


def test_tests_that_make_veth_pairs_keep_browser_tests_out() -> None:
    # Chromium drops its connections when the host's interfaces change; a test file that
    # makes veth pairs in the host's namespace (through tests/network_faults.py or
    # bench/network_boxes.py) must hold the host-network lock (tests/conftest.py).
    import ast

    from conftest import CHANGE_THE_HOSTS_NETWORK

    makers = set()
    for path in sorted((ROOT / "tests").glob("test_*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            if {"network_faults", "network_boxes"} & set(names):
                makers.add(path.name)
    assert makers, "no test file makes veth pairs: is this check still looking?"
    assert makers <= CHANGE_THE_HOSTS_NETWORK, makers - CHANGE_THE_HOSTS_NETWORK
