"""Finding the numbered SQL migrations for a backend, and what a database's record of
them says about the code that may run on it.

Migrations are plain SQL files, ``sql/<backend>/NNNN_description.sql``, applied in number
order, each in its own transaction together with its row in ``schema_version``. Applying
them again is a no-op. The engines run them (each engine's `opening` knows how to run a
script on its connection); this module finds and orders them, logs each one applied
(`log_applied`), and checks a database's record against the migrations this code knows
(`check_recorded`).

A migration may declare, in its leading comments, that code older than it runs correctly
on the schema it leaves (it only adds: a table, a nullable column, an index that older
code's statements do not need)::

    -- compatible-with-older-code: yes

Its row in ``schema_version`` records that (`COMPATIBLE_COLUMN`, which
sql/*/*_schema_compatibility.sql added). An instance whose code lacks migrations the
database has refuses to start (`chat.core.errors.SchemaTooNew`), unless every one of them
is so declared: then it starts and warns. That is what lets a cluster upgrade by rolling
restart, old and new code serving side by side (docs/DEPLOYMENT.md, "Upgrading").

An installed package carries the files as ``chat/sql`` (see pyproject.toml); a source
checkout has them at the top of the repository.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from chat import __version__
from chat.core.errors import SchemaTooNew

log = logging.getLogger("chat.store")

_FILE_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
_DECLARATION = re.compile(r"^--\s*compatible-with-older-code:\s*(?P<answer>\S*)\s*$")

SCHEMA_VERSION_TABLE = "schema_version"
#: ``schema_version``'s column saying that a migration left a schema older code runs on.
COMPATIBLE_COLUMN = "compatible_with_older_code"


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str
    #: Its header says ``-- compatible-with-older-code: yes``.
    compatible_with_older_code: bool = False

    @property
    def label(self) -> str:
        """``0025_schema_compatibility``: the file's name without ``.sql``."""
        return f"{self.version:04d}_{self.name}"


@dataclass(frozen=True, slots=True)
class Recorded:
    """A row of a database's ``schema_version``: a migration some code applied."""

    version: int
    name: str
    compatible_with_older_code: bool

    @property
    def label(self) -> str:
        return f"{self.version:04d}_{self.name}"


def declared_compatible(sql: str, where: str) -> bool:
    """Whether the leading comments of the migration `sql` (from the file `where`)
    declare it compatible with older code; a declaration other than yes or no is an
    error, not a no."""
    for line in sql.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("--"):
            break  # the first statement ends the header
        match = _DECLARATION.match(stripped)
        if match is None:
            continue
        answer = match["answer"].lower()
        if answer not in ("yes", "no"):
            raise ValueError(
                f"{where}: compatible-with-older-code must be yes or no, not {answer!r}"
            )
        return answer == "yes"
    return False


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
        sql = path.read_text(encoding="utf-8")
        compatible = declared_compatible(sql, str(path))
        migrations.append(Migration(int(match.group(1)), match.group(2), sql, compatible))
    versions = [m.version for m in migrations]
    if len(set(versions)) != len(versions):
        raise ValueError(f"duplicate migration numbers in {directory}")
    if not migrations:
        raise FileNotFoundError(f"no migrations in {directory}")
    return migrations


def log_applied(engine: str, migration: Migration, seconds: float) -> None:
    """One line per migration applied (`chat serve`, `chat migrate`), for the operator
    watching an upgrade; `engine` is its directory's name in sql/."""
    log.info(
        "migration applied",
        extra={
            "migration": migration.label,
            "engine": engine,
            "duration_ms": round(seconds * 1000, 1),
            "compatible_with_older_code": migration.compatible_with_older_code,
        },
    )


def check_recorded(engine: str, known: list[Migration], recorded: Iterable[Recorded]) -> None:
    """Check what the database records against the migrations this code knows, before
    migrating it: raises `SchemaTooNew` if a newer release applied migrations this code
    lacks and one of them is not declared compatible with older code; warns if they all
    are (this instance serves, but should be upgraded). `engine` names the database's
    engine in those words ("PostgreSQL")."""
    known_versions = {migration.version for migration in known}
    newer = [r for r in recorded if r.version not in known_versions]
    newer.sort(key=lambda r: r.version)
    if not newer:
        return
    at = f"the database's schema is at migration {newer[-1].label} ({engine})"
    this = f"this chat {__version__} knows migrations up to {known[-1].label}"
    refusing = [r.label for r in newer if not r.compatible_with_older_code]
    if refusing:
        raise SchemaTooNew(
            f"{at}, but {this}: a newer release of chat migrated it, and "
            f"{_listed(refusing)} {'is' if len(refusing) == 1 else 'are'} not declared"
            " compatible with older code. Run that release (or a newer one) on this"
            ' database (docs/DEPLOYMENT.md, "Upgrading")'
        )
    log.warning(
        "%s, and %s: starting anyway, since %s %s declared compatible with older code;"
        " upgrade this instance to the release that added it",
        at,
        this,
        _listed([r.label for r in newer]),
        "is" if len(newer) == 1 else "are",
    )


def _listed(labels: list[str]) -> str:
    return labels[0] if len(labels) == 1 else ", ".join(labels[:-1]) + " and " + labels[-1]
