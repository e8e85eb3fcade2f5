"""``chat user ...``: add, list, passwd, delete (erase), export, promote and demote
accounts.

Each command opens the configured database for its own short `trio.run`, so it works
while servers run on the same database, and runs its prompts outside Trio: a prompt
waits for a person, and Ctrl-C there must stop the command at once.

Running servers learn of a change when they next read the user: every HTTP request
and WebSocket handshake does. An open WebSocket session keeps the identity it was
opened with, so what must end one (a new password, a deletion, a demotion) revokes the
user's tokens or removes the user, and the servers close such sessions at their next
revocation sweep (`CHAT_REVOCATION_SWEEP`, 5 s by default).
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from collections.abc import Callable
from datetime import UTC
from typing import Any

import trio

from chat.app.accounts.auth import Passwords
from chat.app.accounts.operations import require_name_free
from chat.core import config as config_module
from chat.core.config import Config
from chat.core.errors import ChatError, NotFound
from chat.core.records import User
from chat.server.operator_audit import operator_entry
from chat.store import open_store, refuse_if_moved

#: How `chat user delete` describes what it does (its --help and its question).
DELETES = (
    "Erases the account: the user's messages become tombstones (shown as deleted, their "
    "text and edits erased), their reactions, files, sessions, push subscriptions and "
    "read markers are removed, they leave every group room (a room they were the last "
    "owner of gets a new one), and their name is held for 30 days. What other people "
    "wrote, in direct conversations and support threads too, stays; so do audit log "
    "entries. Servers running on the database refuse their tokens at once and close "
    "their open sessions at the next revocation sweep (CHAT_REVOCATION_SWEEP); connected "
    "clients see the tombstones when they next load the room."
)

#: What `chat user export` and `delete` read: the database, the files and bcrypt's cost.
DATA_SETTINGS = config_module.PASSWORD_SETTINGS | {"files_url"}


def add_user_parsers(commands: Any) -> None:
    """Add ``chat user``'s actions to `commands` (the ``user`` parser's subparsers), each
    with only the settings it uses and its handler as ``run``."""

    def action(
        name: str,
        run: Callable[[Config, argparse.Namespace], None],
        settings: frozenset[str] = config_module.DATABASE_SETTINGS,
        *,
        changes: bool = False,
        **kwargs: Any,
    ) -> Any:
        parser = commands.add_parser(name, **kwargs)
        parser.set_defaults(run=run)
        config_module.add_flags(parser, only=settings)
        if changes:  # refused on a moved database (`_refuse_if_moved`)
            parser.add_argument(
                "--force-moved",
                action="store_true",
                help="change a SQLite database that chat copy-database has moved to"
                " PostgreSQL (refused otherwise)",
            )
        return parser

    def named(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
        parser.add_argument("name", help="the user's name, matched as at login (Alice is alice)")
        return parser

    def password_stdin(parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--password-stdin",
            action="store_true",
            help="read the password from the first line of standard input instead of a prompt",
        )

    add = action(
        "add", add_user, config_module.PASSWORD_SETTINGS, changes=True, help="create a user"
    )
    add.add_argument("name", help="the user name")
    add.add_argument("--email", help="e-mail address (optional)")
    add.add_argument("--admin", action="store_true", help="make the user an operator")
    password_stdin(add)

    listing = action("list", list_users, help="list every user with their role")
    listing.add_argument("--json", action="store_true", help="print a JSON array instead")

    passwd = named(
        action(
            "passwd",
            change_password,
            config_module.PASSWORD_SETTINGS,
            changes=True,
            help="set a user's password and revoke their tokens",
            description="Set a user's password (asked twice) and revoke every token issued "
            "to them: they log in again, and servers running on the database close their "
            "open sessions at the next revocation sweep (CHAT_REVOCATION_SWEEP).",
        )
    )
    password_stdin(passwd)

    delete = named(
        action(
            "delete",
            delete_user,
            DATA_SETTINGS,
            changes=True,
            help="erase a user's account (their messages become tombstones)",
            description=DELETES,
        )
    )
    delete.add_argument(
        "--erase",
        action="store_true",
        help="erase the account (what delete always does; accepted for clarity)",
    )
    delete.add_argument("--yes", action="store_true", help="do not ask for confirmation")

    export = named(
        action(
            "export",
            export_user,
            DATA_SETTINGS,
            help="write a zip archive of a user's data",
            description="Write a zip archive of everything the user wrote and uploaded, as "
            "GET /me/export serves it: profile.json, messages.jsonl, reactions.jsonl, "
            "read_markers.jsonl, files.jsonl and the files' bytes under files/.",
        )
    )
    export.add_argument(
        "--output", "-o", help="the archive's path (default: standard output, not a terminal)"
    )

    named(action("promote", promote, changes=True, help="make a user an operator (support staff)"))
    named(
        action(
            "2fa-off",
            two_factor_off,
            changes=True,
            help="turn a user's two-factor authentication off (a lost authenticator)",
            description="Turn off the user's two-factor authentication and delete their "
            "recovery codes, for someone who lost both their authenticator and their "
            "recovery codes: their password alone logs in again (and they may enrol anew).",
        )
    )
    named(
        action(
            "demote",
            demote,
            changes=True,
            help="make an operator an ordinary user again",
            description="Make an operator an ordinary user again and revoke their tokens, "
            "so that servers close the sessions they opened as an operator at the next "
            "revocation sweep (CHAT_REVOCATION_SWEEP).",
        )
    )


def _role(user: User) -> str:
    return "operator" if user.is_admin else "user"


#: What a command that needs a password says when nobody can be asked for one.
NO_TERMINAL = (
    "no terminal to ask for the password on: give it on standard input with "
    "--password-stdin (printf '%s\\n' \"$PASSWORD\" | chat user ... --password-stdin)"
)


def _has_terminal() -> bool:
    """True if a prompt can reach a person: getpass asks on the controlling terminal
    (/dev/tty), or on standard input when that is one."""
    if sys.stdin is not None and sys.stdin.isatty():
        return True
    try:
        with open("/dev/tty", "rb"):
            return True
    except OSError:  # no controlling terminal (cron, systemd, a container, CI)
        return False


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if not _has_terminal():
        raise ChatError(NO_TERMINAL)
    try:
        first = getpass.getpass("Password: ")
        if getpass.getpass("Repeat password: ") != first:
            raise ChatError("the passwords do not match")
    except EOFError:  # Ctrl-D at the prompt
        raise ChatError("no password given") from None
    return first


async def _hash_new_password(config: Config, password: str) -> str:
    """`password`, checked against the rules for new ones and hashed (in a thread)."""
    from chat.core.validation import new_password

    new_password(password)
    return await Passwords(config.bcrypt_cost).hash(password)


def _deleted_meanwhile(user: User) -> NotFound:
    """The error for a user found by name and gone when the change came to be stored."""
    return NotFound(f"no user named {user.name!r}")


async def _user_named(config: Config, name: str) -> User:
    """The user `name` logs in as (the exact name, else the one it passes for), or
    `NotFound` saying there is none."""
    from chat.core.names import login_name

    login_name(name)
    async with open_store(config) as store:
        user = await store.user_like_name(name)
    if user is None:
        raise NotFound(f"no user named {name!r}")
    return user


def _refuse_if_moved(config: Config, args: argparse.Namespace) -> None:
    """Before a command changes users: not in a SQLite database that was moved (unless
    ``--force-moved``), where the change would be lost to the chat."""
    if not args.force_moved:
        refuse_if_moved(config)


def add_user(config: Config, args: argparse.Namespace) -> None:
    """``chat user add NAME``."""
    _refuse_if_moved(config, args)
    password = _read_password(args.password_stdin)
    trio.run(_add_user, config, args.name, args.email, args.admin, password)


async def _add_user(
    config: Config, name: str, email: str | None, admin: bool, password: str
) -> None:
    from chat.core.names import new_user_name
    from chat.core.validation import email as valid_email

    name = new_user_name(name)
    clean_email = valid_email(email) if email is not None else None
    password_hash = await _hash_new_password(config, password)
    async with open_store(config) as store:
        await require_name_free(store, name)
        audit = await operator_entry("user-add", details={"Operator": admin})
        user = await store.create_user(
            name, password_hash, email=clean_email, is_admin=admin, audit=audit
        )
    print(f"created {_role(user)} {user.name!r} with id {user.id}")


def list_users(config: Config, args: argparse.Namespace) -> None:
    """``chat user list``: a table, or JSON with ``--json``."""
    users = trio.run(_all_users, config)
    if args.json:
        print(json.dumps([_as_json(user) for user in users], ensure_ascii=False, indent=2))
    else:
        print(format_table(users))


async def _all_users(config: Config) -> list[User]:
    async with open_store(config) as store:
        return await store.users()


def _as_json(user: User) -> dict[str, Any]:
    return {
        "id": user.id,
        "name": user.name,
        "role": _role(user),
        "email": user.email,
        "created_at": user.created_at.isoformat(),
    }


def format_table(users: list[User]) -> str:
    """Users as aligned columns under a header: id, name, role, e-mail, created (UTC)."""
    rows = [("ID", "NAME", "ROLE", "E-MAIL", "CREATED (UTC)")]
    for user in users:
        created = user.created_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M")
        rows.append((str(user.id), user.name, _role(user), user.email or "-", created))
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    lines = []
    for row in rows:
        cells = [
            cell.rjust(widths[0]) if column == 0 else cell.ljust(widths[column])
            for column, cell in enumerate(row)
        ]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def change_password(config: Config, args: argparse.Namespace) -> None:
    """``chat user passwd NAME``."""
    _refuse_if_moved(config, args)
    user = trio.run(_user_named, config, args.name)
    password = _read_password(args.password_stdin)
    trio.run(_set_password, config, user, password)
    print(f"changed the password of {user.name!r}; every token issued before is revoked")


async def _set_password(config: Config, user: User, password: str) -> None:
    password_hash = await _hash_new_password(config, password)
    async with open_store(config) as store:
        audit = await operator_entry("user-password")
        if await store.set_password(user.id, password_hash, audit=audit) is None:
            raise _deleted_meanwhile(user)


def delete_user(config: Config, args: argparse.Namespace) -> None:
    """``chat user delete NAME``: asks first, unless ``--yes``."""
    _refuse_if_moved(config, args)
    user = trio.run(_user_named, config, args.name)
    if not args.yes:
        print(DELETES, file=sys.stderr)
        print(f"Delete {_role(user)} {user.name!r} (id {user.id})? [y/N] ", end="", file=sys.stderr)
        sys.stderr.flush()
        answer = sys.stdin.readline()
        if not sys.stdin.isatty():
            print(file=sys.stderr)  # the answer was not echoed: end the question's line
        if answer.strip().lower() not in {"y", "yes"}:
            raise ChatError(f"{user.name!r} was not deleted")
    trio.run(_delete_user, config, user)
    print(f"deleted {_role(user)} {user.name!r} (id {user.id})")


async def _delete_user(config: Config, user: User) -> None:
    from chat.app.accounts.data import AccountData
    from chat.files.opening import open_storage

    async with open_store(config) as store, open_storage(config) as storage:
        # No bus here: servers find the revoked tokens in the table at their next sweep.
        data = AccountData(store, storage, Passwords(config.bcrypt_cost))
        audit = await operator_entry(
            "user-delete",
            target_id=user.id,
            target_name=user.name,
            details={"Operator": user.is_admin},
        )
        if not await data.erase(user, audit=audit):
            raise _deleted_meanwhile(user)


def export_user(config: Config, args: argparse.Namespace) -> None:
    """``chat user export NAME [--output FILE]``."""
    if args.output is None and sys.stdout.isatty():
        raise ChatError("the archive is binary: give --output FILE, or redirect standard output")
    user = trio.run(_user_named, config, args.name)
    trio.run(_export_user, config, user, args.output)
    if args.output is not None:
        print(f"wrote the data of {user.name!r} (id {user.id}) to {args.output}")


async def _export_user(config: Config, user: User, output: str | None) -> None:
    from chat.app.accounts.data import AccountData
    from chat.files.opening import open_storage

    async with open_store(config) as store, open_storage(config) as storage:
        data = AccountData(store, storage, Passwords(config.bcrypt_cost))
        chunks = data.start_export(user)
        if output is None:
            out = trio.wrap_file(sys.stdout.buffer)
            async for chunk in chunks:
                await out.write(chunk)
            await out.flush()
            return
        path = trio.Path(output)
        try:
            async with await path.open("wb") as file:
                async for chunk in chunks:
                    await file.write(chunk)
        except BaseException:
            # No half archive left behind under the name asked for.
            with trio.CancelScope(shield=True):
                await path.unlink(missing_ok=True)
            raise


def promote(config: Config, args: argparse.Namespace) -> None:
    """``chat user promote NAME``: make the user an operator (idempotent). It counts from
    the user's next request, and for WebSocket sessions from their next connection."""
    _refuse_if_moved(config, args)
    _set_admin(config, args.name, True)


def demote(config: Config, args: argparse.Namespace) -> None:
    """``chat user demote NAME``: make the operator an ordinary user (idempotent), and
    revoke their tokens: an open session keeps the role it was opened with, so the
    revocation sweep must close it."""
    _refuse_if_moved(config, args)
    _set_admin(config, args.name, False)


def _set_admin(config: Config, name: str, is_admin: bool) -> None:
    user = trio.run(_user_named, config, name)
    if user.is_admin == is_admin:
        print(f"{user.name!r} is already {'an operator' if is_admin else 'an ordinary user'}")
        return
    trio.run(_store_admin, config, user, is_admin)
    if is_admin:
        print(f"{user.name!r} is now an operator")
    else:
        print(f"{user.name!r} is no longer an operator; every token issued before is revoked")


async def _store_admin(config: Config, user: User, is_admin: bool) -> None:
    async with open_store(config) as store:
        audit = await operator_entry("user-promote" if is_admin else "user-demote")
        if await store.set_admin(user.id, is_admin, audit=audit) is None:
            raise _deleted_meanwhile(user)
        if not is_admin:
            # After the role is stored: a token issued from here on is an ordinary
            # user's, and every session opened before is closed at the next sweep.
            await store.revoke_tokens(user.id)


def two_factor_off(config: Config, args: argparse.Namespace) -> None:
    """``chat user 2fa-off NAME``: remove the user's second factor, audited."""
    _refuse_if_moved(config, args)
    user = trio.run(_user_named, config, args.name)
    if trio.run(_two_factor_off, config, user):
        print(f"two-factor authentication of {user.name!r} is off")
    else:
        print(f"{user.name!r} has no two-factor authentication on")


async def _two_factor_off(config: Config, user: User) -> bool:
    async with open_store(config) as store:
        audit = await operator_entry("2fa-disable", target_id=user.id, target_name=user.name)
        return await store.disable_two_factor(user.id, audit)
