"""``chat audit``: the audit log, newest first, from the command line: running rooms
(moderators' actions, retention) and the operators' commands (users added, deleted,
promoted, demoted, passwords set, restores, copies to PostgreSQL), one line per entry
(or JSON with ``--json``), read from the database the server uses (it may be running)."""

from __future__ import annotations

import argparse
import json
from typing import Any

import trio

from chat.core import shapes
from chat.core.config import DATABASE_SETTINGS, Config, add_flags
from chat.core.moderation_records import NOT_A_USER, AuditEntry
from chat.store import open_store

#: The most entries one run prints.
MAX_ENTRIES = 10_000


def add_audit_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "audit", help="print the audit log of moderators' and operators' actions"
    )
    add_flags(parser, only=DATABASE_SETTINGS)
    parser.add_argument(
        "--room", type=int, metavar="ROOM_ID", help="one room's entries only (default: all)"
    )
    parser.add_argument(
        "--limit", type=int, default=50, metavar="N", help="at most N entries (default 50)"
    )
    parser.add_argument(
        "--before", type=int, metavar="AUDIT_ID", help="entries older than this one"
    )
    parser.add_argument("--json", action="store_true", help="JSON instead of lines")
    parser.set_defaults(run=print_audit)


def print_audit(config: Config, args: argparse.Namespace) -> None:
    if not 1 <= args.limit <= MAX_ENTRIES:
        raise SystemExit(f"chat: --limit must be from 1 to {MAX_ENTRIES}")
    entries = trio.run(_entries, config, args.room, args.before, args.limit)
    if args.json:
        print(
            json.dumps(
                [shapes.audit_entry(entry) for entry in entries], ensure_ascii=False, indent=2
            )
        )
        return
    if not entries:
        print("no entries")
    for entry in entries:
        print(format_entry(entry))


async def _entries(
    config: Config, room_id: int | None, before: int | None, limit: int
) -> list[AuditEntry]:
    async with open_store(config) as store:
        return await store.audit_entries(room_id, before=before, limit=limit)


def format_entry(entry: AuditEntry) -> str:
    """One line: when, where (a room, or the whole server), what, who, whom, why, and
    the details."""
    assert entry.created_at is not None
    actor = f"by {entry.actor_name!r}"
    if entry.actor_id != NOT_A_USER:
        actor += f" (UID {entry.actor_id})"
    parts = [
        f"#{entry.id}",
        shapes.timestamp(entry.created_at),
        "server" if entry.room_id is None else f"room {entry.room_id}",
        entry.action,
        actor,
    ]
    if entry.target_id is not None:
        parts.append(f"on {entry.target_name!r} (UID {entry.target_id})")
    if entry.message_id is not None:
        parts.append(f"message {entry.message_id}")
    if entry.reason:
        parts.append(f"reason {entry.reason!r}")
    if entry.details:
        parts.append(json.dumps(entry.details, ensure_ascii=False, sort_keys=True))
    return "  ".join(parts)
