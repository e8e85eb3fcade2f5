"""What a resuming client missed in a room (`chat.app.service.ChatService.resume`): its
messages and changes in position order, the newest `MAX_RESUME` of them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from chat.core.records import Change, Message

#: The most messages a resuming client is sent (`resume`); past it, it pages back over HTTP.
MAX_RESUME = 1000


@dataclass(frozen=True, slots=True)
class Backlog:
    """What a resuming client missed in a room (`ChatService.resume`): messages and
    changes, in position order. `before_id` is set when there were more than
    `MAX_RESUME`: those above the client's SinceID and below `before_id` were left out,
    for it to page back over HTTP."""

    items: tuple[Message | Change, ...]  # a tuple: one backlog may go to many (`resume`)
    before_id: int | None


def backlog_of(messages: Sequence[Message], changes: Sequence[Change]) -> Backlog:
    """A resume's messages and changes (each in position order, whether read from the
    table or from memory) as its `Backlog`: the newest `MAX_RESUME` of them."""
    newest_first: list[Message | Change] = [*messages, *changes]
    newest_first.sort(key=lambda item: item.position, reverse=True)
    before_id = None
    if len(newest_first) > MAX_RESUME:
        newest_first = newest_first[:MAX_RESUME]
        before_id = newest_first[-1].position
    return Backlog(tuple(newest_first[::-1]), before_id)
