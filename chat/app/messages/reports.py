"""Reports of messages: anyone who may read a message may report it to the
room's moderators (one report per reporter and message); its moderators and owners, or
the server's operators, see and decide them. Decisions go to the audit log.

Each new report and each decision tells the room's moderators and owners, on every
instance, how many of its reports are open now (``{"Type": "reports", "RoomID",
"Open"}``, through `chat.app.people.user_notices`): a count their page shows live.

A message the caller may not read is "not found", whatever the reason (another room's,
one that does not exist): a report never tells a stranger that a message exists.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from chat.app.rooms.moderation import log_audit
from chat.core.errors import ChatError, Forbidden, InvalidInput, NotFound
from chat.core.moderation_records import AuditEntry
from chat.core.records import Report
from chat.core.room_permissions import Action, require
from chat.store import Changes, Reports

if TYPE_CHECKING:
    from chat.app.limits.rate_limits import RateLimits
    from chat.app.people.user_notices import UserNotices
    from chat.core.records import Identity, Room

#: What a report may become.
DECISIONS = ("resolved", "dismissed")
#: What a listing of reports may ask for ("all": every status).
STATUSES = ("open", *DECISIONS, "all")
#: The most moderators and owners of one room told of its open reports.
MAX_TOLD = 100


class ReportsStore(Reports, Changes, Protocol):
    """What reports need of the store: reports, and finding the message reported."""


class Ranks(Protocol):
    """A caller's rank in a room (`chat.app.rooms.moderation.RoomModeration.rank`)."""

    async def rank(self, identity: Identity, room: Room) -> int: ...


class ReportsService(Protocol):
    """What reports need of `chat.app.service.ChatService`."""

    @property
    def store(self) -> ReportsStore: ...
    @property
    def moderation(self) -> Ranks: ...
    @property
    def notices(self) -> UserNotices: ...
    async def room(self, room_id: int) -> Room: ...
    async def member_room(self, identity: Identity, room_id: int) -> Room: ...


class MessageReports:
    """Reporting messages, and the moderators' view of reports."""

    def __init__(self, service: ReportsService, rate_limits: RateLimits) -> None:
        self._service = service
        self._store = service.store
        self._rate_limits = rate_limits

    async def report(self, identity: Identity, message_id: int, reason: str) -> tuple[Report, bool]:
        """The caller's report of a message they may read, and whether it is new (a
        second report of the same message answers the first). Counts against the
        caller's report limit (CHAT_RATE_REPORTS)."""
        self._rate_limits.hit(self._rate_limits.reports, str(identity.user_id))
        unknown = NotFound(f"no message {message_id} that you may read")
        room_id = await self._store.message_room(message_id)
        if room_id is None:
            raise unknown
        try:
            room = await self._service.member_room(identity, room_id)
        except (Forbidden, NotFound):
            raise unknown from None
        message = await self._store.message_in_room(room.id, message_id)
        if message is None:
            raise unknown
        if message.deleted:
            raise InvalidInput(f"message {message_id} was deleted: there is nothing to report")
        report, new = await self._store.add_report(room.id, message_id, identity.user_id, reason)
        if new:
            await self._tell_open(room.id)
        return report, new

    async def reports(
        self,
        identity: Identity,
        room_id: int | None,
        *,
        status: str,
        before: int | None,
        limit: int,
    ) -> list[Report]:
        """A page of reports, newest first: a room's (its moderators and owners), or
        every room's (operators). `status` is one of `STATUSES`."""
        if status not in STATUSES:
            raise InvalidInput(f"status must be one of {', '.join(STATUSES)}")
        if room_id is None:
            if not identity.is_admin:
                raise Forbidden("only server operators may see every room's reports")
        else:
            room_id = await self._require_moderator(identity, room_id)
        return await self._store.reports(
            room_id, status=None if status == "all" else status, before=before, limit=limit
        )

    async def decide(self, identity: Identity, report_id: int, status: str) -> Report:
        """Resolve or dismiss a report (its room's moderators and owners, or operators)."""
        if status not in DECISIONS:
            raise InvalidInput('field "Status" must be "resolved" or "dismissed"')
        report = await self._store.report(report_id)
        if report is None:
            raise NotFound(f"no report with ReportID {report_id}")
        try:
            room = await self._require_moderator(identity, report.room_id)
        except ChatError:
            # Strangers learn nothing of a report's existence.
            raise NotFound(f"no report with ReportID {report_id}") from None
        message = report.message
        entry = AuditEntry(
            room_id=room,
            action=f"report-{status}",
            actor_id=identity.user_id,
            actor_name=identity.name,
            target_id=message.sender_id,
            target_name=message.sender_name,
            message_id=message.id,
            details={"ReportID": report.id},
        )
        decided = await self._store.decide_report(report.id, status, identity.user_id, entry)
        if decided is None:
            raise NotFound(f"no report with ReportID {report_id}")
        log_audit(entry)
        await self._tell_open(room)
        return decided

    async def _tell_open(self, room_id: int) -> None:
        """Tell the room's moderators and owners (at most `MAX_TOLD` of them), on every
        instance, how many of its reports are open now."""
        staff = await self._store.room_staff(room_id, limit=MAX_TOLD)
        if not staff:
            return
        frame = {
            "Type": "reports",
            "RoomID": room_id,
            "Open": await self._store.open_reports(room_id),
        }
        for user_id in staff:
            await self._service.notices.send(user_id, frame)

    async def _require_moderator(self, identity: Identity, room_id: int) -> int:
        room = await self._service.room(room_id)
        if room.kind in ("direct", "support"):
            if identity.is_admin:
                return room.id  # operators see reports of every room
            room = await self._service.member_room(identity, room_id)
        require(room, Action.REPORTS, await self._service.moderation.rank(identity, room))
        return room.id
