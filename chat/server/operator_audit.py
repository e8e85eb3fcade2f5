"""The audit entries of operators' commands (`chat user ...`, `chat restore`, `chat
copy-database`): server-wide (no room), by no user of the chat but by the system account
that ran the command, named "operator:<login>" (its UID when the system has no name for
it, in a container say)."""

from __future__ import annotations

import os
import pwd
from typing import Any

import trio

from chat.core.moderation_records import NOT_A_USER, AuditEntry

#: What every operator's name in the log starts with (the entry's actor_id, NOT_A_USER,
#: is what tells it from a user's).
OPERATOR_PREFIX = "operator:"


def operator_name() -> str:
    """The system account running this command, as the log names it."""
    uid = os.getuid()
    try:
        login = pwd.getpwuid(uid).pw_name
    except KeyError:  # no entry in the password database
        login = f"uid {uid}"
    return OPERATOR_PREFIX + login


async def operator_entry(
    action: str,
    *,
    target_id: int | None = None,
    target_name: str | None = None,
    details: dict[str, Any] | None = None,
) -> AuditEntry:
    """An entry for `action` taken by this command's operator, for the whole server (the
    account's name is looked up in a thread: the lookup may ask a directory service)."""
    return AuditEntry(
        room_id=None,
        action=action,
        actor_id=NOT_A_USER,
        actor_name=await trio.to_thread.run_sync(operator_name),
        target_id=target_id,
        target_name=target_name,
        details=details or {},
    )
