"""Domain errors: what went wrong, in words a client can act on.

The core raises these; each protocol adapter turns them into its own shape (an HTTP
status with a JSON body, an error frame on a WebSocket). None of them is a bug: a bug is
any other exception, which the adapters log and answer with a generic "internal error".
"""

from __future__ import annotations


class ChatError(Exception):
    """Base class. ``str(error)`` is the message shown to the client."""

    #: Seconds after which trying again may succeed (HTTP's Retry-After), if known.
    retry_after: int | None = None


class InvalidInput(ChatError):
    """A request is malformed or a value is out of bounds (HTTP 400)."""


class InvalidCredentials(ChatError):
    """Unknown user or wrong password; deliberately the same error for both (HTTP 401)."""

    def __init__(self) -> None:
        super().__init__("invalid credentials")


class CodeNeeded(InvalidCredentials):
    """The password was right, but the account has two-factor authentication on: no code
    was sent, or the one sent is wrong or was used already (HTTP 401 with
    ``"NeedsCode": true``; counted as a failed login when a code was wrong)."""

    def __init__(self, message: str) -> None:
        ChatError.__init__(self, message)


class InvalidToken(ChatError):
    """A token is missing, malformed, forged, expired or names an unknown user (HTTP 401)."""


class NotAuthenticated(ChatError):
    """The request needs an authenticated user and has none (HTTP 401)."""


class Forbidden(ChatError):
    """The user is known but may not do this (HTTP 403): a private room they are not in,
    a room they did not create."""


#: Why a deactivated account's token or session is refused: the HTTP 401's error, the
#: WebSocket close frame's reason.
ACCOUNT_DEACTIVATED = "account deactivated"


class AccountDeactivated(Forbidden):
    """The right password of an account an operator deactivated (HTTP 403): said only
    once the password proved right, so it tells a guesser nothing."""

    def __init__(self) -> None:
        super().__init__("this account is deactivated: an operator can reactivate it")


class NotFound(ChatError):
    """No such user or room (HTTP 404)."""


class Gone(NotFound):
    """What a request refers to was deleted meanwhile: the account of a client still
    connected, a room (HTTP 404). The database's foreign keys catch it."""

    def __init__(self, what: str = "the account or the room this refers to") -> None:
        super().__init__(f"{what} no longer exists")


class AccountErased(ChatError):
    """What a request is addressed to is an erased account: a direct message to it, or
    opening a conversation with it (HTTP 410). Its conversation stays, for its history."""

    def __init__(self, user_id: int) -> None:
        super().__init__(
            f"UID {user_id}'s account was deleted: the conversation is closed,"
            " nobody can write to them any more"
        )


class Conflict(ChatError):
    """A unique value (a user name, an e-mail address) is already taken, or the request
    contradicts the state it would change (the last owner stepping down) (HTTP 409)."""


class LastOwner(Conflict):
    """A change that would leave a group room with members but no owner
    (`chat.app.rooms.moderation` words it for whoever asked)."""


class RoomArchived(Conflict):
    """A change to an archived room: sends, edits, reactions, pins, joins (HTTP 409). Its
    owners may unarchive it (`chat.app.rooms.lifecycle`)."""

    def __init__(self, room_id: int) -> None:
        super().__init__(
            f"room {room_id} is archived: it is read-only until its owners unarchive it"
        )
        self.room_id = room_id


class NameTaken(Conflict):
    """`name`, or a name too like it: `existing` is the one it was mistaken for, when
    the two differ (in case, or by look-alike letters: see chat.core.names)."""

    def __init__(self, name: str, existing: str | None = None) -> None:
        if existing is None or existing == name:
            super().__init__(f"user name {name!r} is already taken")
        else:
            super().__init__(f"user name {name!r} is already taken: it looks like {existing!r}")


class DisplayNameTaken(Conflict):
    """A display name that is, or looks like, another user's name (login or display:
    chat.core.names' keys); `existing` is the login name of the user it looks like."""

    def __init__(self, name: str, existing: str | None) -> None:
        like = f": it looks like {existing!r}'s name" if existing else ""
        super().__init__(f"the display name {name!r} is too like another user's name{like}")


class NameHeld(Conflict):
    """`name`, or a name too like it, was released by an erased account and is held until
    `until` (`chat.app.accounts.data`), so that nobody takes it at once."""

    def __init__(self, name: str, until: str) -> None:
        super().__init__(
            f"user name {name!r} was released recently, when its account was deleted, and"
            f" is held until {until}: choose another name"
        )


class EmailTaken(Conflict):
    def __init__(self) -> None:
        super().__init__("email already registered")


class RoomNameTaken(Conflict):
    """A public group room has this name already (private rooms' names are nobody
    else's business: they never collide, see sql/*/*_room_moderation.sql)."""

    def __init__(self, name: str) -> None:
        super().__init__(f"a public room named {name!r} exists already")


class TooLarge(ChatError):
    """An upload is over a limit: the largest file, or the user's quota (HTTP 413)."""


class TooCostly(ChatError):
    """The request was understood, but the work it asks for took longer than the server
    allows and was stopped (HTTP 422): a search for text that too many messages almost
    contain. Asking for something narrower succeeds; the same request will not."""


#: How long a client is asked to wait before trying again after `Unavailable` (the
#: ``Retry-After`` of an HTTP 503): about what a database restart takes.
RETRY_AFTER_S = 5

#: What a client is told when the database is away; the cause is for the log only.
DATABASE_UNAVAILABLE = "database unavailable"


class Unavailable(ChatError):
    """The server cannot serve the request right now: it is shutting down, or the
    database does not answer (HTTP 503). Nothing is wrong with the request: the same
    request may succeed in a few seconds (`RETRY_AFTER_S`).

    ``str(error)`` is safe to show a client. `detail`, if set, says what exactly failed
    (it may name hosts, ports, files or server messages) and belongs in the log only.
    """

    retry_after: int | None = RETRY_AFTER_S

    def __init__(self, message: str = DATABASE_UNAVAILABLE, *, detail: str | None = None) -> None:
        super().__init__(message)
        self.detail = detail


class RateLimited(ChatError):
    """The client did something too often (HTTP 429 with Retry-After)."""

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Overloaded(Unavailable):
    """Too much work is already waiting (the bcrypt queue is full): HTTP 503."""

    retry_after = 1


class AlreadyServed(ChatError):
    """Another process already serves this SQLite database (SQLite serves one instance).
    `chat serve` exits with code 2, as for a setting it cannot use."""


class DatabaseMoved(ChatError):
    """The SQLite database was copied to PostgreSQL (`chat copy-database` marked it
    moved), so serving it or changing its users would split the chat in two. `chat serve`
    exits with code 2, as for a setting it cannot use; ``--force-moved`` overrides."""


class MissingSchema(ChatError):
    """The PostgreSQL database has none of the schemas its search_path names, so there is
    nowhere to create the tables. `chat serve` and `chat migrate` exit with code 2, as for
    a setting they cannot use; `chat migrate --create-schema` creates it."""


class SchemaTooNew(ChatError):
    """The database holds migrations this code does not know (a newer release applied
    them), and not every one of them is declared compatible with older code
    (`chat.store.migrations`). `chat serve` and `chat migrate` refuse to start on it and
    exit with code 2: the message names the database's migration and this release's."""
