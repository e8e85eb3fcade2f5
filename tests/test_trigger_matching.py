"""Which stored messages take a trigger-word job (`SlashCommands.stored`): with a room's
outgoing webhooks in memory, only a message holding one of their words; without them, one
job to read them. A task per message of every group room would be paid by every room,
hooks or none, and a burst of them would fill the jobs' bound."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest

from chat.app.commands.dispatch import SlashCommands
from chat.core.records import Message, Room
from chat.core.room_commands import RoomCommand

pytestmark = pytest.mark.unit

T0 = datetime(2026, 11, 28, tzinfo=UTC)
ROOM = Room(5, "ops", "group", False, None, T0)


class Jobs:
    """Stands for `CommandCalls`: keeps the jobs started, runs none."""

    def __init__(self) -> None:
        self.started: list[Callable[[], Awaitable[None]]] = []

    def start(self, job: Callable[[], Awaitable[None]]) -> bool:
        self.started.append(job)
        return True


class Hooks:
    """Stands for the store: the room's outgoing webhooks, and how often they were read."""

    def __init__(self, *words: str) -> None:
        self.reads = 0
        self.hooks = (
            [RoomCommand("h1", ROOM.id, 9, "trigger", "http://x/", "s", 1, 0, trigger_words=words)]
            if words
            else []
        )

    async def room_triggers(self, room_id: int) -> list[RoomCommand]:
        self.reads += 1
        return self.hooks


def _commands(store: Hooks) -> tuple[SlashCommands, Jobs]:
    jobs = Jobs()
    return SlashCommands(SimpleNamespace(store=store), jobs, None), jobs  # type: ignore[arg-type]


def _message(message_id: int, body: str) -> Message:
    return Message(message_id, ROOM.id, 7, "alice", body, T0)


async def test_a_room_without_hooks_takes_one_job_to_read_them_then_none() -> None:
    store = Hooks()
    commands, jobs = _commands(store)
    commands.stored([(_message(1, "hello"), ROOM)])
    assert len(jobs.started) == 1
    await jobs.started[0]()  # reads the room's hooks: none
    commands.stored([(_message(n, "deploy now"), ROOM) for n in range(2, 50)])
    assert len(jobs.started) == 1
    assert store.reads == 1


async def test_with_hooks_in_memory_only_a_message_holding_a_word_takes_a_job() -> None:
    store = Hooks("deploy")
    commands, jobs = _commands(store)
    commands.stored([(_message(1, "first"), ROOM)])
    await jobs.started.pop()()  # reads the hooks; "first" holds no word
    commands.stored([(_message(2, "redeployed"), ROOM), (_message(3, "please Deploy"), ROOM)])
    assert len(jobs.started) == 1
    assert store.reads == 1


async def test_hooks_read_longer_ago_than_their_lifetime_are_read_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store = Hooks()
    commands, jobs = _commands(store)
    commands.stored([(_message(1, "hello"), ROOM)])
    await jobs.started.pop()()
    monkeypatch.setattr("chat.app.commands.dispatch.TRIGGERS_TTL_S", 0.0)
    commands.stored([(_message(2, "hello again"), ROOM)])
    assert len(jobs.started) == 1  # a hook made meanwhile (on any instance) is found
