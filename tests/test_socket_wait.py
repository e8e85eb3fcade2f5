"""chat/ws/socket_wait.py: waiting for a readable socket the way Trio's epoll I/O manager
does, from the Trio it was written from, and with the outcomes Trio's wait has."""

from __future__ import annotations

import attrs
import pytest
import trio
import trio.testing
from test_websocket_seam import fingerprint
from trio._core._io_epoll import EpollIOManager, EpollWaiters

from chat.ws.socket_wait import WOKEN, can_wake, readable, wake

#: Fingerprints (tests/test_websocket_seam.py's `fingerprint`) of the Trio 0.35 code
#: `readable` does the work of (`_epoll_wait`), calls (`_update_registrations`), or
#: relies on to wake the task (`process_events`).
WRITTEN_FROM = {
    "_epoll_wait": "77ecbfcd36a3eec2",
    "_update_registrations": "20dbff0e0bf6a1ed",
    "process_events": "bd3f592355f9b621",
}


@pytest.mark.parametrize("name", WRITTEN_FROM)
def test_trio_still_has_what_socket_wait_was_written_from(name: str) -> None:
    found = fingerprint(getattr(EpollIOManager, name))
    assert found == WRITTEN_FROM[name], (
        f"Trio {trio.__version__}'s EpollIOManager.{name} is not the one "
        "chat/ws/socket_wait.py was written from (0.35): compare the two, bring "
        f"`readable` in line, then record its fingerprint here ({found!r})"
    )


def test_trio_still_keeps_a_reading_task_where_socket_wait_puts_it() -> None:
    assert [field.name for field in attrs.fields(EpollWaiters)] == [
        "read_task",
        "write_task",
        "current_flags",
    ]


async def test_a_wait_ends_when_the_socket_has_data() -> None:
    left, right = trio.socket.socketpair()
    with left, right, trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            woken = trio.Event()

            async def wait() -> None:
                await readable(left)
                woken.set()

            nursery.start_soon(wait)
            await trio.testing.wait_all_tasks_blocked()
            assert not woken.is_set()
            await right.send(b"x")
            await woken.wait()


async def test_a_cancelled_wait_lets_the_next_one_wait() -> None:
    left, right = trio.socket.socketpair()
    with left, right, trio.fail_after(5):
        with trio.move_on_after(0.05) as scope:
            await readable(left)
        assert scope.cancelled_caught
        await right.send(b"x")
        await readable(left)  # not refused as busy: the cancelled wait let go


async def test_a_second_reader_is_refused_while_one_waits() -> None:
    left, right = trio.socket.socketpair()
    with left, right, trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(readable, left)
            await trio.testing.wait_all_tasks_blocked()
            with pytest.raises(trio.BusyResourceError):
                await readable(left)
            nursery.cancel_scope.cancel()


async def test_closing_the_socket_ends_the_wait_with_closed_resource_error() -> None:
    left, right = trio.socket.socketpair()
    with right, trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            failed = trio.Event()

            async def wait() -> None:
                with pytest.raises(trio.ClosedResourceError):
                    await readable(left)
                failed.set()

            nursery.start_soon(wait)
            await trio.testing.wait_all_tasks_blocked()
            left.close()
            await failed.wait()


async def test_wake_ends_a_wait_with_woken_for_an_answer() -> None:
    left, right = trio.socket.socketpair()
    with left, right, trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            woken = trio.Event()

            async def wait() -> None:
                assert await readable(left) is WOKEN
                woken.set()

            nursery.start_soon(wait)
            await trio.testing.wait_all_tasks_blocked()
            assert can_wake()
            assert wake(left)
            await woken.wait()
        # The registration was taken back: the next wait is not refused as busy, and
        # waits for real data.
        with trio.move_on_after(0.05) as scope:
            await readable(left)
        assert scope.cancelled_caught
        await right.send(b"x")
        await readable(left)


async def test_wake_with_no_task_waiting_does_nothing() -> None:
    left, right = trio.socket.socketpair()
    with left, right, trio.fail_after(5):
        assert not wake(left)
        await right.send(b"x")
        assert await readable(left) is None  # readable: not woken
        assert not wake(left)  # woken by the data already
