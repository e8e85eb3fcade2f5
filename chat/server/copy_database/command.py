"""`chat copy-database --to postgresql://...`: move a SQLite deployment to PostgreSQL.

The steps, in order: take the SQLite file's serving lock (so no server runs on it
during the copy, and a running one makes the copy refuse); bring the SQLite file and the
PostgreSQL schema up to date (their migrations); refuse a target holding chat data this
command did not put there; mark the target "copying" and empty every table to copy
(so a rerun after an interruption starts clean and never duplicates a row); copy each
table (chat/server/copy_database/tables.py) in batches, one transaction each, reading SQLite in one
snapshot and never holding more than a batch in memory; set PostgreSQL's sequences after
the copied ids; store the JWT signing key in `server_secrets`; compare row counts and
checksums of every table and mark the target "copied" only if they all match. A verified
copy is recorded in the audit log of both databases, as the same entry (so that
``--verify-only`` still finds them equal), and the SQLite file is marked moved
(`chat.store.sqlite.moved`): ``chat serve`` refuses it from then on.

Files' bytes are not copied: the PostgreSQL servers use the same files directory or
bucket (docs/DEPLOYMENT.md, "Moving to PostgreSQL").

Resource handling: the SQLite connection and the PostgreSQL connection are this
command's own, closed when it ends. SQLite is read through `trio.to_thread` one call at
a time; PostgreSQL through trio-asyncio's loop (chat/server/copy_database/target.py).
"""

from __future__ import annotations

import argparse
import functools
import re
import sqlite3
import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import trio

from chat.app.accounts.auth import SECRET_FILE_NAME
from chat.core import config as config_module
from chat.core.config import Config
from chat.core.errors import AlreadyServed, ChatError
from chat.core.moderation_records import AuditEntry
from chat.server.copy_database.progress import Progress
from chat.server.copy_database.tables import (
    SchemaMismatch,
    TablePlan,
    Tally,
    converters,
    plan_tables,
    select_sql,
    to_postgres,
)
from chat.server.copy_database.target import (
    Target,
    aio_finish,
    aio_foreign_tables,
    aio_insert,
    aio_lock_target,
    aio_schema,
    aio_set_sequences,
    aio_start,
    aio_store_secret,
    aio_tally,
    aio_target_state,
    open_target,
)
from chat.server.operator_audit import operator_entry
from chat.store import database_url_without_password, describe_database
from chat.store.moderation import audit_values
from chat.store.sqlite.moved import append_audit, mark_moved, moment_of_ms

T = TypeVar("T")

#: Rows per batch (each batch is one PostgreSQL transaction) unless --batch-size says.
DEFAULT_BATCH_SIZE = 5000


class CopyRefused(ChatError):
    """The copy cannot start: the source is served, or the target is not the copy's."""


class CopyFailed(ChatError):
    """PostgreSQL refused a row, or went away, during the copy."""


def add_copy_parser(commands: Any) -> None:
    """Add `chat copy-database` to the `chat` command's subcommands."""
    parser = commands.add_parser(
        "copy-database",
        help="copy the SQLite database into PostgreSQL",
        description="Copy every table of the configured SQLite database into an empty "
        "PostgreSQL database (or schema), then compare counts and checksums. Stop the "
        "server first. Safe to run again after an interruption: it starts clean.",
    )
    config_module.add_flags(parser, only=config_module.DATABASE_SETTINGS)
    parser.add_argument(
        "--to",
        required=True,
        metavar="URL",
        help="the PostgreSQL database: postgresql://user@host/db (?search_path=schema allowed)",
    )
    parser.add_argument(
        "--batch-size",
        type=_batch_size,
        default=DEFAULT_BATCH_SIZE,
        metavar="ROWS",
        help=f"rows per transaction (default {DEFAULT_BATCH_SIZE})",
    )
    parser.add_argument(
        "--verify-only",
        action="store_true",
        help="copy nothing: compare the two databases' counts and checksums",
    )
    parser.set_defaults(run=run_copy_command)


def _batch_size(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 1 <= value <= 100_000:
        raise argparse.ArgumentTypeError("between 1 and 100000")
    return value


def run_copy_command(config: Config, args: argparse.Namespace) -> int:
    """`chat copy-database`; the exit code (0 only if every table matches)."""
    if config.is_postgres:
        raise CopyRefused(
            "copy-database copies a SQLite database, and CHAT_DATABASE_URL is PostgreSQL"
        )
    if not args.to.startswith(("postgresql://", "postgres://")):
        raise CopyRefused(f"--to must be a postgresql:// URL, not {args.to.split(':')[0]!r}")
    matched = trio.run(
        functools.partial(
            copy_database,
            config,
            args.to,
            batch_size=args.batch_size,
            verify_only=args.verify_only,
            out=sys.stdout,
        )
    )
    return 0 if matched else 1


def _sqlite_path(config: Config) -> Path:
    from chat.store.sqlite import sqlite_path_from_url

    url = config.database_url
    return config.sqlite_path if url is None else sqlite_path_from_url(url)


async def copy_database(
    config: Config, target_url: str, *, batch_size: int, verify_only: bool, out: Any
) -> bool:
    """Copy (unless `verify_only`) and compare; True if every table matches."""
    from chat.store.sqlite import serving_lock

    progress = Progress(out, terminal=out.isatty())
    path = _sqlite_path(config)
    if not path.exists():
        raise CopyRefused(f"no SQLite database at {path}")
    try:
        # Held to the end: no server starts on the file while it is being copied.
        with serving_lock(path):
            return await _copy_locked(config, path, target_url, batch_size, verify_only, progress)
    except AlreadyServed as error:
        holder = re.search(r"\(pid [^)]*\)", str(error))
        raise CopyRefused(
            f"another chat process {holder.group() + ' ' if holder else ''}is using {path}"
            " (a server, or another copy): stop it before copying"
        ) from None
    finally:
        progress.close()  # an interrupted bar's line is ended before the error is said


async def _copy_locked(
    config: Config,
    path: Path,
    target_url: str,
    batch_size: int,
    verify_only: bool,
    progress: Progress,
) -> bool:
    from chat.store.postgres import open_postgres_store
    from chat.store.postgres.engine import connect_errors, describe
    from chat.store.sqlite import open_sqlite_store

    # Before migrating the target: it must be chat's or empty (migrations would fail
    # half-way on someone else's tables, or mix with them).
    async with open_target(target_url) as target:
        schema, others = await target.call(aio_foreign_tables)
    if schema is None:
        raise CopyRefused(
            "the target's search_path names no schema that exists: create it first"
            " (CREATE SCHEMA name)"
        )
    if others:
        raise CopyRefused(
            f"the target schema {schema} holds tables that are not chat's"
            f" ({', '.join(others[:5])}{', ...' if len(others) > 5 else ''}):"
            " copy into an empty database or schema"
        )
    # Both databases are brought up to date first, so that their schemas are the ones
    # this release knows how to map.
    async with open_sqlite_store(path, connections=1) as sqlite_store:
        applied = getattr(sqlite_store, "applied_migrations", [])
    progress.say(f"{describe_database(config)}: {_applied(applied)}")
    async with open_postgres_store(target_url, pool_size=1) as pg_store:
        applied = getattr(pg_store, "applied_migrations", [])
    target_name = describe_database(config.replace(database_url=target_url))
    progress.say(f"{target_name}: {_applied(applied)}")
    try:
        return await _copy_and_compare(config, path, target_url, batch_size, verify_only, progress)
    except BaseException as error:
        # A refused row or a lost connection is said in one line (it may arrive wrapped
        # in the asyncio loop's exception group); the target stays marked "copying", so
        # the next run starts clean. Anything else, a cancellation included, goes on.
        cause = _only(error, connect_errors())
        if cause is None:
            raise
        raise CopyFailed(
            "copying into PostgreSQL failed (run copy-database again: it starts clean): "
            + describe(cause)
        ) from None


def _only(error: BaseException, types: tuple[type[BaseException], ...]) -> BaseException | None:
    """The first of `types` that `error` holds, if it holds nothing else."""
    if isinstance(error, types):
        return error
    if isinstance(error, BaseExceptionGroup):
        matched, rest = error.split(types)
        if matched is not None and rest is None:
            first: BaseException = matched
            while isinstance(first, BaseExceptionGroup):
                first = first.exceptions[0]
            return first
    return None


async def _copy_and_compare(
    config: Config,
    path: Path,
    target_url: str,
    batch_size: int,
    verify_only: bool,
    progress: Progress,
) -> bool:
    async with _open_source(path) as source, open_target(target_url) as target:
        if not await target.call(aio_lock_target):
            raise CopyRefused(
                "another copy-database is copying into this schema: wait for it, or stop it"
            )
        try:
            plans = plan_tables(source.conn, *await target.call(aio_schema))
        except SchemaMismatch as error:
            raise CopyRefused(str(error)) from None
        if not verify_only:
            await _copy(source, target, plans, str(path), batch_size, progress)
            await target.call(aio_store_secret, await _jwt_secret(config))
        matched, rows = await _compare(source, target, plans, batch_size, progress)
        if verify_only:
            return matched
        if not matched:
            progress.say("copy NOT verified: run copy-database again to start clean")
            return False
        # The same entry, id and moment in both databases: they still compare equal.
        public_url = database_url_without_password(target_url)
        entry = await operator_entry(
            "copy-database",
            details={"From": str(path), "To": public_url, "Tables": len(plans), "Rows": rows},
        )
        at_ms = time.time_ns() // 1_000_000
        audit_id = await target.call(aio_finish, audit_values(entry, moment_of_ms(at_ms)))
        progress.say("copy verified: every table matches")
    # After the snapshot is closed, under the serving lock still (`copy_database`).
    await trio.to_thread.run_sync(_mark_source, path, public_url, entry, at_ms, audit_id)
    progress.say(
        f"{path} is marked as moved to {public_url}: chat serve refuses it from now on"
        " (docs/DEPLOYMENT.md, Moving to PostgreSQL)"
    )
    return True


def _mark_source(path: Path, target: str, entry: AuditEntry, at_ms: int, audit_id: int) -> None:
    """Record the copy in the SQLite file too, and mark it moved, in one transaction."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        append_audit(conn, entry, at_ms, audit_id)
        mark_moved(conn, target, at_ms, entry.actor_name)
        conn.execute("COMMIT")
    except sqlite3.Error as error:
        raise CopyFailed(
            f"the copy is verified, but marking {path} as moved failed ({error}):"
            " do not serve that file any more"
        ) from None
    finally:
        conn.close()


def _applied(applied: list[str]) -> str:
    return f"applied {', '.join(applied)}" if applied else "already up to date"


async def _jwt_secret(config: Config) -> str | None:
    """The key the SQLite server signs tokens with: CHAT_JWT_SECRET, or its file."""
    if config.jwt_secret is not None:
        return config.jwt_secret
    secret_path = config.data_dir / SECRET_FILE_NAME

    def read() -> str | None:
        return secret_path.read_text(encoding="ascii").strip() if secret_path.exists() else None

    return await trio.to_thread.run_sync(read)


class _Source:
    """The SQLite file, read in one snapshot (a read transaction held open)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        # One call at a time: the connection is not safe to share between threads.
        self._limiter = trio.CapacityLimiter(1)

    async def run(self, function: Callable[..., T], *args: Any) -> T:
        return await trio.to_thread.run_sync(function, *args, limiter=self._limiter)


@asynccontextmanager
async def _open_source(path: Path) -> AsyncIterator[_Source]:
    def open_snapshot() -> sqlite3.Connection:
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        conn.execute("BEGIN")
        conn.execute("SELECT 1 FROM sqlite_master LIMIT 1")  # the snapshot starts here
        return conn

    conn = await trio.to_thread.run_sync(open_snapshot)
    try:
        yield _Source(conn)
    finally:
        with trio.CancelScope(shield=True):
            await trio.to_thread.run_sync(conn.close)


async def _copy(
    source: _Source,
    target: Target,
    plans: list[TablePlan],
    source_name: str,
    batch_size: int,
    progress: Progress,
) -> None:
    import asyncpg

    from chat.store.postgres.engine import describe

    state, holding = await target.call(aio_target_state, plans)
    if state == "copied":
        raise CopyRefused(
            "the target already holds a finished copy: to copy again, empty it first"
            " (drop and create its schema); to compare, use --verify-only"
        )
    if state is None and holding:
        raise CopyRefused(
            f"the target already holds chat data (in {', '.join(holding)}) that"
            " copy-database did not put there: copy into an empty database or schema"
        )
    if state == "copying":
        progress.say("an earlier copy was interrupted: starting again from an empty target")
    # Committed before any row: from here on a rerun knows these rows are its own.
    await target.call(aio_start, plans, source_name)
    for plan in plans:
        total = await source.run(_count, source.conn, plan.name)
        progress.start(plan.name, total)
        convert = converters(plan)
        cursor = await source.run(source.conn.execute, select_sql(plan))
        while rows := await source.run(cursor.fetchmany, batch_size):
            try:
                await target.call(aio_insert, plan, to_postgres(rows, convert))
            except asyncpg.PostgresError as error:
                raise CopyFailed(
                    f"PostgreSQL refused a row of {plan.name}: {describe(error)}"
                    " (correct it in SQLite, then run copy-database again: it starts clean)"
                ) from None
            progress.advance(len(rows))
        progress.finish()
    await target.call(aio_set_sequences, plans, await source.run(_issued_ids, source.conn))


def _issued_ids(conn: sqlite3.Connection) -> dict[str, int]:
    """SQLite's AUTOINCREMENT counters: the last id given out, per table."""
    if conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_sequence'").fetchone():
        return {
            name: int(seq) for name, seq in conn.execute("SELECT name, seq FROM sqlite_sequence")
        }
    return {}


def _count(conn: sqlite3.Connection, table: str) -> int:
    (count,) = conn.execute(f'SELECT count(*) FROM "{table}"').fetchone()
    return int(count)


def _source_tally(conn: sqlite3.Connection, plan: TablePlan, batch_size: int) -> Tally:
    tally = Tally()
    convert = converters(plan)
    cursor = conn.execute(select_sql(plan))
    while rows := cursor.fetchmany(batch_size):
        tally.add(to_postgres(rows, convert))
    return tally


async def _compare(
    source: _Source,
    target: Target,
    plans: list[TablePlan],
    batch_size: int,
    progress: Progress,
) -> tuple[bool, int]:
    """Print each table's counts and checksums on both sides; (True if all match, the
    rows of SQLite's tables)."""
    progress.say(f"{'table':<24} {'SQLite rows':>12} {'PostgreSQL rows':>16}  checksums")
    matched = True
    rows = 0
    for plan in plans:
        mine = await source.run(_source_tally, source.conn, plan, batch_size)
        theirs = await target.call(aio_tally, plan, batch_size)
        same = mine == theirs
        matched = matched and same
        rows += mine.rows
        verdict = "match" if same else "DIFFER"
        progress.say(f"{plan.name:<24} {mine.rows:>12} {theirs.rows:>16}  {verdict}")
    progress.say(
        "every table matches" if matched else "some tables DIFFER between SQLite and PostgreSQL"
    )
    return matched, rows
