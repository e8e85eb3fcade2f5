"""Finding the numbered SQL migrations for a backend.

Migrations are plain SQL files, ``sql/<backend>/NNNN_description.sql``, applied in number
order, each in its own transaction together with its row in ``schema_version``. Applying
them again is a no-op. The engines run them (each engine's `opening` knows how to run a
script on its connection); this module only finds and orders them.

An installed package carries the files as ``chat/sql`` (see pyproject.toml); a source
checkout has them at the top of the repository.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

_FILE_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")

SCHEMA_VERSION_TABLE = "schema_version"


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str


def sql_root() -> Path:
    """The directory holding one subdirectory of migrations per backend."""
    package_dir = Path(__file__).resolve().parent.parent
    for candidate in (package_dir / "sql", package_dir.parent / "sql"):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"no sql/ directory next to {package_dir}")


def load_migrations(backend: str) -> list[Migration]:
    """All migrations for ``backend`` ("sqlite" or "postgres"), in order."""
    directory = sql_root() / backend
    migrations = []
    for path in sorted(directory.iterdir()):
        match = _FILE_NAME.match(path.name)
        if match is None:
            continue
        migrations.append(
            Migration(int(match.group(1)), match.group(2), path.read_text(encoding="utf-8"))
        )
    versions = [m.version for m in migrations]
    if len(set(versions)) != len(versions):
        raise ValueError(f"duplicate migration numbers in {directory}")
    if not migrations:
        raise FileNotFoundError(f"no migrations in {directory}")
    return migrations
