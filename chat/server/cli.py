"""The ``chat`` command: ``chat serve``, ``chat migrate``, ``chat user ...``
(chat/server/user_commands.py), ``chat backup`` and ``chat restore`` (chat/server/backups/),
``chat copy-database`` (chat/server/copy_database/command.py), ``chat --version``.

Each command has the flags of the settings it uses only (``chat serve`` has them all);
every setting can still come from its ``CHAT_*`` variable.
"""

from __future__ import annotations

import argparse
import functools
import logging
import os
import signal
import sys
from collections.abc import AsyncIterator, Sequence
from typing import NoReturn

import trio

from chat.core import config as config_module
from chat.core.config import Config, ConfigError
from chat.core.errors import (
    AlreadyServed,
    ChatError,
    DatabaseMoved,
    MissingSchema,
    SchemaTooNew,
)
from chat.server import garbage_collection, memory_snapshots
from chat.server.audit_command import add_audit_parser
from chat.server.backups.command import add_backup_parsers
from chat.server.copy_database.command import add_copy_parser
from chat.server.user_commands import add_user_parsers
from chat.server.version import build_info
from chat.store import describe_database, open_store

log = logging.getLogger("chat")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="chat",
        description="A real-time chat server: HTTP and WebSocket on one port, "
        "history in SQLite (default) or PostgreSQL.",
    )
    parser.add_argument(
        "-V", "--version", action=_VersionAction, help="show the version (and git commit) and exit"
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve_parser = commands.add_parser("serve", help="run the server")
    config_module.add_flags(serve_parser)
    # Plumbing between `chat serve --workers N` and its worker processes (chat.server.workers).
    serve_parser.add_argument(
        "--force-moved",
        action="store_true",
        help="serve a SQLite database that chat copy-database has moved to PostgreSQL"
        " (refused otherwise: two databases would split the chat)",
    )
    serve_parser.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    serve_parser.add_argument("--ready-fd", type=int, help=argparse.SUPPRESS)
    serve_parser.add_argument("--lifeline-fd", type=int, help=argparse.SUPPRESS)

    migrate_parser = commands.add_parser("migrate", help="apply database migrations and exit")
    config_module.add_flags(migrate_parser, only=config_module.DATABASE_SETTINGS)
    migrate_parser.add_argument(
        "--create-schema",
        action="store_true",
        help="PostgreSQL: create the search_path's schema if it does not exist",
    )

    user_parser = commands.add_parser("user", help="manage users and operators")
    add_user_parsers(
        user_parser.add_subparsers(dest="user_command", required=True, metavar="ACTION")
    )
    add_audit_parser(commands)
    add_backup_parsers(commands)
    add_copy_parser(commands)
    return parser


class _VersionAction(argparse.Action):
    """``chat --version``: the release and, from a checkout, its commit (git is asked only
    when the flag is given)."""

    def __init__(self, option_strings: Sequence[str], dest: str, help: str | None = None) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, help=help)

    def __call__(self, parser: argparse.ArgumentParser, *args: object) -> NoReturn:
        print(f"chat {build_info().version}")
        parser.exit()


def _setup_logging(config: Config, worker: int | None = None) -> None:
    from chat.core.logs import setup_logging  # chat/core/logs.py holds the set-up and the formats

    setup_logging(config.log_level, log_format=config.log_format, worker=worker)


def _first_error(
    error: BaseException, types: tuple[type[BaseException], ...]
) -> BaseException | None:
    """The first exception of `types` in `error`, looking inside exception groups."""
    if isinstance(error, types):
        return error
    if isinstance(error, BaseExceptionGroup):
        for inner in error.exceptions:
            found = _first_error(inner, types)
            if found is not None:
                return found
    return None


async def _next_signal(signals: AsyncIterator[int]) -> int:
    """The next SIGINT or SIGTERM from `signals`."""
    async for signum in signals:
        return signum
    raise AssertionError("a signal receiver never ends")


async def _until_signalled(signals: AsyncIterator[int]) -> None:
    """Return at the first SIGINT or SIGTERM: the graceful shutdown begins (with the
    drain, CHAT_DRAIN_SECONDS)."""
    signum = await _next_signal(signals)
    log.info("%s received: shutting down", signal.Signals(signum).name)


def _stop_at_once(signum: int) -> NoReturn:
    """The second signal: end the process at once, killed by that signal (as by one that
    arrives with no handler), however far the graceful shutdown got."""
    log.warning("%s received again: stopping at once", signal.Signals(signum).name)
    signal.signal(signum, signal.SIG_DFL)
    signal.raise_signal(signum)
    os._exit(128 + signum)  # not reached: the default action of both ends the process


async def _until_supervisor_gone(lifeline_fd: int) -> None:
    """Return when the supervisor is gone: the lifeline pipe, which only it could write
    to (and never does), reports end-of-file."""
    async with trio.lowlevel.FdStream(lifeline_fd) as lifeline:
        while await lifeline.receive_some(64):
            pass
    log.warning("the supervisor is gone: shutting down")


async def _serve_until_signalled(config: Config, args: argparse.Namespace | None = None) -> None:
    """`chat serve`, alone or as one of `--workers` (then `args` carries the plumbing)."""
    worker = args is not None and args.worker is not None
    serving = trio.CancelScope()  # around `serve`: cancelling it is the graceful shutdown

    # Imported here: the web stack (Quart, Hypercorn) costs the other commands, which
    # run as short processes, about 0.4 s of a start-up they would not use.
    from chat.server.serving import serve

    async def run_serve() -> None:
        with serving:
            # Holds `serve` alone, so that this task can say "ready" once it listens.
            async with trio.open_nursery() as server:
                await server.start(
                    functools.partial(
                        serve,
                        config,
                        reuse_port=worker,
                        force_moved=args is not None and args.force_moved,
                    )
                )
                garbage_collection.tune()
                if worker:
                    assert args is not None
                    os.write(args.ready_fd, b"ready\n")
                    os.close(args.ready_fd)
        nursery.cancel_scope.cancel()  # shut down (or cancelled while starting): done

    async def watch_signals() -> None:
        await _until_signalled(signals)
        serving.cancel()
        _stop_at_once(await _next_signal(signals))

    async def watch_supervisor(lifeline_fd: int) -> None:
        await _until_supervisor_gone(lifeline_fd)
        serving.cancel()

    # Signals are received from the start (a signal while starting stops the start too):
    # the first begins the graceful shutdown, a second (during a drain, say) stops the
    # process at once.
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        # Holds `serve` (in `serving`) and what ends it: the first SIGINT or SIGTERM, or,
        # for a worker, the supervisor's disappearance, cancels `serving`; once `serve`
        # has returned, `run_serve` cancels the watchers (and the snapshot writer, which
        # CHAT_TRACEMALLOC adds: it writes one at each SIGUSR2).
        async with trio.open_nursery() as nursery:
            nursery.start_soon(watch_signals)
            if worker:
                assert args is not None
                nursery.start_soon(watch_supervisor, args.lifeline_fd)
            if config.tracemalloc_dir is not None:
                memory_snapshots.start()
                await nursery.start(memory_snapshots.run, config.tracemalloc_dir)
            nursery.start_soon(run_serve)
    log.info("stopped")


async def _supervise_until_signalled(config: Config) -> bool:
    """`chat serve --workers N`; True if every worker drained cleanly."""
    from chat.server.workers import Supervisor

    supervisor = Supervisor(config)
    supervising = trio.CancelScope()  # around the supervisor: cancelling it stops the workers

    async def run_supervisor() -> None:
        with supervising:
            await supervisor.run()
        nursery.cancel_scope.cancel()  # every worker stopped

    async def watch_signals() -> None:
        await _until_signalled(signals)
        supervising.cancel()
        signum = await _next_signal(signals)
        log.warning("%s received again: stopping the workers at once", signal.Signals(signum).name)
        supervisor.stop_at_once()

    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        # Holds the supervisor and what ends it: the first SIGINT or SIGTERM cancels
        # `supervising`, which stops (drains) the workers gracefully; a second is passed
        # on to the workers, which then stop at once, and so does the supervisor.
        async with trio.open_nursery() as nursery:
            nursery.start_soon(watch_signals)
            nursery.start_soon(run_supervisor)
    log.info("stopped (%d workers)", len(supervisor.workers))
    return supervisor.clean_exit


async def _migrate(config: Config, create_schema: bool) -> None:
    async with open_store(config, create_schema=create_schema) as store:
        applied = getattr(store, "applied_migrations", [])
        where = describe_database(config)
        if applied:
            print(f"{where}: applied {', '.join(applied)}")
        else:
            print(f"{where}: already up to date")


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        config = config_module.load(flags=args)
    except ConfigError as error:
        print(f"chat: {error}", file=sys.stderr)
        return 2
    _setup_logging(config, getattr(args, "worker", None))
    try:
        if args.command == "serve" and config.workers > 1 and args.worker is None:
            if not trio.run(_supervise_until_signalled, config):
                return 1
        elif args.command == "serve":
            trio.run(_serve_until_signalled, config, args)
        elif args.command == "migrate":
            trio.run(_migrate, config, args.create_schema)
        elif args.command in ("user", "audit", "backup", "restore"):
            args.run(config, args)
        elif args.command == "copy-database":
            return int(args.run(config, args))
    except KeyboardInterrupt:
        print("chat: interrupted", file=sys.stderr)
        return 130
    except BaseException as error:
        expected = _first_error(error, (ChatError, OSError))
        if expected is None:
            # A bug (no client can cause one: the root tasks contain their failures,
            # chat/core/task_failures.py): say what stopped the instance in one line, with
            # the traceback for the report, and exit non-zero for the supervisor.
            cause = error
            while isinstance(cause, BaseExceptionGroup) and cause.exceptions:
                cause = cause.exceptions[0]
            log.critical(
                "stopped by an unexpected error: %s: %s",
                type(cause).__name__,
                cause,
                exc_info=error,
            )
            return 1
        print(f"chat: {_describe(expected, config)}", file=sys.stderr)
        # Serving a SQLite file another server serves or that was moved, a schema that
        # does not exist, or one a newer release migrated, is a configuration error.
        configuration = (AlreadyServed, DatabaseMoved, MissingSchema, SchemaTooNew)
        return 2 if isinstance(expected, configuration) else 1
    return 0


def _describe(error: BaseException, config: Config) -> str:
    if isinstance(error, OSError) and not isinstance(error, ChatError):
        if error.filename:
            return f"{error.filename}: {error.strerror or error}"
        return f"cannot listen on {config.host}:{config.port}: {error.strerror or error}"
    return str(error)
