"""A skipped test says why: the summary line names what is missing, never a bare "Skipped"."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_a_postgresql_test_without_a_database_url_is_skipped_with_the_reason() -> None:
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in {"CHAT_TEST_DATABASE_URL", "CI"}
    }
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "-q",
            "-rs",
            "tests/test_store.py::test_a_new_database_has_exactly_one_lobby[postgres]",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "1 skipped" in result.stdout, result.stdout + result.stderr
    assert "CHAT_TEST_DATABASE_URL is not set" in result.stdout, result.stdout
