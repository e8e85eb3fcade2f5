"""What a push says (the plaintext the browser's service worker decrypts): a small JSON
object, far under the 4096 bytes a push may carry (RFC 8291 leaves 3993 for it).

    {"MessageID": 42, "RoomID": 3, "RoomName": "team", "RoomKind": "group",
     "Sender": "alice", "SenderID": 1, "Text": "the first 100 characters",
     "Mention": false, "ts": 1795296291108}

`RoomName` is null for a direct conversation or a support thread (they have no name).
`Mention` says whether the message mentions the recipient (by name or ``@room``). A
message that carries files adds ``"Files"``: the names of its first three (a message may
be files alone, with no text to show).
"""

from __future__ import annotations

import json
from typing import Any

from chat.core.records import Message, Room

#: Characters of the message's text a push carries.
TEXT_CHARS = 100
#: Files a push names, and characters of each name.
FILES_NAMED = 3
FILE_NAME_CHARS = 60


def push_payload(message: Message, room: Room, *, mention: bool) -> bytes:
    """The push for one recipient of `message`."""
    data: dict[str, Any] = {
        "MessageID": message.id,
        "RoomID": room.id,
        "RoomName": room.name,
        "RoomKind": room.kind,
        "Sender": message.sender_name,
        "SenderID": message.sender_id,
        "Text": message.body[:TEXT_CHARS],
        "Mention": mention,
        "ts": message.ts_ms,
    }
    if message.files:
        data["Files"] = [file.name[:FILE_NAME_CHARS] for file in message.files[:FILES_NAMED]]
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()


def urgency(room: Room, *, mention: bool) -> str:
    """RFC 8030's Urgency: "high" for what is addressed to the recipient (a conversation
    with them, a mention), "normal" for a room's chatter."""
    return "high" if mention or room.kind in ("direct", "support") else "normal"
