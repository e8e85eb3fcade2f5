"""Saved messages: anyone keeps messages for themselves, and reads them back as a list,
newest saved first (``/me/saved``).

A user may save any message they may read (the lobby's, their rooms', and for operators
every support thread's); a message that does not exist and one they may not read get the
same answer (`NotFound`), so saving never tells a stranger that a message exists. The
list shows a saved message while it is not deleted and its room is still theirs to read:
the store decides it when the list is read (`chat.store.saved_messages`), so a deletion,
a removal, a ban or leaving a private room takes it out at once, on every instance. A
user keeps at most `MOST_SAVED`.

Each save and unsave tells the user's connections, on every instance (``{"Type":
"saved", "MessageID", "Saved"}``, through `chat.app.people.user_notices`), so their
other browsers mark the message at once; the list itself is in the database for a
reload.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from chat.core.errors import Conflict, InvalidInput, NotFound
from chat.store.saved_messages import Saving

if TYPE_CHECKING:
    from chat.app.people.user_notices import UserNotices
    from chat.core.records import Identity, SavedMessage
    from chat.store import Saved

#: The most messages one user keeps saved.
MOST_SAVED = 1000
#: A page of the list: its size by default, and at most.
DEFAULT_PAGE = 50
MAX_PAGE = 100


def _unknown(message_id: int) -> NotFound:
    return NotFound(f"no message {message_id} that you may read")


class SavedMessages:
    """Saving and unsaving messages, and the list (`ChatService.saved`). Starts no task."""

    def __init__(self, store: Saved, notices: UserNotices) -> None:
        self._store = store
        self._notices = notices

    async def save(self, identity: Identity, message_id: int) -> None:
        """Save a message the caller may read; saving it again changes nothing. Raises
        `NotFound` for one they may not read (or none), `Conflict` past `MOST_SAVED`."""
        saving = await self._store.save_message(
            identity.user_id, message_id, admin=identity.is_admin, most=MOST_SAVED
        )
        if saving is Saving.NOT_FOUND:
            raise _unknown(message_id)
        if saving is Saving.FULL:
            raise Conflict(
                f"you have saved {MOST_SAVED} messages, the most one may keep:"
                " unsave some to save more"
            )
        await self._tell(identity.user_id, message_id, saved=True)

    async def unsave(self, identity: Identity, message_id: int) -> None:
        """Forget the caller's saving of a message (unsaving one not saved changes
        nothing). Raises `NotFound` for a message they may not read (or none), after
        forgetting it all the same: the row is theirs."""
        if not await self._store.unsave_message(
            identity.user_id, message_id, admin=identity.is_admin
        ):
            raise _unknown(message_id)
        await self._tell(identity.user_id, message_id, saved=False)

    async def page(
        self, identity: Identity, *, before: int | None, limit: int = DEFAULT_PAGE
    ) -> list[SavedMessage]:
        """The caller's saved messages that show, newest saved first, below SavedID
        `before` (the next page), at most `limit` (1 to `MAX_PAGE`)."""
        if not 1 <= limit <= MAX_PAGE:
            raise InvalidInput(f"limit must be a whole number from 1 to {MAX_PAGE}")
        return await self._store.saved_messages(
            identity.user_id, admin=identity.is_admin, before=before, limit=limit
        )

    async def ids(self, identity: Identity) -> list[int]:
        """The ids of every saved message of the caller's that shows (at most
        `MOST_SAVED`), newest saved first: what a client marks as saved."""
        return await self._store.saved_message_ids(identity.user_id, admin=identity.is_admin)

    async def _tell(self, user_id: int, message_id: int, *, saved: bool) -> None:
        frame = {"Type": "saved", "MessageID": message_id, "Saved": saved}
        await self._notices.send(user_id, frame)
