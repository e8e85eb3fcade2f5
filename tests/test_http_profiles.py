"""Accounts and profiles of spec 004 (/register, PUT /login, /profile, /change-name) and
sign-up/login of spec 003 (/signup, POST /login)."""

from __future__ import annotations

import pytest
from support import PASSWORD, Clients, Server, account, http_client

# --- spec 004: /register and PUT /login ---


async def test_register_returns_201_with_the_new_uid(server: Server) -> None:
    async with http_client(server) as client:
        response = await client.post(
            "/register",
            json={"Username": "user", "Email": "user@example.com", "Password": PASSWORD},
        )
    assert response.status_code == 201
    assert set(response.json()) == {"UID"} and isinstance(response.json()["UID"], int)


@pytest.mark.parametrize(
    "second,problem",
    [
        ({"Username": "user", "Email": "other@example.com"}, "user name 'user' is already taken"),
        ({"Username": "other", "Email": "USER@example.com"}, "email already registered"),
    ],
)
async def test_register_with_a_taken_name_or_email_is_409_saying_which(
    server: Server, second: dict, problem: str
) -> None:
    await account(server, "user")
    async with http_client(server) as client:
        response = await client.post("/register", json={**second, "Password": PASSWORD})
    assert response.status_code == 409
    assert response.json() == {"error": problem}


@pytest.mark.parametrize(
    "email", ["plain", "@example.com", "a@", "a@b", "a b@example.com", "a@example..com."]
)
async def test_register_refuses_a_malformed_email(server: Server, email: str) -> None:
    async with http_client(server) as client:
        response = await client.post(
            "/register", json={"Username": "u", "Email": email, "Password": PASSWORD}
        )
    assert response.status_code == 400
    assert "not a valid e-mail address" in response.json()["error"]


async def test_emails_are_stored_lower_case_and_match_any_case(server: Server) -> None:
    async with http_client(server) as client:
        await client.post(
            "/register",
            json={"Username": "Mixed", "Email": "MiXeD@Example.COM", "Password": PASSWORD},
        )
        login = await client.put(
            "/login", json={"Email": "mixed@EXAMPLE.com", "Password": PASSWORD}
        )
        assert login.status_code == 200
        profile = await client.get("/profile", headers={"Authorization": login.json()["token"]})
    assert profile.json()["Email"] == "mixed@example.com"


async def test_put_login_returns_a_token(server: Server) -> None:
    user = await account(server, "user")
    async with http_client(server) as client:
        response = await client.put("/login", json={"Email": user.email, "Password": PASSWORD})
    assert response.status_code == 200
    assert set(response.json()) == {"token"}


@pytest.mark.parametrize(
    "email,password", [("user@example.com", "bad"), ("no@example.com", PASSWORD)]
)
async def test_put_login_with_bad_credentials_is_401(
    server: Server, email: str, password: str
) -> None:
    await account(server, "user")
    async with http_client(server) as client:
        response = await client.put("/login", json={"Email": email, "Password": password})
    assert response.status_code == 401
    assert response.json() == {"error": "invalid credentials"}


@pytest.mark.parametrize(
    "path,method,body,problem",
    [
        ("/register", "post", {"Username": "u", "Password": PASSWORD}, 'field "Email" is required'),
        (
            "/register",
            "post",
            {"Username": 1, "Email": "a@b.c", "Password": PASSWORD},
            'field "Username" must be a string',
        ),
        (
            "/register",
            "post",
            {"Username": "u" * 256, "Email": "a@b.c", "Password": PASSWORD},
            "at most 255 characters",
        ),
        (
            "/register",
            "post",
            {"Username": "u", "Email": "a@b.c" + "c" * 300, "Password": PASSWORD},
            "at most 254 characters",
        ),
        ("/login", "put", {"Email": "a@b.c"}, 'field "Password" is required'),
        (
            "/login",
            "put",
            {"Email": ["a@b.c"], "Password": PASSWORD},
            'field "Email" must be a string',
        ),
        ("/signup", "post", {"email": "a@b.c", "password": PASSWORD}, 'field "name" is required'),
        ("/login", "post", {"email": 5, "password": PASSWORD}, 'field "email" must be a string'),
    ],
)
async def test_bad_account_bodies_get_400_naming_the_problem(
    server: Server, path: str, method: str, body: dict, problem: str
) -> None:
    async with http_client(server) as client:
        response = await client.request(method, path, json=body)
    assert response.status_code == 400
    assert problem in response.json()["error"]


# --- spec 003: /signup and POST /login ---


async def test_signup_returns_201_with_id_name_and_email(server: Server) -> None:
    async with http_client(server) as client:
        response = await client.post(
            "/signup", json={"email": "alice@example.com", "name": "Alice", "password": PASSWORD}
        )
    assert response.status_code == 201
    body = response.json()
    assert body == {"id": body["id"], "name": "Alice", "email": "alice@example.com"}


async def test_signup_ids_differ_and_the_same_email_twice_is_409(server: Server) -> None:
    async with http_client(server) as client:
        first = await client.post(
            "/signup", json={"email": "alice@example.com", "name": "Alice", "password": PASSWORD}
        )
        second = await client.post(
            "/signup", json={"email": "bob@example.com", "name": "Bob", "password": PASSWORD}
        )
        again = await client.post(
            "/signup", json={"email": "alice@example.com", "name": "Alice2", "password": PASSWORD}
        )
    assert first.json()["id"] != second.json()["id"]
    assert again.status_code == 409
    assert again.json() == {"error": "email already registered"}


async def test_post_login_returns_the_id_and_a_token(server: Server) -> None:
    async with http_client(server) as client:
        signup = await client.post(
            "/signup", json={"email": "alice@example.com", "name": "Alice", "password": PASSWORD}
        )
        login = await client.post(
            "/login", json={"email": "alice@example.com", "password": PASSWORD}
        )
    assert login.status_code == 200
    assert login.json()["id"] == signup.json()["id"]
    assert isinstance(login.json()["token"], str)


@pytest.mark.parametrize(
    "email,password", [("alice@example.com", "wrong"), ("nobody@example.com", PASSWORD)]
)
async def test_post_login_with_a_wrong_email_or_password_is_401(
    server: Server, email: str, password: str
) -> None:
    async with http_client(server) as client:
        await client.post(
            "/signup", json={"email": "alice@example.com", "name": "Alice", "password": PASSWORD}
        )
        response = await client.post("/login", json={"email": email, "password": password})
    assert response.status_code == 401
    assert response.json() == {"error": "invalid credentials"}


async def test_one_account_model_behind_every_login_route(server: Server) -> None:
    user = await account(server, "alice")  # registered through spec 004
    async with http_client(server) as client:
        spec000 = await client.post("/auth", json={"name": "alice", "password": PASSWORD})
        spec002 = await client.post("/api/login", json={"username": "alice", "password": PASSWORD})
        spec003 = await client.post("/login", json={"email": user.email, "password": PASSWORD})
    assert [r.status_code for r in (spec000, spec002, spec003)] == [200, 200, 200]
    assert spec003.json()["id"] == user.uid


# --- profiles ---


async def test_profile_shows_the_callers_own_profile(server: Server) -> None:
    user = await account(server, "user")
    async with http_client(server) as client:
        response = await client.get("/profile", headers=user.auth)
    assert response.status_code == 200
    assert response.json() == {
        "UID": user.uid,
        "Username": "user",
        "Email": "user@example.com",
        "DisplayName": None,
        "AvatarURL": None,
        "Kind": "person",
        "Operator": False,
        "Status": None,
    }


async def test_the_raw_token_works_in_the_authorization_header(server: Server) -> None:
    user = await account(server, "user")
    async with http_client(server) as client:
        response = await client.get("/profile", headers={"Authorization": user.token})
    assert response.status_code == 200


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": ""},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer not.a.token"},
        {"Authorization": "garbage"},
    ],
    ids=["none", "empty", "bearer-empty", "bearer-garbage", "raw-garbage"],
)
async def test_a_missing_or_bad_token_is_401(server: Server, headers: dict) -> None:
    async with http_client(server) as client:
        response = await client.get("/profile", headers=headers)
    assert response.status_code == 401
    assert "error" in response.json()


async def test_a_public_profile_has_no_email(server: Server) -> None:
    user = await account(server, "user")
    async with http_client(server) as client:
        response = await client.get(f"/profile/{user.uid}")
    assert response.status_code == 200
    assert response.json() == {
        "UID": user.uid,
        "Username": "user",
        "DisplayName": None,
        "AvatarURL": None,
        "Kind": "person",
        "Status": None,
    }


@pytest.mark.parametrize(
    "uid,status",
    [
        ("999", 404),
        ("0", 400),
        ("-1", 400),
        ("abc", 400),
        ("99999999999999999999999", 400),
        ("9223372036854775807", 404),
    ],
)
async def test_profile_of_an_unknown_or_invalid_uid(server: Server, uid: str, status: int) -> None:
    async with http_client(server) as client:
        response = await client.get(f"/profile/{uid}")
    assert response.status_code == status
    assert "error" in response.json()


async def test_change_name_returns_the_new_profile(server: Server) -> None:
    user = await account(server, "user")
    async with http_client(server) as client:
        response = await client.put("/change-name", headers=user.auth, json={"NewName": "renamed"})
        assert response.status_code == 200
        assert response.json()["Username"] == "renamed"
        assert response.json()["Email"] == user.email
        # The old token still works and shows the new name.
        profile = await client.get("/profile", headers=user.auth)
    assert profile.json()["Username"] == "renamed"


async def test_change_name_to_a_taken_name_is_409(server: Server) -> None:
    user = await account(server, "user")
    await account(server, "taken")
    async with http_client(server) as client:
        response = await client.put("/change-name", headers=user.auth, json={"NewName": "taken"})
    assert response.status_code == 409


@pytest.mark.parametrize(
    "body,problem",
    [
        ({"NewName": ""}, "must not be empty"),
        ({"NewName": 5}, "must be a string"),
        ({}, 'field "NewName" is required'),
        ({"NewName": " x "}, "spaces"),
        ({"NewName": "n" * 256}, "at most 255"),
    ],
)
async def test_change_name_to_an_invalid_name_is_400(
    server: Server, body: dict, problem: str
) -> None:
    user = await account(server, "user")
    async with http_client(server) as client:
        response = await client.put("/change-name", headers=user.auth, json=body)
    assert response.status_code == 400
    assert problem in response.json()["error"]


async def test_after_a_rename_messages_show_the_new_name(server: Server, clients: Clients) -> None:
    user = await account(server, "before")
    talker = await clients.talker(token=user.token)
    listener = await clients.talker()
    await talker.say("first")
    assert (await listener.receive())["name"] == "before"
    async with http_client(server) as client:
        await client.put("/change-name", headers=user.auth, json={"NewName": "after"})
    await talker.say("second")  # same connection, token issued before the rename
    assert (await listener.receive())["name"] == "after"
    await talker.say("history 2")
    history = [await talker.receive(), await talker.receive()]
    assert [f["name"] for f in history] == ["after", "after"]
