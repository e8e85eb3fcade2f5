"""The chat core: the operations every protocol adapter shares.

HTTP routes and WebSocket dialects are thin adapters that parse their own wire format,
call these methods, and shape the answer. Rules live here once: how a name or a text is
validated, how credentials are checked, who may read or write which room, that a
message is committed before anyone is told about it, and who is told.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import partial
from typing import TYPE_CHECKING, Protocol

import trio

from chat.app.accounts.api_tokens import ApiTokenService
from chat.app.accounts.auth import Passwords, Tokens
from chat.app.accounts.bots import BotService
from chat.app.accounts.invites import InviteService
from chat.app.accounts.operations import AccountOperations
from chat.app.accounts.revocations import Revocations
from chat.app.accounts.two_factor import TwoFactorService
from chat.app.commands.calls import CommandCalls
from chat.app.commands.dispatch import SlashCommands
from chat.app.console import OperatorConsole
from chat.app.history.backlog import MAX_RESUME, Backlog, backlog_of
from chat.app.history.from_memory import HistoryFromMemory
from chat.app.history.pages import MAX_PAGE, MessagePages
from chat.app.limits.rate_limits import RateLimits
from chat.app.messages import mentions
from chat.app.messages.broadcaster import Broadcaster
from chat.app.messages.changes import MessageChanges
from chat.app.messages.known_places import KnownPlaces
from chat.app.messages.pending import PendingMessage
from chat.app.messages.pins import MessagePins
from chat.app.messages.reports import MessageReports
from chat.app.messages.saved import SavedMessages
from chat.app.messages.search import MessageSearch
from chat.app.messages.search_gate import SearchGate
from chat.app.messages.threads import MessageThreads
from chat.app.messages.writer import MessageWriter
from chat.app.people.activity import Activity
from chat.app.people.notification_levels import NotificationLevels
from chat.app.reads.batched_point_reads import PointReads
from chat.app.reads.single_flight import SingleFlight
from chat.app.rooms.group_direct import GroupDirectOperations
from chat.app.rooms.lifecycle import RoomEnds
from chat.app.rooms.moderation import RoomModeration
from chat.app.rooms.operations import RoomOperations
from chat.app.rooms.support_desk import SupportDesk
from chat.app.rooms.webhooks import IncomingWebhookService
from chat.core import validation
from chat.core.api_tokens import require_write
from chat.core.errors import AccountErased, InvalidInput
from chat.core.invites import RegistrationPolicy
from chat.core.outgoing import OutgoingMessage
from chat.core.records import Identity, Message, Room
from chat.net.outbound import HostAllowList, OutboundHttp
from chat.store import (
    AccountData,
    Accounts,
    Administration,
    ApiTokens,
    Bots,
    Changes,
    DirectGroups,
    Files,
    History,
    IncomingWebhooks,
    Invites,
    LinkPreviews,
    Moderation,
    Pins,
    Reports,
    RoomCommandRegistrations,
    RoomLifecycle,
    Rooms,
    Saved,
    Search,
    Sessions,
    Support,
    Threads,
    TwoFactor,
)
from chat.store.connection_slots import on_message_lane
from chat.store.files import not_attachable
from chat.store.message_rows import not_a_message_of_room, not_a_thread_of_room

if TYPE_CHECKING:
    from chat.app.commands.built_ins import StatusSetter
    from chat.app.people.push_subscriptions import PushSubscriptions
    from chat.app.people.user_notices import UserNotices
    from chat.app.presence.tracker import Presence

#: The most messages one history request or page may hold.
MAX_HISTORY = MAX_PAGE
#: How long a resume waits for this instance to deliver the message a client last saw
#: (on another instance, a moment ago) before calling its SinceID unknown.
RESUME_WAIT_S = 5.0


@dataclass(frozen=True, slots=True)
class Posted:
    """A message as posted: where, what was stored, and whether this was a resend of a
    message already stored (same sender, room and client id: nothing new was stored)."""

    room: Room
    message: Message
    resent: bool


class ServiceStore(
    Accounts,
    AccountData,
    Administration,
    Sessions,
    ApiTokens,
    Bots,
    Invites,
    Rooms,
    DirectGroups,
    Support,
    History,
    Changes,
    Pins,
    LinkPreviews,
    Threads,
    Files,
    Search,
    Moderation,
    RoomLifecycle,
    Reports,
    Saved,
    IncomingWebhooks,
    RoomCommandRegistrations,
    TwoFactor,
    Protocol,
):
    """The roles of the store `ChatService` uses: all but the message stream (the
    writer's) and operations (the probe's and the metrics')."""


class ChatService(RoomOperations, GroupDirectOperations, AccountOperations):
    """The core: accounts (`AccountOperations`), rooms and read markers
    (`RoomOperations`) and group direct conversations (`GroupDirectOperations`) as parts
    of it; messages and resume here; support threads
    (`support`), changes to messages (`changes`) and the rest in components of their
    own."""

    store: ServiceStore  # all of the roles below, the accounts' included
    api_tokens: ApiTokenService

    def __init__(
        self,
        store: ServiceStore,
        passwords: Passwords,
        tokens: Tokens,
        broadcaster: Broadcaster,
        writer: MessageWriter,
        revocations: Revocations,
        *,
        lobby: Room,
        max_text_chars: int,
        rate_limits: RateLimits,
        notices: UserNotices,
        presence: Presence,
        push: PushSubscriptions,
        activity: Activity | None = None,
        edit_window_s: float | None = None,
        shared_reads: SingleFlight | None = None,
        history_cache: HistoryFromMemory | None = None,
        point_reads: PointReads | None = None,
        search_gate: SearchGate | None = None,
        max_bots_per_user: int = 10,
        webhooks: tuple[Sequence[str], float] = ((), 5.0),
        statuses: StatusSetter | None = None,
        require_two_factor: bool = False,
        registration: RegistrationPolicy | None = None,
        sso_only: bool = False,
    ) -> None:
        self.store = store
        self.sso_only = sso_only
        # The rooms `room` handed out, while something holds them (`room`).
        self._rooms_held: weakref.WeakValueDictionary[int, Room] = weakref.WeakValueDictionary()
        self.passwords = passwords
        self.tokens = tokens
        self.broadcaster = broadcaster
        self.writer = writer
        self.revocations = revocations
        #: Bot accounts and personal access tokens (`chat.app.accounts.bots`, `.api_tokens`).
        self.bots = BotService(store, passwords, revocations, most=max_bots_per_user)
        self.console = OperatorConsole(store, revocations)
        self.api_tokens = ApiTokenService(store, revocations, self.bots)
        #: Second factors, and whether every person needs one (`chat.app.accounts.two_factor`).
        self.two_factor = TwoFactorService(store, required=require_two_factor)
        #: Who may register, and invite links (`chat.app.accounts.invites`).
        self.invites = InviteService(store, self, registration or RegistrationPolicy())
        #: The built-in public room every user may read and write (TokenTalker's chat).
        self.lobby = lobby
        self.max_text_chars = max_text_chars
        self.rate_limits = rate_limits
        #: Frames for a user's room-protocol connections, on every instance.
        self.notices = notices
        #: Who is online and in which room, cluster-wide (`chat.app.presence.tracker`).
        self.presence = presence
        #: What arrives in a user's other rooms, for their connections (`chat.app.people.activity`).
        self.activity = activity or Activity(store, lobby.id)
        #: Each user's notification level in each of their rooms
        # (`chat.app.people.notification_levels`).
        self.notifications = NotificationLevels(self)
        #: Web Push: the server's key, and the browsers registered for pushes (`chat.push`).
        self.push = push
        #: Support threads between users and operators (`chat.app.rooms.support_desk`).
        self.support = SupportDesk(self)
        #: Identical resumes and history reads in flight at once, made once
        #: (`chat.app.reads.single_flight`; one that `serve` does not run reads each on its own).
        self.shared_reads = shared_reads or SingleFlight()
        #: A token's user, a room and a membership, read in batches when many ask at once
        #: (`chat.app.reads.batched_point_reads`; one that `serve` does not run reads each
        #: on its own).
        self.point_reads = point_reads or PointReads(store)
        #: The newest messages of active rooms, answering history, resumes and first pages
        #: from memory (`chat.app.history.from_memory`; one that `serve` does not make is off).
        self.history_cache = history_cache or HistoryFromMemory(None, lambda: writer.position)
        #: The rooms and threads of messages replies named lately (`_root_of`).
        self.known_places = KnownPlaces()
        #: A room's history a page at a time, for clients that scroll (`chat.app.history.pages`).
        self.pages = MessagePages(self, store)
        #: Full-text search of the messages a user may read (`chat.app.messages.search`).
        # (`search_gate`: the searches' share of the store's connections; one that `serve`
        # does not give is the default pool's, `SearchGate.for_pool(10)`.)
        self.search = MessageSearch(
            self, store, rate_limits, search_gate or SearchGate.for_pool(10)
        )
        #: Roles, removals, bans, mutes, settings and the audit log (`chat.app.rooms.moderation`).
        self.moderation = RoomModeration(self)
        # Members leaving rooms are applied in their place in the stream, on every instance.
        broadcaster.on_departure(self.moderation.departed)
        #: Archiving and deleting group rooms (`chat.app.rooms.lifecycle`).
        self.room_ends = RoomEnds(self)
        #: A room's incoming webhooks, which post as bots (`chat.app.rooms.webhooks`).
        self.webhooks = IncomingWebhookService(self)
        #: Reports of messages to a room's moderators (`chat.app.messages.reports`).
        self.reports = MessageReports(self, rate_limits)
        #: Each user's saved messages (`chat.app.messages.saved`).
        self.saved = SavedMessages(store, notices)
        #: Edits, deletions and reactions (`chat.app.messages.changes`).
        self.changes = MessageChanges(
            store,
            writer,
            rate_limits,
            max_text_chars=max_text_chars,
            edit_window_s=edit_window_s,
            moderators=self.moderation,
        )
        #: Threads' pages and a room's threads (`chat.app.messages.threads`).
        self.threads = MessageThreads(self, store, self.activity.follows)
        #: Pinned messages (`chat.app.messages.pins`).
        self.pins = MessagePins(store, writer, rate_limits, self.moderation, self.changes.committed)
        # Notices to a room's members go to those connected here (`chat.app.people.activity`).
        notices.find_members_with(self.activity.members_here)
        #: Slash commands, built-in and registered, and outgoing webhooks' trigger words
        #: (`chat.app.commands`); its calls' task runs in `serve`'s tree. `webhooks`: the
        #: allow-list (`CHAT_WEBHOOK_HOSTS`) and each call's seconds (`CHAT_WEBHOOK_TIMEOUT`;
        #: the client's own deadline a second later).
        webhook_hosts, webhook_timeout_s = webhooks
        allowed = HostAllowList.of(webhook_hosts)
        outbound = OutboundHttp(allowed, timeout_s=webhook_timeout_s + 1)
        self.commands = SlashCommands(
            self, CommandCalls(outbound, timeout_s=webhook_timeout_s), statuses
        )
        # Trigger words: matched against the messages this instance stores (once each).
        writer.tell_stored(self.commands.stored)
        #: One lock per user while a read marker of theirs is being moved (`mark_read`).
        self._marking: dict[int, trio.Lock] = {}

    # --- messages ---

    async def post(
        self,
        identity: Identity,
        room: Room,
        outgoing: OutgoingMessage,
        *,
        skip: int | None = None,
    ) -> Posted:
        """Store a message in `room`, then publish it (to everyone but `skip`).

        The caller has already checked that `identity` may write to `room` (`member_room`
        or the lobby). The message is committed before anyone is told about it, so a
        receiver can always find what it was sent in the history (`chat.app.messages.writer`
        does both, in batches); who hears of it depends on the room
        (`chat.app.messages.broadcaster.topics_for`). With a `client_msg_id` the sender already used
        in this room, nothing is stored or published: the original comes back, `resent`.
        """
        with on_message_lane():
            outgoing = await self._admit(identity, room, outgoing)
        pending = await self.writer.add(room, identity.user_id, outgoing, skip=skip)
        assert pending.message is not None
        return Posted(room, pending.message, pending.resent)

    async def post_pipelined(
        self,
        identity: Identity,
        room: Room,
        outgoing: OutgoingMessage,
        *,
        skip: int | None = None,
        on_error: Callable[[BaseException], None],
        on_resent: Callable[[Message], None] | None = None,
    ) -> PendingMessage:
        """Like `post`, without waiting for the commit: for protocols that send no answer
        to a chat message. Invalid text is still refused at once, and so is a `reply_to`
        that is not a message of `room`; a failed commit is reported to `on_error` later,
        a resend to `on_resent` (with the original). Returns the pending message, which a
        later read by the same client waits for (read-your-writes)."""
        with on_message_lane():
            outgoing = await self._admit(identity, room, outgoing)
        return await self.writer.submit(
            room, identity.user_id, outgoing, skip=skip, on_error=on_error, on_resent=on_resent
        )

    async def _admit(
        self, identity: Identity, room: Room, outgoing: OutgoingMessage
    ) -> OutgoingMessage:
        """The checks every message passes before it is queued (`post`, `post_pipelined`),
        in the order a client hears of them: its text, the sender's rate, what it answers,
        the files it carries. Returns it with who its text mentions, which only the store
        can tell (`chat.app.messages.mentions.resolve`). The callers run it on the message
        lane (`chat.store.connection_slots`): its reads wait behind other messages only."""
        require_write(identity)
        await self._check_recipient(identity, room)
        validation.message_text(outgoing.body, self.max_text_chars, files=len(outgoing.files))
        self.rate_limits.hit(self.rate_limits.messages, str(identity.user_id))
        await self._check_reply(room, outgoing.reply_to)
        outgoing = await self._in_thread(room, outgoing)
        await self._check_files(identity, outgoing.files, outgoing.client_msg_id)
        mentioned = await mentions.resolve(self.store, room, identity.user_id, outgoing.body)
        if mentioned.uids == outgoing.mentions and mentioned.room == outgoing.mentions_room:
            return outgoing  # mostly: nothing mentioned, nothing to copy
        return replace(outgoing, mentions=mentioned.uids, mentions_room=mentioned.room)

    async def _check_recipient(self, identity: Identity, room: Room) -> None:
        """A direct message needs someone to read it: to an erased account it is refused
        (`AccountErased`: HTTP 410, an error frame on /ws), whichever front door or
        dialect sends it; the conversation stays, for its history. (A direct room's
        users existed when it was made: one no longer found was erased.)"""
        if room.kind != "direct" or room.pair is None:
            return
        low, high = room.pair
        other = high if identity.user_id == low else low
        if await self.point_reads.users.get(other) is None:
            raise AccountErased(other)

    async def _check_files(
        self, identity: Identity, files: tuple[str, ...], client_msg_id: str | None
    ) -> None:
        """A message carries only its sender's files that no message carries yet (the
        store checks again as it attaches them: one may be taken meanwhile). A message
        with a ClientMsgID may be a resend, whose files its original carries already:
        the store alone decides (a resend attaches nothing and answers the original)."""
        if not files or client_msg_id is not None:
            return
        attachable = {f.id for f in await self.store.attachable_files(identity.user_id, files)}
        for file_id in files:
            if file_id not in attachable:
                raise not_attachable(file_id)

    async def _root_of(self, room: Room, message_id: int) -> int | None:
        """The root of the thread a reply naming message `message_id` joins (its own id
        outside any thread), if it is a visible message of `room`: from memory when it
        was asked before (`chat.app.messages.known_places` says why that is safe)."""
        root = self.known_places.root(room.id, message_id)
        if root is None:
            root = await self.store.thread_root(room.id, message_id)
            if root is not None:
                self.known_places.remember(room.id, message_id, root)
        return root

    async def _check_reply(self, room: Room, reply_to: int | None) -> None:
        """A reply must answer a message of its own room."""
        if reply_to is not None and await self._root_of(room, reply_to) is None:
            # Unknown and in another room are one answer: nothing about other rooms leaks.
            raise not_a_message_of_room(reply_to, room.id)

    async def _in_thread(self, room: Room, outgoing: OutgoingMessage) -> OutgoingMessage:
        """A thread reply replies in the thread of a visible message of its own room; one
        naming a reply joins that reply's thread (threads do not nest). Returns it with
        the root's id."""
        if outgoing.thread_id is None:
            return outgoing
        root = await self._root_of(room, outgoing.thread_id)
        if root is None:
            # Unknown, deleted and in another room are one answer, as for replies.
            raise not_a_thread_of_room(outgoing.thread_id, room.id)
        return outgoing if root == outgoing.thread_id else replace(outgoing, thread_id=root)

    async def send_direct(
        self, identity: Identity, to_user_id: int, outgoing: OutgoingMessage
    ) -> Posted:
        """A direct message to another user, stored in the pair's direct room. Refused
        (`AccountErased`) to an erased account, whose conversation stays for its history
        (`_check_recipient`, which every message to a direct room passes)."""
        room = await self._direct_room(identity, to_user_id, f"unknown recipient {to_user_id}")
        return await self.post(identity, room, outgoing)

    # --- resuming after a reconnection ---

    async def wait_until_delivered(self, message_id: int) -> None:
        """Return once this instance has delivered everything up to `message_id`.

        A client resuming here may have seen that message on another instance a moment
        ago, before this one heard of it: resuming from an earlier point would deliver
        some messages twice. Raises `InvalidInput` if it does not arrive in
        `RESUME_WAIT_S` (an id nobody committed).
        """
        if message_id <= self.broadcaster.position:
            return
        self.writer.wake()  # look at the table now rather than at the next wake-up
        with trio.move_on_after(RESUME_WAIT_S):
            await self.broadcaster.wait_for_position(message_id)
        if message_id > self.broadcaster.position:
            raise InvalidInput(
                f"SinceID {message_id} is newer than the newest message "
                f"({self.broadcaster.position}): enter without SinceID"
            )

    async def resume(self, room: Room, since_id: int, up_to_id: int) -> Backlog:
        """The messages and changes of `room` with ``since_id < position <= up_to_id``
        (changes to older messages included), in position order; at most the newest
        `MAX_RESUME` of them (`Backlog.before_id` says where they start).

        Messages are read as they are now (edited, deleted, reacted to), and the changes
        that made them so follow: applying the changes again leaves a client where the
        messages already put it.

        Identical resumes in flight at once are read once (`chat.app.reads.single_flight`): after a
        reconnection storm a room's clients all resume from the same message. The bounds
        fix the answer (positions at or below `up_to_id` are committed, and a message's
        present state is the same for all: a later change to it comes live to each), so
        sharing it is exact."""
        cached = await self.history_cache.between(room.id, since_id, up_to_id)
        if cached is not None:
            return backlog_of(*cached)
        return await self.shared_reads.read(
            "resume",
            (room.id, since_id, up_to_id),
            partial(self._read_backlog, room.id, since_id, up_to_id),
        )

    async def _read_backlog(self, room_id: int, since_id: int, up_to_id: int) -> Backlog:
        messages = await self.store.messages_before(
            room_id, up_to_id + 1, MAX_RESUME + 1, after_id=since_id
        )
        changes = await self.store.room_changes(
            room_id, after=since_id, before=up_to_id + 1, limit=MAX_RESUME + 1
        )
        return backlog_of(messages, changes)

    def history_now(self, room_id: int, count: int) -> list[Message] | None:
        """`history` if memory holds the answer now (the room's window), else None: an
        answer with nothing to wait for (`chat.ws.tokentalker` sends it at once)."""
        _check_history_size(count)
        return self.history_cache.latest_now(room_id, count, skip_deleted=True, kind="history")

    async def history(self, room_id: int, count: int) -> list[Message]:
        """The `count` (1-100) latest messages of a room that were not deleted, oldest
        first, each as it is now (for dialects with no word for a change: TokenTalker).

        Identical requests in flight at once are read once (`chat.app.reads.single_flight`); the key
        holds this instance's delivered position, so every message delivered here before
        the request is in its answer, as a read of its own would have it."""
        _check_history_size(count)
        cached = await self.history_cache.latest(room_id, count, skip_deleted=True, kind="history")
        if cached is not None:
            return cached
        return await self.shared_reads.read(
            "history",
            (room_id, count, self.broadcaster.position),
            partial(self.store.latest_messages, room_id, count, skip_deleted=True),
        )


def _check_history_size(count: int) -> None:
    """Refuse a `history` size outside 1 to `MAX_HISTORY`."""
    if not 1 <= count <= MAX_HISTORY:
        raise InvalidInput(f"history size must be between 1 and {MAX_HISTORY}")
