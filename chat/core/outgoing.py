"""A message being sent: what its sender says, as one value from the front door to the
INSERT.

The front door builds it (`from_fields` for the room protocol's ``message`` frame and
``POST /messages/{roomID}``, which name their fields alike; the other dialects from their
own frames), `chat.app.service.ChatService.post` checks it and adds who it mentions, the
writer holds it while it waits for its batch (`chat.app.messages.pending`), and the
store inserts it (`chat.store.message_rows.INSERTED`). What it becomes once stored is a
`chat.core.records.Message`. A field a message carries is added here, not to every
signature on the way.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from chat.core import validation
from chat.core.errors import InvalidInput


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    """What a sender's message says. The door checked each field's type and form; the
    service checks the rest (the text's length, that `reply_to` is a message of the room,
    that the `files` are the sender's) before it is queued."""

    body: str
    #: The sender's own id for it, which makes sending it idempotent.
    client_msg_id: str | None = None
    #: The message of the same room it answers.
    reply_to: int | None = None
    #: The files it carries (FileIDs from ``POST /files``), in the order listed.
    files: tuple[str, ...] = ()
    #: The root of the thread it replies in (None: a message of the main timeline only).
    #: The service makes it the root's own when the client names a reply.
    thread_id: int | None = None
    #: A thread reply its sender also sends to the main timeline.
    also_to_room: bool = False
    #: Who its text mentions: UIDs, and ``@room``. Never from the client: the service
    #: finds them (`chat.app.messages.mentions.resolve`, which needs the store).
    mentions: tuple[int, ...] = ()
    mentions_room: bool = False


def from_fields(fields: Mapping[str, Any]) -> OutgoingMessage:
    """A message as the room protocol's ``message`` frame and ``POST /messages/{roomID}``
    send it: ``Text``, and optionally ``ReplyTo``, ``ClientMsgID``, ``Files``,
    ``ThreadID`` and ``AlsoToRoom`` (which needs a ``ThreadID``). Raises `InvalidInput`
    naming the first field that is not what it should be."""
    text = validation.require_str(fields, "Text")
    reply_to = None
    if fields.get("ReplyTo") is not None:
        reply_to = validation.require_id(fields, "ReplyTo")
    client_msg_id = validation.client_msg_id(fields, "ClientMsgID")
    thread_id = None
    if fields.get("ThreadID") is not None:
        thread_id = validation.require_id(fields, "ThreadID")
    also_to_room = False
    if fields.get("AlsoToRoom") is not None:
        also_to_room = validation.require_bool(fields, "AlsoToRoom")
        if also_to_room and thread_id is None:
            raise InvalidInput("AlsoToRoom needs a ThreadID")
    return OutgoingMessage(
        text,
        client_msg_id,
        reply_to,
        validation.file_ids(fields),
        thread_id=thread_id,
        also_to_room=also_to_room,
    )
