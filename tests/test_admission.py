"""A bound on WebSocket handshakes in progress (`chat.net.admission`, CHAT_MAX_HANDSHAKES):
past it an upgrade is answered 503 with Retry-After at once, never left to time out."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
import trio
from prometheus_client.parser import text_string_to_metric_families
from support import (
    STEP,
    Server,
    http_client,
    pg_query,
    pg_session,
    raw_upgrade,
    register,
    server_config,
    start_server,
    status_of,
    wait_until_true,
)

from chat.core.config import Config, load
from chat.net.admission import (
    FLOOR,
    MAX_RETRY_AFTER_S,
    REPORT_S,
    RETRY_AFTER_S,
    TARGET_S,
    HandshakeGate,
)

#: True while some session waits for a lock on the schema's users table.
SOMEONE_WAITS_FOR_THE_USERS_TABLE = (
    "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'relation' AND NOT granted"
    " AND relation = to_regclass('users'))"
)


async def handshake_metrics(server: Server) -> tuple[float, float]:
    """The instance's handshakes in progress and upgrades turned away, from /metrics."""
    async with http_client(server) as client:
        text = (await client.get("/metrics")).text
    found = {
        sample.name: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }
    return (
        found["chat_websocket_handshakes_in_progress"],
        found["chat_websocket_handshakes_turned_away_total"],
    )


async def crowd_upgrades(server: Server, count: int) -> list[bytes]:
    """The statuses answered to `count` upgrades of one new user's token, sent at once."""
    token = await register(server, "ada")
    answers: list[bytes] = []

    async def upgrade() -> None:
        answers.append(status_of(await raw_upgrade(server, f"/ws?token={token}")))

    async with trio.open_nursery() as crowd:
        for _ in range(count):
            crowd.start_soon(upgrade)
    return answers


def test_the_gate_lets_in_up_to_its_limit_and_counts_what_it_turns_away() -> None:
    gate = HandshakeGate(2)
    first, second = gate.take(), gate.take()
    assert first is not None and second is not None
    assert gate.take() is None
    assert (gate.in_progress, gate.turned_away) == (2, 1)
    first.give_back()
    first.give_back()  # once is enough: the second call gives back nothing more
    assert gate.take() is not None
    assert (gate.in_progress, gate.turned_away) == (2, 1)


def test_a_gate_of_zero_has_no_bound() -> None:
    gate = HandshakeGate(0)
    assert all(gate.take() is not None for _ in range(10_000))
    assert gate.turned_away == 0


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def full_gate(clock: Clock, *, limit: int, finished_last_second: int) -> HandshakeGate:
    """A gate at its limit, after `finished_last_second` quick handshakes finished in
    the second before the clock's."""
    gate = HandshakeGate(limit, clock=clock)
    clock.now -= 1
    for _ in range(finished_last_second):
        slot = gate.take()
        assert slot is not None
        slot.give_back()
    clock.now += 1
    while gate.take() is not None:
        pass
    return gate


def finish(gate: HandshakeGate, clock: Clock, count: int, *, taking: float) -> None:
    """`count` handshakes let in now finish `taking` seconds later (the clock moves on)."""
    slots = [gate.take() for _ in range(count)]
    clock.now += taking
    for slot in slots:
        assert slot is not None
        slot.give_back()


def test_those_turned_away_get_turns_at_the_pace_handshakes_finish() -> None:
    clock = Clock()
    gate = full_gate(clock, limit=2, finished_last_second=10)
    waits = [gate.retry_after() for _ in range(30)]
    # Ten a second: the first waits the least, the thirtieth 29 turns of 0.1 s later.
    assert waits[0] == RETRY_AFTER_S
    assert waits == sorted(waits)
    assert waits[-1] == RETRY_AFTER_S + 3


def test_the_pace_is_never_slower_than_the_bound_a_second() -> None:
    clock = Clock()
    gate = full_gate(clock, limit=50, finished_last_second=0)
    waits = [gate.retry_after() for _ in range(100)]
    assert waits[-1] == RETRY_AFTER_S + 2  # 99 turns of 1/50 s


def test_once_the_turns_handed_out_have_passed_a_refusal_waits_the_least_again() -> None:
    clock = Clock()
    gate = full_gate(clock, limit=2, finished_last_second=10)
    for _ in range(30):
        gate.retry_after()
    clock.now += 10
    assert gate.retry_after() == RETRY_AFTER_S


def test_no_refusal_asks_for_a_longer_wait_than_the_most() -> None:
    clock = Clock()
    gate = full_gate(clock, limit=1, finished_last_second=0)
    waits = [gate.retry_after() for _ in range(500)]
    assert max(waits) == MAX_RETRY_AFTER_S


def test_handshakes_slower_than_the_target_bring_the_bound_down_to_its_seconds_of_pace() -> None:
    clock = Clock()
    gate = HandshakeGate(2048, clock=clock)
    busy = [gate.take() for _ in range(1000)]  # still in progress
    finish(gate, clock, 300, taking=TARGET_S + 1)
    clock.now += 1
    assert gate.take() is None  # the first of the next second: the bound is set
    assert gate.bound == 300 * TARGET_S
    assert None not in busy


def slowed_gate(clock: Clock, *, finished: int, taking: float) -> HandshakeGate:
    """A gate of 2048 after a second in which `finished` handshakes finished, each
    having taken `taking` seconds; the next second begun (its bound set)."""
    gate = HandshakeGate(2048, clock=clock)
    finish(gate, clock, finished, taking=taking)
    clock.now += 1
    slot = gate.take()
    assert slot is not None
    slot.give_back()
    return gate


def test_the_bound_never_comes_down_below_the_floor() -> None:
    gate = slowed_gate(Clock(), finished=10, taking=TARGET_S * 5)
    assert gate.bound == FLOOR


def test_quick_handshakes_bring_the_bound_back_up_to_the_setting() -> None:
    clock = Clock()
    gate = slowed_gate(clock, finished=100, taking=TARGET_S * 2)
    bounds = [gate.bound]
    for _ in range(6):
        finish(gate, clock, 100, taking=0.2)
        clock.now += 1
        gate.take()
        bounds.append(gate.bound)
    assert bounds == [FLOOR, 384, 576, 864, 1296, 1944, 2048]


def test_an_idle_gate_starts_the_next_crowd_at_the_setting() -> None:
    clock = Clock()
    gate = slowed_gate(clock, finished=50, taking=TARGET_S * 3)
    assert gate.bound == FLOOR
    clock.now += 30
    assert gate.take() is not None
    assert gate.bound == 2048


def test_a_gate_still_working_keeps_its_bound_through_a_second_in_which_none_finished() -> None:
    clock = Clock()
    gate = slowed_gate(clock, finished=50, taking=TARGET_S * 3)
    assert gate.take() is not None  # and still in progress
    clock.now += 5
    gate.take()
    assert gate.bound == FLOOR


def test_a_gate_of_zero_keeps_its_bound_at_zero_however_slow_its_handshakes() -> None:
    clock = Clock()
    gate = HandshakeGate(0, clock=clock)
    finish(gate, clock, 300, taking=TARGET_S * 3)
    clock.now += 1
    slot = gate.take()
    assert slot is not None
    slot.give_back()  # finishing moves the gate on to the next second
    assert gate.bound == 0  # what chat_websocket_handshakes_bound shows


def test_the_bound_is_a_setting_that_zero_turns_off_and_a_negative_value_is_refused() -> None:
    assert Config().max_handshakes == 2048
    assert load({"CHAT_MAX_HANDSHAKES": "0"}).max_handshakes == 0
    assert load({"CHAT_MAX_HANDSHAKES": "64"}).max_handshakes == 64
    try:
        load({"CHAT_MAX_HANDSHAKES": "-1"})
    except Exception as error:
        assert "CHAT_MAX_HANDSHAKES" in str(error)
    else:
        raise AssertionError("a negative bound was accepted")


async def test_an_upgrade_past_the_bound_is_answered_503_with_retry_after_at_once(
    nursery: trio.Nursery, postgres_config: Config
) -> None:
    # A handshake is held in progress for as long as the test wants: its token check
    # reads the users table, which the test's own transaction locks.
    server = await start_server(nursery, postgres_config.replace(max_handshakes=1))
    token = await register(server, "ada")
    url = postgres_config.database_url
    assert url is not None
    first: list[bytes] = []
    answered = trio.Event()

    async def held_upgrade() -> None:
        first.append(await raw_upgrade(server, f"/ws?token={token}"))
        answered.set()

    async with pg_session(url) as execute, pg_query(url) as fetchval:
        await execute("BEGIN")
        await execute("LOCK TABLE users IN ACCESS EXCLUSIVE MODE")
        nursery.start_soon(held_upgrade)
        await wait_until_true(fetchval, SOMEONE_WAITS_FOR_THE_USERS_TABLE)
        with trio.fail_after(STEP):  # before the held one, which waits for ROLLBACK
            refused = await raw_upgrade(server, f"/ws?token={token}")
        await execute("ROLLBACK")
    assert status_of(refused) == b"503"
    head, _, body = refused.partition(b"\r\n\r\n")
    assert f"retry-after: {RETRY_AFTER_S}".encode() in head.lower()
    assert "try again" in json.loads(body)["error"]
    with trio.fail_after(STEP):
        await answered.wait()
    assert status_of(first[0]) == b"101"


async def test_a_slot_is_given_back_when_the_handshake_ends_however_it_ends(
    nursery: trio.Nursery, config: Config
) -> None:
    server = await start_server(nursery, config.replace(max_handshakes=1))
    token = await register(server, "ada")
    # Opened, refused for a bad token, refused for a bad path: each gives its slot back.
    for target, status in (
        (f"/ws?token={token}", b"101"),
        ("/ws?token=not-a-token", b"401"),
        ("/nowhere", b"404"),
        (f"/ws?token={token}", b"101"),
    ):
        assert status_of(await raw_upgrade(server, target)) == status, target
    assert await handshake_metrics(server) == (0, 0)


async def test_a_crowd_past_the_bound_gets_101_or_a_prompt_503_and_nothing_else(
    nursery: trio.Nursery, config: Config
) -> None:
    server = await start_server(nursery, config.replace(max_handshakes=2))
    answers = await crowd_upgrades(server, 40)
    assert len(answers) == 40
    assert set(answers) <= {b"101", b"503"}
    in_progress, turned_away = await handshake_metrics(server)
    assert in_progress == 0
    assert turned_away == answers.count(b"503")


async def test_with_no_bound_a_crowd_is_let_in_whole(tmp_path: Path, nursery: trio.Nursery) -> None:
    server = await start_server(nursery, server_config(tmp_path, None, max_handshakes=0))
    assert await crowd_upgrades(server, 40) == [b"101"] * 40


# --- the line a second for those turned away ---


def turned_away_lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, object]]:
    """The fields of each "upgrades turned away" line logged so far."""
    return [
        {key: getattr(record, key) for key in ("count", "status", "bound", "retry_after")}
        for record in caplog.records
        if record.name == "chat.access.ws"
        and record.getMessage() == "WebSocket upgrades turned away"
    ]


def turn_away(gate: HandshakeGate, count: int) -> None:
    """`count` upgrades find the gate full and are told when to come back."""
    for _ in range(count):
        assert gate.take() is None
        gate.retry_after()


async def test_those_turned_away_are_logged_a_line_a_second_while_there_are_any(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="chat.access.ws")
    clock = Clock()
    gate = full_gate(clock, limit=2, finished_last_second=0)
    await nursery.start(gate.report)
    before = gate.turned_away  # filling the gate found it full once
    turn_away(gate, 3)
    await trio.sleep(REPORT_S / 2)
    turn_away(gate, 2)
    await trio.sleep(REPORT_S)
    assert turned_away_lines(caplog) == [{"count": 5, "status": 503, "bound": 2, "retry_after": 3}]
    await trio.sleep(10 * REPORT_S)  # none turned away meanwhile: no line
    turn_away(gate, 1)
    await trio.sleep(2 * REPORT_S)
    assert [line["count"] for line in turned_away_lines(caplog)] == [5, 1]
    assert gate.turned_away - before == 6


async def test_those_turned_away_in_the_last_moment_are_logged_on_shutdown(
    autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="chat.access.ws")
    gate = full_gate(Clock(), limit=2, finished_last_second=0)
    async with trio.open_nursery() as nursery:
        await nursery.start(gate.report)
        turn_away(gate, 4)
        await trio.sleep(REPORT_S / 10)
        nursery.cancel_scope.cancel()
    assert [line["count"] for line in turned_away_lines(caplog)] == [4]
