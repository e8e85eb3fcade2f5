"""The support chat of spec 001: POST /v1/auth/ and the JSON-RPC protocol on /v1/ws.

Test names carry the spec's step numbers."""

from __future__ import annotations

import time

import pytest
import trio
from support import STEP, Account, Clients, JsonClient, Server, account, http_client
from trio_websocket import ConnectionClosed

from chat.app.accounts.auth import Passwords
from chat.store import open_store


async def operator(server: Server, name: str = "op") -> Account:
    """An operator, created the way `chat user add NAME --admin` does."""
    password_hash = await Passwords(4).hash("pw")
    async with open_store(server.config) as store:
        user = await store.create_user(name, password_hash, is_admin=True)
    async with http_client(server) as client:
        response = await client.post("/v1/auth/", json={"user_name": name, "password": "pw"})
    return Account(user.id, name, "", "pw", response.json()["result"]["token"])


async def support_client(
    clients: Clients, user: Account, request_id: int = 1
) -> tuple[JsonClient, dict]:
    """A /v1/ws connection authenticated with message.auth; returns it and the answer."""
    ws = await clients.json("/v1/ws")
    answer = await ws.request({"method": "message.auth", "params": [user.token], "id": request_id})
    return ws, answer


async def expect_close(ws: JsonClient, code: int = 1008) -> str:
    with pytest.raises(ConnectionClosed) as closed, trio.fail_after(STEP):
        while True:
            await ws.ws.get_message()
    assert closed.value.reason.code == code
    return closed.value.reason.reason or ""


# --- 5: POST /v1/auth/ ---


async def test_5_1_1_2_matching_credentials_get_200_with_the_token_and_the_user_id(
    server: Server,
) -> None:
    user = await account(server, "user1", "password1")
    async with http_client(server) as client:
        response = await client.post(
            "/v1/auth/", json={"user_name": "user1", "password": "password1"}
        )
    assert response.status_code == 200
    body = response.json()
    assert body["error"] is None and body["id"] == user.uid
    assert set(body["result"]) == {"token"}


@pytest.mark.parametrize(
    "body",
    [
        {"user_name": "user1", "password": "wrong"},
        {"user_name": "nobody", "password": "x"},
        {"user_name": "", "password": ""},
        {"user_name": "user1", "password": "p" * 100},
    ],
    ids=["wrong-password", "unknown-user", "empty-strings", "overlong-password"],
)
async def test_5_1_1_1_well_formed_but_wrong_credentials_get_an_empty_403(
    server: Server, body: dict
) -> None:
    await account(server, "user1", "password1")
    async with http_client(server) as client:
        response = await client.post("/v1/auth/", json=body)
    assert response.status_code == 403
    assert response.content == b""


@pytest.mark.parametrize(
    "raw",
    [
        b"not json",
        b"",
        b"[]",
        b'"user1"',
        b'{"user_name": "user1"}',
        b'{"password": "x"}',
        b'{"user_name": 1, "password": "x"}',
        b'{"user_name": "user1", "password": null}',
        b"\xff\xfe",
        b'{"user_name": "\\ud800", "password": "x"}',  # not text: a lone surrogate
    ],
)
async def test_5_1_1_3_anything_else_gets_an_empty_404(server: Server, raw: bytes) -> None:
    async with http_client(server) as client:
        response = await client.post("/v1/auth/", content=raw)
    assert response.status_code == 404
    assert response.content == b""


async def test_the_auth_endpoint_also_answers_without_the_trailing_slash(server: Server) -> None:
    await account(server, "user1", "password1")
    async with http_client(server) as client:
        response = await client.post(
            "/v1/auth", json={"user_name": "user1", "password": "password1"}
        )
    assert response.status_code == 200


# --- 1: authentication and the thread on arrival ---


async def test_1_2_2_a_user_without_messages_gets_null(server: Server, clients: Clients) -> None:
    user = await account(server, "user")
    _, answer = await support_client(clients, user, request_id=1)
    assert answer == {"error": None, "result": {"messages": None}, "id": 1}


async def test_1_1_2_and_1_2_1_a_valid_token_gets_the_thread_oldest_first(
    server: Server, clients: Clients
) -> None:
    user, op = await account(server, "user"), await operator(server, "Operator1")
    ws, _ = await support_client(clients, user)
    await ws.request({"method": "message.send", "params": ["Message from Client"], "id": 2})
    op_ws, _ = await support_client(clients, op)
    await op_ws.request(
        {"method": "message.operatorSend", "params": [user.uid, "Message from Operator"], "id": 3}
    )

    _, answer = await support_client(clients, user, request_id=7)
    assert answer["error"] is None and answer["id"] == 7
    first, second = answer["result"]["messages"]
    assert first["message_text"] == "Message from Client"
    assert (first["invader_name"], first["is_from_support"]) == ("", False)
    assert second["message_text"] == "Message from Operator"
    assert (second["invader_name"], second["is_from_support"]) == ("Operator1", True)
    assert first["message_id"] < second["message_id"]
    assert abs(first["created"] - time.time()) < 60 and isinstance(first["created"], int)


@pytest.mark.parametrize(
    "params",
    [["garbage"], [""], [], None, [1], ["a", "b"]],
    ids=["invalid", "empty", "no-items", "missing", "number", "two-items"],
)
async def test_1_1_1_a_missing_or_invalid_token_closes_the_connection_with_1008(
    server: Server, clients: Clients, params: list | None
) -> None:
    ws = await clients.json("/v1/ws")
    frame = {"method": "message.auth", "id": 1}
    if params is not None:
        frame["params"] = params
    await ws.send(frame)
    reason = await expect_close(ws, 1008)
    assert "token" in reason


async def test_an_expired_token_closes_the_connection_saying_so(
    server: Server, clients: Clients
) -> None:
    import jwt
    from support import TEST_SECRET

    user = await account(server, "user")
    expired = jwt.encode(
        {"sub": str(user.uid), "name": "user", "iat": 1, "exp": 2}, TEST_SECRET, algorithm="HS256"
    )
    ws = await clients.json("/v1/ws")
    await ws.send({"method": "message.auth", "params": [expired], "id": 1})
    assert "expired" in await expect_close(ws)


@pytest.mark.parametrize(
    "frame",
    [
        {"method": "message.send", "params": ["hi"], "id": 1},
        {"method": "message.operatorSend", "params": [1, "hi"], "id": 1},
        {"method": "nope", "id": 1},
        {"params": [], "id": 1},
        "[1]",
        "not json",
    ],
    ids=["send", "operatorSend", "unknown-method", "no-method", "array", "not-json"],
)
async def test_1_1_frames_before_authentication_get_an_error_and_close(
    server: Server, clients: Clients, frame: dict | str
) -> None:
    await account(server, "user")
    ws = await clients.json("/v1/ws")
    answer = await ws.request(frame)
    assert answer["result"] is None and answer["error"]["code"] != 0
    await expect_close(ws, 1008)


async def test_a_token_in_the_handshake_is_answered_with_the_thread_at_once(
    server: Server, clients: Clients
) -> None:
    user = await account(server, "user")
    ws = await clients.json("/v1/ws", token=user.token)
    assert await ws.receive() == {"error": None, "result": {"messages": None}, "id": None}
    answer = await ws.request({"method": "message.send", "params": ["hello"], "id": 5})
    assert answer["result"]["message"]["message_text"] == "hello"


# --- 2: a user writes to support ---


async def test_2_2_1_and_2_2_2_a_message_is_stored_and_answered(
    server: Server, clients: Clients
) -> None:
    user = await account(server, "user")
    ws, _ = await support_client(clients, user)
    answer = await ws.request(
        {"method": "message.send", "params": ["Message from Client"], "id": 3}
    )
    assert answer["error"] is None and answer["id"] == 3
    message = answer["result"]["message"]
    assert {k: message[k] for k in ("message_text", "invader_name", "is_from_support")} == {
        "message_text": "Message from Client",
        "invader_name": "",
        "is_from_support": False,
    }
    _, again = await support_client(clients, user)  # 2.2.1: it was stored
    assert again["result"]["messages"] == [message]


@pytest.mark.parametrize(
    "params",
    [["a", "b"], [], [5], [""], ["   "], None, "text", {"text": "x"}, [["x"]], ["x" * 4097]],
    ids=[
        "two",
        "none",
        "number",
        "empty",
        "blank",
        "missing",
        "string",
        "object",
        "nested",
        "too-long",
    ],
)
async def test_2_1_1_bad_params_get_code_1_incorrect_argument(
    server: Server, clients: Clients, params: object
) -> None:
    user = await account(server, "user")
    ws, _ = await support_client(clients, user)
    frame = {"method": "message.send", "id": 4}
    if params is not None:
        frame["params"] = params
    answer = await ws.request(frame)
    assert answer == {
        "error": {"code": 1, "message": "Incorrect argument."},
        "result": None,
        "id": 4,
    }
    # 2.1.2: nothing was stored, and the connection stays open.
    assert (await ws.request({"method": "message.auth", "params": [user.token], "id": 5}))[
        "result"
    ]["messages"] is None


async def test_operators_receive_a_users_message_with_the_users_id(
    server: Server, clients: Clients
) -> None:
    user, op = await account(server, "user"), await operator(server)
    op_ws, _ = await support_client(clients, op)
    second_op_ws, _ = await support_client(clients, op)
    ws, _ = await support_client(clients, user)
    answer = await ws.request({"method": "message.send", "params": ["help!"], "id": 9})
    for connection in (op_ws, second_op_ws):
        pushed = await connection.receive()
        assert pushed["error"] is None
        assert pushed["result"]["user_id"] == user.uid
        assert pushed["result"]["message"] == answer["result"]["message"]
        assert pushed["id"] == answer["result"]["message"]["message_id"]


async def test_an_operator_gets_the_waiting_conversations_on_auth(
    server: Server, clients: Clients
) -> None:
    alice, bob, op = (
        await account(server, "alice"),
        await account(server, "bob"),
        await operator(server),
    )
    for user, text in ((alice, "first"), (bob, "second")):
        ws, _ = await support_client(clients, user)
        await ws.request({"method": "message.send", "params": [text], "id": 1})
    op_ws, answer = await support_client(clients, op)
    waiting = answer["result"]["conversations"]
    assert [(c["user_id"], c["user_name"], c["message"]["message_text"]) for c in waiting] == [
        (alice.uid, "alice", "first"),
        (bob.uid, "bob", "second"),
    ]
    # Answered threads are no longer waiting.
    await op_ws.request({"method": "message.operatorSend", "params": [alice.uid, "done"], "id": 2})
    _, later = await support_client(clients, op)
    assert [c["user_id"] for c in later["result"]["conversations"]] == [bob.uid]


# --- 3 and 4: an operator answers ---


async def test_4_2_1_4_2_2_and_3_1_an_operator_reply_is_stored_answered_and_pushed(
    server: Server, clients: Clients
) -> None:
    user, op = await account(server, "user"), await operator(server, "Operator1")
    phone, _ = await support_client(clients, user)
    laptop = await clients.json("/v1/ws", token=user.token)
    await laptop.receive()  # the greeting
    op_ws, _ = await support_client(clients, op)

    answer = await op_ws.request(
        {"method": "message.operatorSend", "params": [user.uid, "Message from Operator"], "id": 3}
    )
    assert answer["error"] is None and answer["id"] == 3
    message = answer["result"]["message"]
    assert (message["invader_name"], message["is_from_support"]) == ("Operator1", True)
    for connection in (phone, laptop):
        pushed = await connection.receive()
        assert pushed == {
            "error": None,
            "result": {"message": message},
            "id": message["message_id"],
        }
    _, again = await support_client(clients, user)
    assert again["result"]["messages"] == [message]


async def _alice_bob_and_an_operator(
    server: Server, clients: Clients
) -> tuple[Account, JsonClient, JsonClient, JsonClient]:
    """Alice, her support connection, Bob's and an operator's."""
    alice, bob = await account(server, "alice"), await account(server, "bob")
    alices, _ = await support_client(clients, alice)
    bobs, _ = await support_client(clients, bob)
    op_ws, _ = await support_client(clients, await operator(server))
    return alice, alices, bobs, op_ws


async def test_operator_send_with_only_text_answers_the_latest_thread(
    server: Server, clients: Clients
) -> None:
    _alice, alices, bobs, op_ws = await _alice_bob_and_an_operator(server, clients)
    await bobs.request({"method": "message.send", "params": ["bob first"], "id": 1})
    await alices.request({"method": "message.send", "params": ["alice last"], "id": 1})
    await op_ws.receive(), await op_ws.receive()  # both pushed to operators
    answer = await op_ws.request({"method": "message.operatorSend", "params": ["hi"], "id": 2})
    assert answer["error"] is None
    pushed = await alices.receive()
    assert pushed["result"]["message"] == answer["result"]["message"]
    assert pushed["result"]["message"]["message_text"] == "hi"


async def test_operator_send_with_only_text_counts_the_operators_own_answer_as_latest(
    server: Server, clients: Clients
) -> None:
    alice, alices, bobs, op_ws = await _alice_bob_and_an_operator(server, clients)
    await alices.request({"method": "message.send", "params": ["alice"], "id": 1})
    await bobs.request({"method": "message.send", "params": ["bob"], "id": 1})
    await op_ws.receive(), await op_ws.receive()
    # The operator answers Alice by id: her thread is now the latest.
    await op_ws.request({"method": "message.operatorSend", "params": [alice.uid, "a"], "id": 2})
    await alices.receive()
    await op_ws.request({"method": "message.operatorSend", "params": ["again"], "id": 3})
    assert (await alices.receive())["result"]["message"]["message_text"] == "again"


@pytest.mark.parametrize(
    "params",
    [
        ["text"],
        [1],
        [1, ""],
        ["1", "text"],
        [True, "text"],
        [-1, "text"],
        [1, "a", "b"],
        None,
        [4242, "to nobody"],
    ],
    ids=[
        "text-only-without-any-thread",
        "id-only",
        "empty-text",
        "string-id",
        "bool-id",
        "negative-id",
        "three-items",
        "missing",
        "unknown-user",
    ],
)
async def test_4_1_1_bad_operator_params_get_code_1_incorrect_argument(
    server: Server, clients: Clients, params: object
) -> None:
    await account(server, "user")  # uid 1
    op = await operator(server)
    op_ws, _ = await support_client(clients, op)
    frame = {"method": "message.operatorSend", "id": 8}
    if params is not None:
        frame["params"] = params
    answer = await op_ws.request(frame)
    assert answer == {
        "error": {"code": 1, "message": "Incorrect argument."},
        "result": None,
        "id": 8,
    }


# --- access rules and protocol errors ---


async def test_a_non_operator_cannot_use_operator_methods(server: Server, clients: Clients) -> None:
    victim, mallory = await account(server, "victim"), await account(server, "mallory")
    victim_ws, _ = await support_client(clients, victim)
    ws, _ = await support_client(clients, mallory)
    answer = await ws.request(
        {"method": "message.operatorSend", "params": [victim.uid, "I am support"], "id": 2}
    )
    assert answer == {"error": {"code": 2, "message": "Operators only."}, "result": None, "id": 2}
    _, thread = await support_client(clients, victim)
    assert thread["result"]["messages"] is None
    await victim_ws.ws.send_message("ping")
    assert await victim_ws.ws.get_message() == "pong"  # nothing was pushed to the victim


async def test_a_user_never_sees_another_users_conversation(
    server: Server, clients: Clients
) -> None:
    alice, bob = await account(server, "alice"), await account(server, "bob")
    alice_ws, _ = await support_client(clients, alice)
    bob_ws, _ = await support_client(clients, bob)
    await alice_ws.request({"method": "message.send", "params": ["alice's secret"], "id": 1})
    _, bob_view = await support_client(clients, bob)
    assert bob_view["result"]["messages"] is None
    assert "conversations" not in bob_view["result"]
    await bob_ws.ws.send_message("ping")
    assert await bob_ws.ws.get_message() == "pong"  # no push of alice's message

    async with http_client(server) as client:
        alice_rooms = (await client.get("/rooms", headers=alice.auth)).json()
        support_room = alice_rooms[-1]
        read = await client.get(f"/messages/{support_room}", headers=bob.auth)
        join = await client.put("/join", headers=bob.auth, json={"RoomID": support_room})
    assert (read.status_code, join.status_code) == (403, 403)
    room_ws = await clients.json("/ws", token=bob.token)
    assert (await room_ws.request({"Type": "enter", "RoomID": support_room}))["Type"] == "error"


async def test_operators_can_read_any_support_thread_over_http(
    server: Server, clients: Clients
) -> None:
    user, op = await account(server, "user"), await operator(server)
    ws, _ = await support_client(clients, user)
    await ws.request({"method": "message.send", "params": ["help"], "id": 1})
    _, answer = await support_client(clients, op)
    room_id = answer["result"]["conversations"][0]["room_id"]
    async with http_client(server) as client:
        response = await client.get(f"/messages/{room_id}", headers={"Authorization": op.token})
    assert [m["Text"] for m in response.json()] == ["help"]


@pytest.mark.parametrize(
    "frame,code,answer_id",
    [
        ({"method": "message.dance", "id": 4}, -32601, 4),
        ({"method": "message.send", "params": ["x"]}, -32600, None),
        ({"method": "message.send", "params": ["x"], "id": [1]}, -32600, None),
        ({"method": 7, "id": 4}, -32600, None),
        ("[1, 2]", -32600, None),
        ("not json", -32700, None),
    ],
    ids=["unknown-method", "missing-id", "bad-id", "bad-method", "not-an-object", "not-json"],
)
async def test_protocol_errors_are_answered_and_the_connection_stays_open(
    server: Server, clients: Clients, frame: object, code: int, answer_id: int | None
) -> None:
    user = await account(server, "user")
    ws, _ = await support_client(clients, user)
    answer = await ws.request(frame)
    assert answer["error"]["code"] == code and answer["result"] is None
    assert answer["id"] == answer_id
    still = await ws.request({"method": "message.send", "params": ["still here"], "id": 10})
    assert still["error"] is None


async def test_support_frames_work_on_the_root_path_too(server: Server, clients: Clients) -> None:
    user = await account(server, "user")
    ws = await clients.json("/")
    answer = await ws.request({"method": "message.auth", "params": [user.token], "id": 1})
    assert answer == {"error": None, "result": {"messages": None}, "id": 1}
