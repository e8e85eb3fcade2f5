"""Threads over HTTP: a thread's messages a page at a time, and a room's threads.

- ``GET /messages/{roomID}/threads/{threadID}`` (``?last_id=``, or ``?after=``, or
  ``?around=``; ``?limit=``) -> 200 [message, ...], newest first: the root is the
  thread's oldest message
- ``GET /room/{roomID}/threads`` (``?limit=``) -> 200 [root message with "Thread", ...],
  by last activity, newest first
- ``GET``/``PUT``/``DELETE /threads/{threadID}/follow`` -> 200 {"ThreadID", "RoomID", "Following"}
- ``PUT /threads/{threadID}/read`` {"MessageID"} -> 200 {"ThreadID", "MessageID"}: the
  marker as stored (it never moves back)
- ``GET /threads/unread`` (``?limit=``) -> 200 [followed thread, ...], by last activity

Members only, as the room's history. Replying in a thread is ``POST /messages/{roomID}``
with ``ThreadID`` (chat/http/messages.py); the rules are `chat.app.messages.threads`'.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from quart import Blueprint, request

from chat.app.history.pages import DEFAULT_AROUND, MAX_PAGE
from chat.app.messages.threads import (
    DEFAULT_FOLLOWED,
    DEFAULT_THREADS,
    MAX_FOLLOWED,
    MAX_THREADS,
)
from chat.app.service import ChatService
from chat.core import shapes, validation
from chat.core.errors import InvalidInput
from chat.core.message_json import page_response
from chat.core.thread_records import THREAD_UNREAD_CAP, FollowedThread
from chat.http.bodies import json_object
from chat.http.identity import require_identity
from chat.http.openapi import (
    BOOLEAN,
    ERROR,
    ID,
    ID_OR_ZERO,
    INVALID,
    MESSAGE,
    TIMESTAMP,
    Answer,
    Token,
    View,
    body_fields,
    describe,
    exact_object,
    room_reading,
)

_PAGE_SIZE = {"type": "integer", "minimum": 1, "maximum": MAX_PAGE}
_THREADS_SIZE = {"type": "integer", "minimum": 1, "maximum": MAX_THREADS}
_THREAD_ROOT = {**MESSAGE, "required": [*MESSAGE["required"], "Thread"]}
_THREAD_PATH = {"thread_id": ID}
_COUNT = {"type": "integer", "minimum": 0, "maximum": THREAD_UNREAD_CAP}
_FOLLOWING = exact_object({"ThreadID": ID, "RoomID": ID, "Following": BOOLEAN})
_MARKER = exact_object({"ThreadID": ID, "MessageID": ID})
_FOLLOWED = exact_object(
    {
        "ThreadID": ID,
        "RoomID": ID,
        "ReadID": ID,
        "LastReplyID": {"type": ["integer", "null"], "minimum": 1},
        "LastReplyAt": {"anyOf": [TIMESTAMP, {"type": "null"}]},
        "Unread": _COUNT,
        "Mentions": _COUNT,
    }
)
_UNREADABLE_THREAD = Answer(
    "no thread with this id that the caller may read (none, a reply, or one in a room"
    " that is not theirs: the same answer)",
    ERROR,
)


def followed_shape(thread: FollowedThread) -> dict[str, Any]:
    return {
        "ThreadID": thread.thread_id,
        "RoomID": thread.room_id,
        "ReadID": thread.read_id,
        "LastReplyID": thread.last_reply_id,
        "LastReplyAt": (
            None if thread.last_reply_at is None else shapes.timestamp(thread.last_reply_at)
        ),
        "Unread": thread.unread,
        "Mentions": thread.mentions,
    }


def _optional_number(value: str | None, what: str) -> int | None:
    return None if value is None else validation.query_number(value, what)


def thread_routes(service: ChatService) -> Blueprint:
    routes = Blueprint("threads", __name__)

    @routes.get("/messages/<room_id>/threads/<thread_id>")
    @describe(
        "A page of a thread's messages, newest first (members only)",
        description=(
            "A thread is its root (a message of the room outside any thread) and the"
            " messages replying in it; the root is its oldest. Paged as the room's"
            " history: last_id (older than it; 0 or absent: from the newest), or after=ID"
            " (the limit messages next after it), or around=ID (that message of the thread"
            f" with about half of limit, default {DEFAULT_AROUND}, older ones and the rest"
            " newer). 404 if threadID is not a root of the room (a reply is not)."
        ),
        path={"room_id": ID, "thread_id": ID},
        query={"last_id": ID_OR_ZERO, "limit": _PAGE_SIZE, "after": ID_OR_ZERO, "around": ID},
        token=Token.REQUIRED,
        answers=room_reading(Answer("the messages", {"type": "array", "items": MESSAGE})),
    )
    async def thread_page(room_id: str, thread_id: str) -> Any:
        identity = await require_identity(service, request)
        room_number = validation.path_id(room_id, "roomID")
        thread_number = validation.path_id(thread_id, "threadID")
        args = request.args
        last_id = _optional_number(args.get("last_id"), "last_id") or 0
        after = _optional_number(args.get("after"), "after")
        around = (
            None if args.get("around") is None else validation.path_id(args["around"], "around")
        )
        if sum(x is not None for x in (around, after)) + (last_id != 0) > 1:
            raise InvalidInput("give one of last_id, after and around, not several")
        page = await service.threads.page(
            identity,
            room_number,
            thread_number,
            last_id=last_id,
            after=after,
            around=around,
            limit=_optional_number(args.get("limit"), "limit"),
        )
        return page_response(page)

    @routes.get("/room/<room_id>/threads")
    @describe(
        "A room's threads by last activity, newest first (members only)",
        description=(
            "Each thread's root as history items show it, with its summary as Thread:"
            " how many replies it has (deleted ones not counted), when the newest was"
            " sent, and who replied (at most 10 UIDs, in the order each first replied)."
            f" Threads whose replies were all deleted are not listed. At most limit"
            f" (default {DEFAULT_THREADS})."
        ),
        path={"room_id": ID},
        query={"limit": _THREADS_SIZE},
        token=Token.REQUIRED,
        answers=room_reading(
            Answer("the threads", {"type": "array", "items": _THREAD_ROOT, "maxItems": MAX_THREADS})
        ),
    )
    async def room_threads(room_id: str) -> Any:
        identity = await require_identity(service, request)
        room_number = validation.path_id(room_id, "roomID")
        limit = _optional_number(request.args.get("limit"), "limit")
        threads = await service.threads.room_threads(
            identity, room_number, limit=DEFAULT_THREADS if limit is None else limit
        )
        return [shapes.thread_root(root, summary) for root, summary in threads]

    async def _follow(thread_id: str, following: bool | None) -> Any:
        """Follow (True), unfollow (False), or say which (None)."""
        identity = await require_identity(service, request)
        thread_number = validation.path_id(thread_id, "threadID")
        if following is None:
            room_id, following = await service.threads.following(identity, thread_number)
        else:
            room_id = await service.threads.follow(identity, thread_number, following=following)
        return {"ThreadID": thread_number, "RoomID": room_id, "Following": following}

    def _about_following(summary: str, description: str, answer: str) -> Callable[[View], View]:
        return describe(
            summary,
            description=description,
            path=_THREAD_PATH,
            token=Token.REQUIRED,
            answers={200: Answer(answer, _FOLLOWING), 400: INVALID, 404: _UNREADABLE_THREAD},
        )

    @routes.get("/threads/<thread_id>/follow")
    @_about_following(
        "Whether the caller follows a thread",
        "Any thread of a room the caller may read, followed or not (GET /threads/unread"
        " lists only the followed, the most recently active first).",
        "the choice",
    )
    async def follow_state(thread_id: str) -> Any:
        return await _follow(thread_id, None)

    @routes.put("/threads/<thread_id>/follow")
    @_about_following(
        "Follow a thread",
        "Any thread of a room the caller may read (a message outside any thread, with"
        " replies or not). Its new replies then count in GET /threads/unread, from"
        " its newest message on. Replying in a thread follows it too, and so does"
        " having started it or being mentioned in it, unless the caller unfollowed it.",
        "followed",
    )
    async def follow(thread_id: str) -> Any:
        return await _follow(thread_id, True)

    @routes.delete("/threads/<thread_id>/follow")
    @_about_following(
        "Stop following a thread",
        "A choice that lasts: being mentioned in the thread no longer follows it;"
        " replying in it, or PUT, does.",
        "not followed",
    )
    async def unfollow(thread_id: str) -> Any:
        return await _follow(thread_id, False)

    @routes.put("/threads/<thread_id>/read")
    @describe(
        "Say how far the caller has read a thread",
        description=(
            "MessageID: the thread's root or one of its replies. The marker never moves"
            " back: the answer is the marker as stored. Kept whether the caller follows"
            " the thread or not (it counts once they do)."
        ),
        path=_THREAD_PATH,
        body=body_fields({"MessageID": ID}),
        token=Token.REQUIRED,
        answers={
            200: Answer("the marker", _MARKER),
            400: INVALID,
            404: Answer("no such thread the caller may read, or no such message in it", ERROR),
        },
    )
    async def mark_read(thread_id: str) -> Any:
        identity = await require_identity(service, request)
        thread_number = validation.path_id(thread_id, "threadID")
        message_id = validation.require_id(await json_object(request), "MessageID")
        marker = await service.threads.mark_read(identity, thread_number, message_id)
        return {"ThreadID": thread_number, "MessageID": marker}

    @routes.get("/threads/unread")
    @describe(
        "The threads the caller follows, with what of each they have not read",
        description=(
            "Threads in rooms the caller may read now, the most recently answered first"
            " (a thread without replies by its root). ReadID: the caller's marker (the"
            " root's id until they read a reply). Unread: replies after it that others"
            " sent and that show; Mentions: those of them that mention the caller (by"
            f" name, or @room). Counting stops at {THREAD_UNREAD_CAP}. At most limit"
            f" (default {DEFAULT_FOLLOWED})."
        ),
        query={"limit": {"type": "integer", "minimum": 1, "maximum": MAX_FOLLOWED}},
        token=Token.REQUIRED,
        answers={
            200: Answer(
                "the followed threads",
                {"type": "array", "items": _FOLLOWED, "maxItems": MAX_FOLLOWED},
            ),
            400: INVALID,
        },
    )
    async def unread_threads() -> Any:
        identity = await require_identity(service, request)
        limit = _optional_number(request.args.get("limit"), "limit")
        followed = await service.threads.followed(
            identity, limit=DEFAULT_FOLLOWED if limit is None else limit
        )
        return [followed_shape(thread) for thread in followed]

    return routes
