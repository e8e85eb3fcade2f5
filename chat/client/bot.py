"""`Bot`: answer ``!commands`` and mentions in a chat, on top of `ChatClient`.

Register handlers, then run the bot in its rooms::

    bot = Bot(chat)

    @bot.command("!echo")
    async def echo(request: BotRequest) -> str:
        return request.args

    @bot.on_mention
    async def hello(request: BotRequest) -> str:
        return f"hello {request.message.username}"

    await bot.run()          # every room the bot is in; runs until cancelled

A message whose first word is a registered command (compared case aside: ``!Echo hi``
is ``!echo`` with the arguments ``hi``) goes to that command's handler; otherwise a
message mentioning the bot (``@name``: the server lists who a message mentions) goes to
the mention handler. What a handler returns (a string, or None for nothing) is posted in
the room as a reply to the message; `BotRequest.reply` posts more. Replies carry a
``ClientMsgID`` made from the message's id, so a message handled twice (the bot
restarted and resumed before it) is answered once. The bot never answers itself, nor
other bots unless told to (two bots answering each other would never stop).

Resource handling: `Bot.run` owns a task group for as long as it runs: one task per
room, reading its event stream (`chat.client.room_events`), and one per message being
handled, at most ``max_concurrent_handlers`` at once (past that a room's reading waits
for a handler to finish). Cancelling `run` cancels them all.

Error handling: a handler that raises is logged (the ``chat.client.bot`` logger) and
the bot goes on. A bot removed from a room stops listening there; an error ending a
room's stream (credentials refused, a room it may not enter) ends `run` with it.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

import anyio
import anyio.abc

from chat.client.client import ChatClient
from chat.client.records import Message

logger = logging.getLogger(__name__)


@dataclass
class BotRequest:
    """A message the bot was asked something by: a command (``command`` is its name,
    ``args`` the text after it) or a mention (``command`` None, ``args`` the whole
    text)."""

    client: ChatClient
    message: Message
    command: str | None
    args: str
    _replies: int = field(default=0, init=False, repr=False)

    async def reply(self, text: str) -> Message:
        """Post ``text`` in the message's room, as a reply to it (in its thread, if it
        is in one). Safe to repeat: the n-th reply to a message has one ClientMsgID."""
        self._replies += 1
        message = self.message
        return await self.client.send(
            message.room_id,
            text,
            client_msg_id=f"bot-reply-{message.message_id}-{self._replies}",
            reply_to=message.message_id if message.thread_id is None else None,
            thread_id=message.thread_id,
        )


Handler = Callable[[BotRequest], Awaitable[str | None]]


class Bot:
    """Handlers for commands and mentions, and `run`, which listens in rooms and calls
    them."""

    def __init__(
        self,
        client: ChatClient,
        *,
        max_concurrent_handlers: int = 8,
        answer_bots: bool = False,
    ) -> None:
        self.client = client
        self.max_concurrent_handlers = max_concurrent_handlers
        self.answer_bots = answer_bots
        self._commands: dict[str, Handler] = {}
        self._on_mention: Handler | None = None

    def command(self, name: str) -> Callable[[Handler], Handler]:
        """A decorator: the handler of messages starting with ``name`` (``!deploy``). A
        word starting with ``/`` is the server's (its built-in and registered slash
        commands never reach the room): a bot's commands start otherwise."""
        if not name or any(c.isspace() for c in name):
            raise ValueError(f"a command is one word, not {name!r}")
        if name.startswith("/"):
            raise ValueError(
                f"{name!r}: a word starting with / is a slash command, which the server"
                " answers itself; start a bot's command otherwise, like !deploy"
            )

        def register(handler: Handler) -> Handler:
            self._commands[name.casefold()] = handler
            return handler

        return register

    def on_mention(self, handler: Handler) -> Handler:
        """A decorator: the handler of messages that mention the bot."""
        self._on_mention = handler
        return handler

    def request_for(self, message: Message) -> tuple[Handler, BotRequest] | None:
        """The handler a message goes to, and its request; None for a message the bot
        leaves alone (its own, another bot's, a deleted one, one that asks nothing)."""
        if message.uid == self.client.me.uid or message.deleted:
            return None
        if message.from_bot and not self.answer_bots:
            return None
        words = message.text.split(None, 1)
        handler = self._commands.get(words[0].casefold()) if words else None
        if handler is not None:
            args = words[1].strip() if len(words) > 1 else ""
            return handler, BotRequest(self.client, message, words[0], args)
        if self._on_mention is not None and self.client.me.uid in message.mentions:
            return self._on_mention, BotRequest(self.client, message, None, message.text)
        return None

    async def handle(self, message: Message) -> None:
        """Run the handler a message goes to, if any, and post its answer. A handler's
        failure is logged, not raised: one bad message must not stop the bot."""
        found = self.request_for(message)
        if found is None:
            return
        handler, request = found
        try:
            answer = await handler(request)
            if answer:
                await request.reply(answer)
        except Exception:  # a handler's failure must not end the bot: logged, and on
            logger.exception(
                "the handler of message %d in room %d failed", message.message_id, message.room_id
            )

    async def run(
        self,
        rooms: Sequence[int] | None = None,
        *,
        task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
    ) -> None:
        """Listen in ``rooms`` (default: every room the bot is in now) and answer, until
        cancelled. ``task_status.started()`` is called once every room's stream has
        entered its room: from then on no message is missed."""
        if rooms is None:
            rooms = [room.room_id for room in await self.client.rooms()]
        handlers = anyio.Semaphore(self.max_concurrent_handlers)
        # Holds one task per room's stream and one per message being handled; ends when
        # cancelled, or when a stream ends with an error (which cancels the others).
        async with anyio.create_task_group() as tasks:
            for room_id in rooms:
                await tasks.start(self._listen, room_id, tasks, handlers)
            task_status.started()

    async def _listen(
        self,
        room_id: int,
        tasks: anyio.abc.TaskGroup,
        handlers: anyio.Semaphore,
        *,
        task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
    ) -> None:
        async with self.client.events(room_id) as events:
            task_status.started()
            async for event in events:
                if not isinstance(event, Message) or self.request_for(event) is None:
                    continue
                # Waits while max_concurrent_handlers are running: the stream's frames
                # wait in the socket meanwhile (the server's queue bounds them).
                await handlers.acquire()
                tasks.start_soon(self._handle_then_release, event, handlers)

    async def _handle_then_release(self, message: Message, handlers: anyio.Semaphore) -> None:
        try:
            await self.handle(message)
        finally:
            handlers.release()
