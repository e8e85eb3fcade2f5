"""A message on its way to the database (`chat.app.messages.writer`), as its sender's handler
holds it: waiting for the commit, or going on and being told of a failure later."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import trio

from chat.core.outgoing import OutgoingMessage
from chat.core.records import Message, Room


@dataclass(eq=False, slots=True)
class PendingMessage:
    """A message on its way to the database: `done` is set once it is committed (and
    published) or has failed. `on_error`, if given, is called in the writer task when it
    fails, and `on_resent` when it turned out to be a resend of a stored message (its
    original is then `message`): neither may block (see `ClientSession.send_nowait`)."""

    room: Room
    sender_id: int
    #: What it says, checked (`chat.app.service.ChatService.post`), its mentions found.
    outgoing: OutgoingMessage
    #: The subscriber it is not delivered to (`chat.app.messages.broadcaster.Event.skip`).
    skip: int | None
    on_error: Callable[[BaseException], None] | None = None
    on_resent: Callable[[Message], None] | None = None
    done: trio.Event = field(default_factory=trio.Event)
    message: Message | None = None
    #: True if the sender had already stored this `client_msg_id` in this room.
    resent: bool = False
    error: BaseException | None = None

    async def result(self) -> Message:
        """The stored message (the original, for a resend) once committed; raises the
        error if it failed."""
        await self.done.wait()
        if self.error is not None:
            raise self.error
        assert self.message is not None
        return self.message

    def _fail(self, error: BaseException) -> None:
        self.error = error
        if self.on_error is not None:
            self.on_error(error)

    def _stored(self, message: Message, *, new: bool) -> None:
        self.message = message
        if not new:
            self.resent = True
            if self.on_resent is not None:
                self.on_resent(message)
