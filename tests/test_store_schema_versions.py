"""The migrations a database records, against those the code knows (chat/store/migrations.py):
each migration applied is logged; an instance refuses a schema a newer release migrated,
naming both versions, unless every newer migration is declared compatible with older
code, and then starts with a warning. On both backends."""

from __future__ import annotations

import re

import pytest
import trio
from cluster import start_instance
from support import chat_environ, execute_sql, http_client, run_chat, select_rows

import chat
from chat.core.config import Config
from chat.store import open_store
from chat.store.migrations import (
    COMPATIBLE_COLUMN,
    declared_compatible,
    load_migrations,
)

ENGINES = ("sqlite", "postgres")


def _engine(config: Config) -> str:
    return "postgres" if config.is_postgres else "sqlite"


# --- the declaration ---


@pytest.mark.unit
def test_a_migration_declares_itself_compatible_in_its_leading_comments() -> None:
    header = "-- Adds a table.\n-- compatible-with-older-code: yes\nCREATE TABLE t (x int);\n"
    assert declared_compatible(header, "0099_t.sql")
    assert not declared_compatible(header.replace("yes", "no"), "0099_t.sql")
    assert not declared_compatible("CREATE TABLE t (x int);\n", "0099_t.sql")


@pytest.mark.unit
def test_a_declaration_after_the_first_statement_does_not_count() -> None:
    sql = "CREATE TABLE t (x int);\n-- compatible-with-older-code: yes\n"
    assert not declared_compatible(sql, "0099_t.sql")


@pytest.mark.unit
def test_a_declaration_neither_yes_nor_no_is_refused_naming_the_file() -> None:
    with pytest.raises(ValueError, match=r"0099_t\.sql: compatible-with-older-code must be"):
        declared_compatible("-- compatible-with-older-code: maybe\nSELECT 1;\n", "0099_t.sql")


@pytest.mark.unit
@pytest.mark.parametrize("engine", ENGINES)
def test_only_migrations_from_the_compatibility_column_on_declare_it(engine: str) -> None:
    # An earlier row has no column to record the declaration in.
    migrations = load_migrations(engine)
    (adding,) = [m for m in migrations if f"ADD COLUMN {COMPATIBLE_COLUMN}" in m.sql]
    declared = [m.version for m in migrations if m.compatible_with_older_code]
    assert min(declared) == adding.version


# --- each migration applied is logged ---


def _logged_migrations(log: str, engine: str) -> list[str]:
    pattern = rf"migration applied migration=(\d{{4}}_\w+) engine={engine} duration_ms=[\d.]+ "
    return re.findall(pattern, log)


@pytest.mark.unmigrated
async def test_chat_migrate_logs_each_migration_it_applies(config: Config) -> None:
    result = await run_chat("migrate", env=chat_environ(config.replace(log_level="INFO")))
    assert result.returncode == 0, result.stderr
    labels = [m.label for m in load_migrations(_engine(config))]
    assert _logged_migrations(result.stderr.decode(), _engine(config)) == labels


@pytest.mark.unmigrated
async def test_chat_serve_logs_each_migration_it_applies(tmp_path, config: Config) -> None:
    instance = await start_instance(config.replace(log_level="INFO"), tmp_path / "serve.log")
    try:
        labels = [m.label for m in load_migrations(_engine(config))]
        assert _logged_migrations(instance.log, _engine(config)) == labels
    finally:
        assert await instance.stop() == 0


# --- a schema newer than the code ---


async def _record_a_newer_migration(config: Config, *, compatible: bool) -> str:
    """Migrate the database, then record a migration after the last this code knows, as a
    newer release would have; its label."""
    async with open_store(config):
        pass
    version = load_migrations(_engine(config))[-1].version + 1
    applied_at = "now()" if config.is_postgres else "0"
    await execute_sql(
        config,
        f"INSERT INTO schema_version (version, name, applied_at, {COMPATIBLE_COLUMN})"
        f" VALUES ({version}, 'from_a_newer_release', {applied_at}, {str(compatible).upper()})",
    )
    return f"{version:04d}_from_a_newer_release"


async def test_an_instance_refuses_a_schema_a_newer_release_migrated_naming_both(
    config: Config,
) -> None:
    newer = await _record_a_newer_migration(config, compatible=False)
    with trio.fail_after(30):
        result = await run_chat("serve", env=chat_environ(config))
    assert result.returncode == 2, result.stderr
    known = load_migrations(_engine(config))[-1].label
    engine = "PostgreSQL" if config.is_postgres else "SQLite"
    assert (
        f"chat: the database's schema is at migration {newer} ({engine}), but this chat"
        f" {chat.__version__} knows migrations up to {known}: a newer release of chat migrated"
        f" it, and {newer} is not declared compatible with older code."
    ) in result.stderr.decode()


async def test_an_instance_serves_a_schema_whose_newer_migrations_are_compatible_and_warns(
    tmp_path, config: Config
) -> None:
    newer = await _record_a_newer_migration(config, compatible=True)
    instance = await start_instance(config, tmp_path / "serve.log")
    try:
        async with http_client(instance.server) as client:
            assert (await client.get("/readyz")).status_code == 200
        assert re.search(
            rf"WARNING +chat\.store: the database's schema is at migration {newer} .*starting"
            rf" anyway, since {newer} is declared compatible with older code",
            instance.log,
        ), instance.log
    finally:
        assert await instance.stop() == 0
    # and left the record as it was
    rows = await select_rows(config, "SELECT max(version) FROM schema_version")
    assert rows == [(int(newer[:4]),)]
