"""A user whose account is deleted while connected gets a clear error for whatever it
sends next, in every dialect: never an "internal error", a 1011 close or a traceback.

That is the moment before the revocation sweep closes the connection (1008, "account
deleted", tests/test_token_revocation.py), which these tests keep out of the way.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from support import Account, Clients, JsonClient, Server, account, execute_sql, http_client

from chat.core.config import Config

Send = Callable[[JsonClient, Account, Account], Awaitable[Any]]


@pytest.fixture
def config(config: Config) -> Config:
    """The backend's configuration, with a sweep too rare to close anything meanwhile."""
    return config.replace(revocation_sweep=3600.0)


async def room_message(client: JsonClient, user: Account, other: Account) -> Any:
    return await client.request({"Type": "message", "Text": "still here?"})


async def direct_message(client: JsonClient, user: Account, other: Account) -> Any:
    return await client.request({"from": user.uid, "to": other.uid, "content": "still here?"})


async def support_message(client: JsonClient, user: Account, other: Account) -> Any:
    return await client.request({"method": "message.send", "params": ["help"], "id": 7})


async def lobby_message(client: JsonClient, user: Account, other: Account) -> Any:
    await client.send({"name": user.name, "message": "still here?"})
    return await client.receive()


CASES: dict[str, tuple[str, Send]] = {
    "room protocol": ("/ws", room_message),
    "direct messages": ("/ws", direct_message),
    "support": ("/v1/ws", support_message),
    "TokenTalker": ("/", lobby_message),
}


def is_error(frame: Any) -> bool:
    return bool(frame.get("error") or frame.get("Error"))


@pytest.mark.parametrize("case", list(CASES))
async def test_a_deleted_user_who_sends_gets_an_error_frame_and_nothing_is_logged_as_a_bug(
    server: Server, clients: Clients, caplog: pytest.LogCaptureFixture, case: str
) -> None:
    path, send = CASES[case]
    user, other = await account(server, "leaving"), await account(server, "staying")
    client = await clients.json(path, token=user.token)
    if path == "/ws":
        assert (await client.request({"Type": "enter", "RoomID": 1, "Presence": False}))[
            "Type"
        ] == "entered"
    if path == "/v1/ws":
        await client.receive()  # the support greeting: the (empty) thread
    await execute_sql(server.config, f"DELETE FROM users WHERE id = {user.uid}")

    caplog.set_level(logging.WARNING)
    answer = await send(client, user, other)

    assert is_error(answer), answer
    assert "internal error" not in str(answer)
    await client.send("ping")
    assert await client.ws.get_message() == "pong"  # still connected
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]


async def test_a_deleted_user_renaming_itself_gets_a_404(server: Server) -> None:
    user = await account(server, "leaving")
    await execute_sql(server.config, f"DELETE FROM users WHERE id = {user.uid}")
    async with http_client(server) as client:
        response = await client.put("/change-name", headers=user.auth, json={"NewName": "back"})
    # The token names a user who no longer exists: refused before the rename is tried.
    assert response.status_code == 401, response.text
