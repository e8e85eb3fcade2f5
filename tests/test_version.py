"""Which code runs: the release from pyproject.toml, with the git commit of a checkout
(chat/server/version.py), as `chat --version`, /livez and chat_build_info show it."""

from __future__ import annotations

import subprocess
import tomllib
from pathlib import Path

import pytest
from cluster import require_program

import chat
from chat.server.version import BuildInfo, read_build_info

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.unit
def test_the_release_is_pyproject_tomls_version() -> None:
    with (ROOT / "pyproject.toml").open("rb") as file:
        assert chat.__version__ == tomllib.load(file)["project"]["version"]


@pytest.mark.unit
def test_a_build_names_its_commit_as_a_local_version() -> None:
    assert BuildInfo("0.3.0").version == "0.3.0"
    assert BuildInfo("0.3.0", "98a7ab7").version == "0.3.0+g98a7ab7"
    assert BuildInfo("0.3.0", "98a7ab7", dirty=True).version == "0.3.0+g98a7ab7.dirty"


def _git(where: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(where), *args], capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """A git repository of one commit, holding a tracked file."""
    require_program("git")
    root = tmp_path / "checkout"
    root.mkdir()
    _git(root, "init", "-q")
    (root / "tracked.txt").write_text("one\n")
    _git(root, "add", "tracked.txt")
    _git(root, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "one")
    return root


@pytest.mark.server
def test_a_checkout_shows_its_commit(checkout: Path) -> None:
    build = read_build_info(checkout)
    assert build == BuildInfo(chat.__version__, _git(checkout, "rev-parse", "--short", "HEAD"))


@pytest.mark.server
def test_a_checkout_with_changed_tracked_files_is_dirty(checkout: Path) -> None:
    (checkout / "tracked.txt").write_text("two\n")
    (checkout / "untracked.txt").write_text("not counted\n")
    assert read_build_info(checkout).dirty
    assert read_build_info(checkout).version.endswith(".dirty")


@pytest.mark.server
def test_a_package_inside_another_repository_shows_the_release_alone(checkout: Path) -> None:
    # A virtualenv (and the package installed in it) kept inside someone's repository.
    inside = checkout / "venv" / "site-packages"
    inside.mkdir(parents=True)
    assert read_build_info(inside) == BuildInfo(chat.__version__)


@pytest.mark.server
def test_a_copy_without_git_shows_the_release_alone(tmp_path: Path) -> None:
    assert read_build_info(tmp_path) == BuildInfo(chat.__version__)


@pytest.mark.server
def test_an_installed_package_shows_the_commit_it_was_built_from(tmp_path: Path) -> None:
    (tmp_path / "chat").mkdir()
    (tmp_path / "chat" / "BUILD_REVISION").write_text("98a7ab7659088c41\n")
    assert read_build_info(tmp_path).version == f"{chat.__version__}+g98a7ab7"
    (tmp_path / "chat" / "BUILD_REVISION").write_text("98a7ab7.dirty\n")
    assert read_build_info(tmp_path).version == f"{chat.__version__}+g98a7ab7.dirty"


@pytest.mark.server
def test_a_build_revision_that_is_not_a_commit_is_ignored(tmp_path: Path) -> None:
    (tmp_path / "chat").mkdir()
    (tmp_path / "chat" / "BUILD_REVISION").write_text("$(rm -rf /)\n")
    assert read_build_info(tmp_path).version == chat.__version__
