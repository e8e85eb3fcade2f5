"""chat: a real-time chat server built on Trio's structured concurrency.

Start with `chat.server.serving.serve` (the whole task tree in one function) and docs/DESIGN.md.
"""

from __future__ import annotations

import importlib.metadata
import tomllib
from pathlib import Path

#: The distribution's name (pyproject.toml's [project] name; "chat" is another's on PyPI).
DISTRIBUTION = "trio-chat-server"


def _release() -> str:
    """This code's release: pyproject.toml's version when the package runs from a source
    checkout (an editable install's metadata keeps the version it was installed with),
    otherwise the installed distribution's metadata."""
    pyproject = Path(__file__).resolve().parent.parent / "pyproject.toml"
    try:
        with pyproject.open("rb") as file:
            project = tomllib.load(file).get("project", {})
    except (OSError, tomllib.TOMLDecodeError):
        project = {}
    if project.get("name") == DISTRIBUTION and isinstance(project.get("version"), str):
        return str(project["version"])
    try:
        return importlib.metadata.version(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        return "0+unknown"  # neither installed nor in a checkout: a copy of the files


#: The release, "0.3.0" (chat.server.version adds the git revision of a checkout).
__version__ = _release()
