"""Which code is running: the release (`chat.__version__`, pyproject.toml's version) and,
when it runs from a git checkout, the commit, as `chat --version`, /livez and the
``chat_build_info`` metric show it.

A release says little on its own: code many commits past a release carries that
release's number until the next. So a checkout's version names its commit too, as a
PEP 440 local version: ``0.3.0+g98a7ab7``, and ``0.3.0+g98a7ab7.dirty`` when tracked
files differ from that commit. An installed package has no git beside it: it shows the
commit written into it when it was built from a checkout (`BUILD_REVISION`, which the
Containerfile writes from its ``CHAT_REVISION`` build argument), or the release alone.

`read_build_info` runs git, so it blocks: the process reads it once (`build_info`),
before Trio runs (the ``chat`` command) or in a worker thread (`serve`).
"""

from __future__ import annotations

import functools
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from chat import __version__

#: How long git may take to answer, each time; past that, the revision is left out.
GIT_TIMEOUT_S = 5.0

#: The file in the package (``chat/BUILD_REVISION``) naming the commit an installed
#: package was built from ("abc1234" or "abc1234.dirty"); absent in a checkout (git says
#: there) and in a plain ``pip install``.
BUILD_REVISION = "BUILD_REVISION"
_REVISION = re.compile(r"([0-9a-f]{7,40})(\.dirty)?")


@dataclass(frozen=True, slots=True)
class BuildInfo:
    """The release, and the checkout's commit (abbreviated; "" outside a checkout)."""

    release: str
    revision: str = ""
    dirty: bool = False

    @property
    def version(self) -> str:
        """``0.3.0``, ``0.3.0+g98a7ab7`` or ``0.3.0+g98a7ab7.dirty``."""
        if not self.revision:
            return self.release
        return f"{self.release}+g{self.revision}" + (".dirty" if self.dirty else "")


def _git(root: Path, *args: str) -> str | None:
    """git's answer in `root`, stripped; None if git is missing, fails or hangs."""
    try:
        done = subprocess.run(
            ["git", "-C", str(root), *args],
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def read_build_info(root: Path | None = None) -> BuildInfo:
    """The running code's build: its commit if `root` (the directory holding the
    package, by default) is the top of a git checkout, not merely inside one (a
    virtualenv kept in some other repository); otherwise the one the package records."""
    if root is None:
        root = Path(__file__).resolve().parent.parent.parent
    top = _git(root, "rev-parse", "--show-toplevel")
    if top is None or Path(top).resolve() != root.resolve():
        return _built_from(root / "chat" / BUILD_REVISION)
    revision = _git(root, "rev-parse", "--short", "HEAD")
    if not revision:
        return BuildInfo(__version__)
    changes = _git(root, "status", "--porcelain", "--untracked-files=no")
    return BuildInfo(__version__, revision, dirty=bool(changes))


@functools.cache
def build_info() -> BuildInfo:
    """`read_build_info`, read once per process (it blocks: see the module)."""
    return read_build_info()


def _built_from(path: Path) -> BuildInfo:
    """The build `path` records (`BUILD_REVISION`), or the release alone when there is no
    such file or it does not hold a commit."""
    try:
        recorded = path.read_text(encoding="ascii", errors="replace").strip()
    except OSError:
        return BuildInfo(__version__)
    match = _REVISION.fullmatch(recorded)
    if match is None:
        return BuildInfo(__version__)
    return BuildInfo(__version__, match.group(1)[:7], dirty=match.group(2) is not None)
