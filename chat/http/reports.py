"""Reports of messages (`chat.app.messages.reports` decides).

- ``POST /reports`` {"MessageID", "Reason"}          -> 201 report (200: reported before)
- ``GET /room/{roomID}/reports?status=&before=&limit=`` -> 200 [report, ...] (moderators)
- ``GET /reports?status=&before=&limit=``              -> 200 [report, ...] (operators)
- ``PUT /reports/{ReportID}`` {"Status"}              -> 200 report
"""

from __future__ import annotations

from typing import Any

from quart import Blueprint, request

from chat.app.messages.reports import DECISIONS, STATUSES
from chat.app.service import ChatService
from chat.core import moderation_input, shapes, validation
from chat.core.records import Report
from chat.http.bodies import json_object
from chat.http.identity import require_identity
from chat.http.moderation import page_query
from chat.http.openapi import (
    ERROR,
    FORBIDDEN,
    ID,
    INVALID,
    MESSAGE,
    NOT_FOUND,
    PERSON,
    STRING,
    TIMESTAMP,
    Answer,
    Token,
    body_fields,
    describe,
    exact_object,
)

REPORT = exact_object(
    {
        "ReportID": ID,
        "RoomID": ID,
        "MessageID": ID,
        "Reporter": PERSON,
        "Reason": STRING,
        "Status": {"type": "string", "enum": ["open", *DECISIONS]},
        "CreatedAt": TIMESTAMP,
        "DecidedBy": {"anyOf": [PERSON, {"type": "null"}]},
        "DecidedAt": {"type": ["string", "null"], "format": "date-time"},
        "Message": MESSAGE,
    }
)
_REPORTS = Answer("reports, newest first", {"type": "array", "items": REPORT})
_LISTING = {
    "status": {"type": "string", "enum": list(STATUSES), "default": "open"},
    "before": ID,
    "limit": {"type": "integer", "minimum": 1, "maximum": moderation_input.MAX_PAGE},
}


def report_shape(report: Report) -> dict[str, Any]:
    decided_by = None
    if report.decided_by is not None:
        decided_by = shapes.person(report.decided_by, report.decided_by_name or "")
    return {
        "ReportID": report.id,
        "RoomID": report.room_id,
        "MessageID": report.message.id,
        "Reporter": shapes.person(report.reporter_id, report.reporter_name),
        "Reason": report.reason,
        "Status": report.status,
        "CreatedAt": shapes.timestamp(report.created_at),
        "DecidedBy": decided_by,
        "DecidedAt": None if report.decided_at is None else shapes.timestamp(report.decided_at),
        "Message": shapes.room_message(report.message),
    }


def report_routes(service: ChatService) -> Blueprint:
    routes = Blueprint("reports", __name__)

    @routes.post("/reports")
    @describe(
        "Report a message to its room's moderators",
        description=(
            "Anyone who may read the message may report it; reporting it again answers"
            " the same report (200). Counts against CHAT_RATE_REPORTS."
        ),
        body=body_fields(
            {"MessageID": ID},
            {"Reason": {"type": "string", "maxLength": moderation_input.MAX_REASON_CHARS}},
        ),
        example={"MessageID": 17, "Reason": "spam link"},
        token=Token.REQUIRED,
        answers={
            201: Answer("reported", REPORT),
            200: Answer("reported before by the caller: that report", REPORT),
            400: INVALID,
            404: Answer("no such message that the caller may read", ERROR),
            429: Answer("too many reports (CHAT_RATE_REPORTS)", ERROR, retry_after=True),
        },
    )
    async def report() -> Any:
        identity = await require_identity(service, request)
        body = await json_object(request)
        message_id = validation.require_id(body, "MessageID")
        reason = moderation_input.reason(body)
        found, new = await service.reports.report(identity, message_id, reason)
        return report_shape(found), 201 if new else 200

    @routes.get("/room/<room_id>/reports")
    @describe(
        "A room's reports, newest first (its moderators and owners)",
        path={"room_id": ID},
        query=_LISTING,
        token=Token.REQUIRED,
        answers={
            200: _REPORTS,
            400: INVALID,
            403: FORBIDDEN,
            404: NOT_FOUND,
            409: Answer("the room has no moderators (a direct conversation)", ERROR),
        },
    )
    async def room_reports(room_id: str) -> Any:
        identity = await require_identity(service, request)
        room_number = validation.path_id(room_id, "roomID")
        before, limit = page_query()
        found = await service.reports.reports(
            identity,
            room_number,
            status=request.args.get("status", "open"),
            before=before,
            limit=limit,
        )
        return [report_shape(item) for item in found]

    @routes.get("/reports")
    @describe(
        "Every room's reports, newest first (server operators)",
        query=_LISTING,
        token=Token.REQUIRED,
        answers={200: _REPORTS, 400: INVALID, 403: FORBIDDEN},
    )
    async def all_reports() -> Any:
        identity = await require_identity(service, request)
        before, limit = page_query()
        found = await service.reports.reports(
            identity, None, status=request.args.get("status", "open"), before=before, limit=limit
        )
        return [report_shape(item) for item in found]

    @routes.put("/reports/<report_id>")
    @describe(
        "Resolve or dismiss a report (its room's moderators and owners, or operators)",
        path={"report_id": ID},
        body=body_fields({"Status": {"type": "string", "enum": list(DECISIONS)}}),
        example={"Status": "resolved"},
        token=Token.REQUIRED,
        answers={
            200: Answer("decided", REPORT),
            400: INVALID,
            404: Answer("no such report that the caller may decide", ERROR),
        },
    )
    async def decide(report_id: str) -> Any:
        identity = await require_identity(service, request)
        report_number = validation.path_id(report_id, "ReportID")
        body = await json_object(request)
        status = validation.require_str(body, "Status")
        return report_shape(await service.reports.decide(identity, report_number, status))

    return routes
