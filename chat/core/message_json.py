"""Messages as a page of ``GET /messages`` (and of an ``entered`` frame) shows them,
encoded once and kept a while.

Every room switch reads a page of the room's newest 50 messages, and history from memory
(`chat.app.history.from_memory`) answers it with the same `Message` objects again and again until
one changes (an edit or a reaction makes a new one). Shaping and encoding 50 of them was
about a tenth of the server's main thread in bench/team_day.py at 4,000 users; this keeps
each one's JSON for the next page that shows it.

`Message` is immutable, so an object's JSON never goes stale; the memo is keyed by the
object's identity and holds the object, so the identity cannot be reused while it is
kept. Bounded by `MEMO_SIZE` messages: past that, the oldest half is dropped (first kept,
first dropped: the hot pages come back within moments). Messages read from the table are
new objects each time; they pass through the memo and are dropped in turn.
"""

from __future__ import annotations

from itertools import islice

from quart import Response

from chat.core import shapes
from chat.core.frames import dumps
from chat.core.records import Message

#: How many messages' JSON is kept (about 0.5 KiB each: a few MiB at most).
MEMO_SIZE = 4096

# id(message) -> (the message, its JSON). Only the Trio thread reads and writes it.
_memo: dict[int, tuple[Message, str]] = {}


def message_json(message: Message) -> str:
    """`shapes.room_message(message)`, encoded (compact, non-ASCII kept as is)."""
    kept = _memo.get(id(message))
    if kept is not None and kept[0] is message:
        return kept[1]
    encoded = dumps(shapes.room_message(message))
    if len(_memo) >= MEMO_SIZE:
        for key in list(islice(_memo, MEMO_SIZE // 2)):
            del _memo[key]
    _memo[id(message)] = (message, encoded)
    return encoded


def page_json(page: list[Message]) -> str:
    """A JSON array of the page's messages, in its order."""
    return "[" + ",".join(message_json(message) for message in page) + "]"


def page_response(page: list[Message]) -> Response:
    """A JSON array of the page's messages, in its order, as an HTTP answer."""
    return Response(page_json(page), status=200, mimetype="application/json")
