"""The room protocol of spec 004, on ``/ws``.

The connection is authenticated at the handshake (``?token=`` or an Authorization
header; without a valid token the upgrade is refused with 401). Frames:

- ``{"Type": "enter", "RoomID": n}``: listen to room n (one room at a time; the client
  must be a member, and everyone is a member of the lobby); ``"RoomID": 0`` leaves.
  Answered ``{"Type": "entered", "RoomID": n, "Name": ...}`` or ``{"Type": "left", "RoomID": n}``.
  With ``"SinceID": m`` (a resume, after a reconnection), every message of the room with
  an id above m follows ``entered``, oldest first, then the live ones: no gap and no
  duplicate between the two. At most `MAX_RESUME`; past that a ``{"Type": "truncated",
  ...}`` frame first says which ones to page back for over HTTP. With ``"Page": n``
  (1-100, what a client shows on switching rooms) ``entered`` carries the room's n
  newest messages, ``"Messages"``, newest first as ``GET /messages`` pages them, and the
  live ones follow it with the same seam: a switch is one round trip, not two.
- ``{"Type": "message", "Text": "..."}``: store the text in the current room, then send
  it to every connection in that room, this one included, as
  ``{"Type": "message", "MessageID", "RoomID", "UID", "Username", "Text", "CreatedAt"}``.
  With ``"ClientMsgID"`` (1-64 characters, the client's own id for the message), a
  resend of the same id to the same room stores nothing new: the sender alone gets the
  original's frame again. The id is then part of the message frame. With ``"Files"``
  (up to 10 FileIDs from ``POST /files``), the message carries those files, and its
  text may be empty.
  A text starting with a ``/command`` is not posted (`chat.app.commands.dispatch`): the
  sender gets ``{"Type": "command", "RoomID", "Command", "ClientMsgID"?}`` instead, and
  what the command answers comes as ``{"Type": "ephemeral", "RoomID", "Text"}`` (to the
  sender alone) or as a message of the command's bot.
- ``{"Type": "read", "RoomID": n, "MessageID": m}``: the client has read room n (one it
  is a member of) up to message m (of that room). The marker never moves back. Every
  connection of the user's, on every instance, this one included, is sent
  ``{"Type": "read", "RoomID": n, "MessageID": ...}`` with the marker as stored.

Notices for the user rather than a room come too (`chat.app.people.user_notices`): the ``read``
frame above, and ``{"Type": "invited", "RoomID", "Name", "By": {"UID", "Username"}}`` when
someone invites the user into a room.

- ``{"Type": "typing"}``: the user is typing in the current room; the room's other
  connections (but those that declined presence), on every instance, get ``{"Type": "typing",
  "RoomID", "UID", "Username"}`` (not this connection; the user's other ones do). Never
  stored; past a few per second per user they are dropped without an answer
  (`chat.app.presence.tracker`).

Presence (`chat.app.presence.tracker`): every connection in a room counts its user as present there.
Unless it entered with ``"Presence": false``, it also gets, right after ``entered``, one
``{"Type": "presence", "RoomID", "UID", "Username", "Online": true}`` per user present
(itself included), then one for every user who becomes present or stops being present,
and the room's ``typing`` frames. With ``"Presence": false`` the connection sees only
spec 004's frames. With ``"Presence": "list"`` it gets the same news in fewer frames:
the users present in one ``{"Type": "presence-list", "RoomID", "Users": [{"UID",
"Username"}, ...]}``, and each telling's changes in one ``{"Type": "presence-changes",
"RoomID", "Changes": [{"UID", "Username", "Online"}, ...]}`` (what the browser client
asks for: a room of hundreds is one frame to encode and to read, not hundreds).

Errors are ``{"Type": "error", "Error": "..."}``. Every kind of frame has a limit per
connection (`chat.ws.session.frame_limits`: room changes, resumes and the bytes they send, read
markers, typing); past one the frame is refused with an error (``too many room changes:
try again in 2 s``).

How a resume keeps the seam exact: the subscription is made *held* (`ClientSession.
subscribe`), in the same step as reading the broadcaster's `position` (no await between),
so every message up to that position was delivered before it and every later one is
kept by it. The backlog is everything above SinceID up to the position, read from the
table; it is sent, then the kept frames, then the subscription goes live. A page is kept
to the same position: the newest messages up to it, in ``entered``, then the kept frames.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from chat.app.history.backlog import MAX_RESUME
from chat.app.history.pages import MAX_PAGE
from chat.app.messages.broadcaster import Event, Subscription, room_topic
from chat.app.service import ChatService
from chat.core import outgoing, shapes, validation
from chat.core.api_tokens import require_write
from chat.core.errors import ChatError, Forbidden, InvalidInput, RateLimited
from chat.core.frames import dumps
from chat.core.message_json import message_json, page_json
from chat.core.outgoing import OutgoingMessage
from chat.core.records import Change, Message, Room
from chat.ws.session.client_session import ClientSession

_ENTER_FIRST = 'enter a room first: {"Type": "enter", "RoomID": <id>}'


#: The frames that change a message, each naming it with MessageID.
_CHANGES = ("edit", "delete", "react", "unreact")


def _message_frame(message: Message) -> str:
    return dumps({"Type": "message", **shapes.room_message(message)})


def _item_frame(item: Message | Change) -> str:
    if isinstance(item, Message):
        return _message_frame(item)
    return dumps(shapes.change(item))


def _backlog_frame(item: Message | Change) -> str:
    """`_item_frame(item)`, a message's JSON taken from the memo pages share
    (`chat.core.message_json`): clients of a room that resume together (a reconnection
    storm) are sent the same items, read from the same cache, and each is encoded once."""
    if isinstance(item, Message):
        return '{"Type":"message",' + message_json(item)[1:]
    return _item_frame(item)


def encode_room_message(event: Event) -> str:
    """A message, or a change to one (edited, deleted, reactions), as this protocol
    frames it."""
    return _item_frame(event.item)


class RoomProtocol:
    example = '{"Type": "enter", "RoomID": 1} or {"Type": "message", "Text": "..."}'
    # One per connection: slots keep each small.
    __slots__ = ("_entering", "_entering_removed", "_room", "_service", "_session", "_subscription")

    def __init__(self, session: ClientSession, service: ChatService) -> None:
        self._session = session
        self._service = service
        self._room: Room | None = None
        self._subscription: Subscription | None = None
        #: The room being entered, and whether its user was removed from it meanwhile.
        self._entering: int | None = None
        self._entering_removed = False
        session.on_removal(self._removed_from)

    def listen(self) -> None:
        pass  # a room is listened to once entered (`enter`)

    async def start(self) -> None:
        # Nothing to wait for: the server indexed the user's rooms for activity frames
        # before it answered the client (`chat.ws.opening`).
        pass

    async def handle(self, frame: Any) -> None:
        try:
            await self._handle(frame)
        except ChatError as error:
            client_msg_id = validation.echoed_client_msg_id(frame, "ClientMsgID")
            message_id = None
            if isinstance(frame, dict) and frame.get("Type") in _CHANGES:
                message_id = validation.echoed_id(frame, "MessageID")
            await self._session.send(self.error_frame(str(error), client_msg_id, message_id))
            await self._session.after_refusal(error)

    async def reject(self, problem: str) -> None:
        await self._session.send(self.error_frame(problem))

    def error_frame(
        self,
        problem: str,
        client_msg_id: str | None = None,
        message_id: int | None = None,
        *,
        retry_after: int | None = None,
    ) -> str:
        """An error frame; one answering a message that carried a ClientMsgID repeats it,
        one answering a change to a message names the message (MessageID), and a slow
        mode's refusal says in how many seconds to send again (RetryAfter)."""
        frame: dict[str, Any] = {"Type": "error", "Error": problem}
        if client_msg_id is not None:
            frame["ClientMsgID"] = client_msg_id
        if message_id is not None:
            frame["MessageID"] = message_id
        if retry_after is not None:
            frame["RetryAfter"] = retry_after
        return dumps(frame)

    def refusal_frame(self, error: RateLimited) -> str:
        return self.error_frame(str(error))

    async def _handle(self, frame: Any) -> None:
        frame = validation.require_object(frame, "frame")
        kind = validation.require_str(frame, "Type")
        session, limits = self._session, self._session.limits
        if kind == "enter":
            session.limit(limits.room_changes)
            room_id = validation.require_id(frame, "RoomID", allow_zero=True)
            since_id = None
            if frame.get("SinceID") is not None:
                since_id = validation.require_id(frame, "SinceID", allow_zero=True)
            page = _page_wanted(frame, since_id)
            if since_id is not None or (page is not None and room_id):
                # A resume or a page is a history request: refused, it leaves the client
                # where it was.
                session.limit(limits.history_requests)
                session.check_history()
            listening, lists = _presence_wanted(frame)
            await self._enter(room_id, since_id, page, listening=listening, lists=lists)
        elif kind == "message":
            await self._message(outgoing.from_fields(frame))
        elif kind in _CHANGES:
            await self._change(kind, frame)
        elif kind == "read":
            session.limit(limits.read_markers)
            self._may_write()
            await self._read(
                validation.require_id(frame, "RoomID"), validation.require_id(frame, "MessageID")
            )
        elif kind == "typing":
            session.limit(limits.typing)
            self._may_write()
            if self._room is None:
                raise InvalidInput(_ENTER_FIRST)
            self._service.presence.typing(self._session, self._room.id)
        else:
            raise InvalidInput(
                f'unknown Type {kind[:50]!r}: expected "enter", "message", "edit", "delete",'
                ' "react", "unreact", "read" or "typing"'
            )

    def _may_write(self) -> None:
        """A read-only token sends nothing, not even a read marker or typing."""
        if self._session.identity is not None:
            require_write(self._session.identity)

    def _removed_from(self, room_id: int) -> None:
        """The user is no longer a member of `room_id` (`ClientSession.removed_from`):
        leave it if this connection is in it, or note it if it is being entered (the
        membership check may have passed just before the removal)."""
        if self._room is not None and self._room.id == room_id:
            self._leave()
        if self._entering == room_id:
            self._entering_removed = True

    def _leave(self) -> None:
        self._service.presence.leave_room(self._session)
        if self._subscription is not None:
            self._session.unsubscribe(self._subscription)
        self._room = self._subscription = None
        self._session.room_id = None

    async def _enter(
        self,
        room_id: int,
        since_id: int | None,
        page: int | None = None,
        *,
        listening: bool,
        lists: bool = False,
    ) -> None:
        identity = self._session.identity
        assert identity is not None, "/ws requires a token at the handshake"
        if room_id == 0:
            left = self._room.id if self._room is not None else 0
            self._leave()
            await self._session.send(dumps({"Type": "left", "RoomID": left}))
            return
        # From the membership check until subscribed, a removal from this room is
        # noted (`_removed_from`): the check may have passed just before it.
        self._entering, self._entering_removed = room_id, False
        try:
            room = await self._service.member_room(identity, room_id)
            self._leave()
            if since_id is not None:
                await self._service.wait_until_delivered(since_id)
        finally:
            self._entering = None
        if self._entering_removed:
            raise Forbidden(f"you are not a member of room {room_id}")
        self._room = room
        self._session.room_id = room.id  # its activity frames stop (`chat.app.people.activity`)
        subscription = self._subscription = self._session.subscribe(
            room_topic(room.id), encode_room_message, hold=since_id is not None or page is not None
        )
        # Read in the same step as subscribing: what a resume or a page is bounded by.
        up_to_id = self._service.broadcaster.position
        entered = dumps({"Type": "entered", "RoomID": room.id, "Name": room.name})
        try:
            if page is None:
                await self._session.send(entered)
            elif not await self._send_entered_with_page(entered, room, page, up_to_id):
                return  # the client has gone
        except BaseException:
            # Cancelled or failed while `entered` waited for room in the outbox: a held
            # subscription must never be left behind, nor a room half entered.
            self._leave()
            raise
        # After `entered`, so the present users (offered in the same step as counting
        # this connection in) follow it, and before any resumed messages.
        self._service.presence.enter_room(self._session, room.id, listening=listening, lists=lists)
        if since_id is not None:
            try:
                await self._resume(room, since_id, up_to_id, subscription)
            except BaseException:
                self._leave()  # a held subscription must never be left behind
                raise
        elif page is not None:
            await self._session.release(subscription)

    async def _send_entered_with_page(
        self, entered: str, room: Room, page: int, up_to_id: int
    ) -> bool:
        """`entered` with the room's `page` newest messages up to `up_to_id` in it, charged
        to the history budget; False if the client left while they were read."""
        subscription = self._subscription
        # Bound to the client: if it disconnects, the read is cancelled.
        with self._session.bound_to_client() as scope:
            messages = await self._service.pages.entering(room, page, up_to_id=up_to_id)
        if scope.cancelled_caught:
            return False
        if self._subscription is not subscription:
            # Removed from the room while its page was read (`_removed_from` left it).
            raise Forbidden(f"you are not a member of room {room.id}")
        await self._session.send_history(f'{entered[:-1]},"Messages":{page_json(messages)}}}')
        return True

    async def _resume(
        self, room: Room, since_id: int, up_to_id: int, subscription: Subscription
    ) -> None:
        # Bound to the client: if it disconnects, the query is cancelled.
        with self._session.bound_to_client() as scope:
            backlog = await self._service.resume(room, since_id, up_to_id)
        if scope.cancelled_caught:
            return
        # Charged to the connection's history budget (`ClientSession.check_history`).
        if backlog.before_id is not None:
            await self._session.send_history(
                dumps(
                    {
                        "Type": "truncated",
                        "RoomID": room.id,
                        "SinceID": since_id,
                        "BeforeID": backlog.before_id,
                        "Error": f"more than {MAX_RESUME} messages were missed: page back "
                        f"through GET /messages/{room.id}?last_id={backlog.before_id}",
                    }
                )
            )
        for item in backlog.items:
            await self._session.send_history(_backlog_frame(item))
        await self._session.release(subscription)

    async def _message(self, message: OutgoingMessage) -> None:
        identity = self._session.identity
        assert identity is not None, "/ws requires a token at the handshake"
        if self._room is None:
            raise InvalidInput(_ENTER_FIRST)
        # A command is taken instead of posted (`chat.app.commands.dispatch`): its
        # acknowledgement stands for the message frame the sender would have had.
        taken = await self._service.commands.take(identity, self._room, message)
        if taken is not None:
            frame: dict[str, Any] = {
                "Type": "command",
                "RoomID": self._room.id,
                "Command": taken.command,
            }
            if message.client_msg_id is not None:
                frame["ClientMsgID"] = message.client_msg_id
            await self._session.send(dumps(frame))
            await self._service.commands.tell(identity, self._room, taken)
            return
        # The sender's confirmation is its own copy of the broadcast: nothing to wait
        # for here, so the next frame is handled while this one is committed.
        pending = await self._service.post_pipelined(
            identity,
            self._room,
            message,
            on_error=partial(self._failed, message.client_msg_id),
            on_resent=self._resent,
        )
        self._session.track_write(pending)

    async def _change(self, kind: str, frame: dict[str, Any]) -> None:
        """An edit, deletion or reaction of a message of the current room. Once it is
        committed, every connection in the room gets its frame, this one included (its
        confirmation); a request that changed nothing (the same text, a second deletion, a
        reaction already there) is answered to this connection alone, with the message's
        present state and no Seq."""
        identity = self._session.identity
        assert identity is not None, "/ws requires a token at the handshake"
        message_id = validation.require_id(frame, "MessageID")
        if kind == "edit":
            text = validation.require_str(frame, "Text")
        elif kind in ("react", "unreact"):
            emoji = validation.require_str(frame, "Emoji")
        if self._room is None:
            raise InvalidInput(_ENTER_FIRST)
        room, changes = self._room, self._service.changes
        # Read-your-writes: a message this client just sent may not be committed yet.
        await self._session.writes_settled()
        if kind == "edit":
            change = await changes.edit(identity, room, message_id, text)
        elif kind == "delete":
            change = await changes.delete(identity, room, message_id)
        else:
            change = await changes.react(identity, room, message_id, emoji, add=kind == "react")
        if change is None:
            present = await changes.message(room, message_id)
            await self._session.send(dumps(shapes.unchanged(kind, present)))

    async def _read(self, room_id: int, message_id: int) -> None:
        """Move the read marker; the answer is the notice every connection of the
        user's gets (`ChatService.mark_read`), this one included."""
        identity = self._session.identity
        assert identity is not None, "/ws requires a token at the handshake"
        # A message this client just sent may not be committed yet: wait for it, so that
        # marking one's own latest message read finds it (read-your-writes).
        await self._session.writes_settled()
        await self._service.mark_read(identity, room_id, message_id)

    def _resent(self, original: Message) -> None:
        """A resend of a stored message: its sender alone gets the original again."""
        self._session.send_nowait(_message_frame(original))

    def _failed(self, client_msg_id: str | None, error: BaseException) -> None:
        """A pipelined message failed after its frame was handled: the error frame
        repeats its ClientMsgID, if it had one."""
        problem = str(error) if isinstance(error, ChatError) else "internal error"
        # Slow mode's refusal says when the next send may go.
        retry_after = error.retry_after if isinstance(error, RateLimited) else None
        self._session.send_nowait(self.error_frame(problem, client_msg_id, retry_after=retry_after))


def _page_wanted(frame: dict[str, Any], since_id: int | None) -> int | None:
    """How many of the room's newest messages an ``enter`` asks to be sent with
    ``entered`` (``"Page"``), if any; a resume (``SinceID``) asks for what was missed
    instead, so the two do not go together."""
    wanted = frame.get("Page")
    if wanted is None:
        return None
    if not isinstance(wanted, int) or isinstance(wanted, bool) or not 1 <= wanted <= MAX_PAGE:
        raise InvalidInput(f'field "Page" must be an integer between 1 and {MAX_PAGE}')
    if since_id is not None:
        raise InvalidInput(
            'give "SinceID" (resume where you were) or "Page" (the newest messages), not both'
        )
    return wanted


def _presence_wanted(frame: dict[str, Any]) -> tuple[bool, bool]:
    """What an ``enter`` asks of presence: (frames at all, as lists). ``"Presence"`` is
    true (the default: a frame per user), false (none: spec 004's frames only), or
    ``"list"`` (a list, then the changes of each telling, a frame each)."""
    wanted = frame.get("Presence")
    if wanted is None:
        return True, False
    if wanted == "list":
        return True, True
    if not isinstance(wanted, bool):
        raise InvalidInput('field "Presence" must be true, false or "list"')
    return wanted, False
