"""Searching messages: ``GET /search?q=`` finds the messages the
caller may read that contain every word and phrase, newest first, in pages, each with a
snippet; in any script; the query's characters are text, never database syntax; and the
index follows the messages (new, edited, deleted) and the rooms (left)."""

from __future__ import annotations

from typing import Any

import pytest
import trio
from support import (
    Account,
    Clients,
    Server,
    account,
    create_room,
    entered,
    execute_sql,
    http_client,
    select_rows,
    server_config,
    start_server,
)
from test_support import operator, support_client


async def search(server: Server, user: Account, q: str, **params: Any) -> list[dict[str, Any]]:
    """The results of a search that succeeds."""
    answer = await searching(server, user, q, **params)
    assert answer.status_code == 200, answer.text
    results: list[dict[str, Any]] = answer.json()
    return results


async def searching(server: Server, user: Account | None, q: str | None, **params: Any) -> Any:
    """GET /search's whole answer."""
    query = {**params} if q is None else {"q": q, **params}
    headers = user.auth if user is not None else {}
    async with http_client(server) as client:
        return await client.get("/search", params=query, headers=headers)


async def post(server: Server, user: Account, room_id: int, text: str) -> dict[str, Any]:
    async with http_client(server) as client:
        posted = await client.post(f"/messages/{room_id}", headers=user.auth, json={"Text": text})
    assert posted.status_code == 201, posted.text
    message: dict[str, Any] = posted.json()
    return message


async def user_in_room(server: Server) -> tuple[Account, int]:
    """alice, and a room of hers."""
    alice = await account(server, "alice")
    return alice, await create_room(server, alice, "ops")


def texts(results: list[dict[str, Any]]) -> list[str]:
    return [item["Text"] for item in results]


async def test_a_word_finds_the_message_as_history_shows_it_with_a_snippet(
    server: Server,
) -> None:
    alice, room_id = await user_in_room(server)
    sent = await post(server, alice, room_id, "the staging password rotation is on the 3rd")
    await post(server, alice, room_id, "lunch at noon")
    (found,) = await search(server, alice, "rotation")
    assert {k: v for k, v in found.items() if k != "Snippet"} == sent
    assert found["RoomID"] == room_id
    assert found["Snippet"] == ["the staging password ", "rotation", " is on the 3rd"]


async def test_results_are_newest_first_and_page_with_before(server: Server) -> None:
    alice, room_id = await user_in_room(server)
    sent = [await post(server, alice, room_id, f"deploy number {n}") for n in range(5)]
    first = await search(server, alice, "deploy", limit=2)
    assert texts(first) == ["deploy number 4", "deploy number 3"]
    second = await search(server, alice, "deploy", limit=2, before=first[-1]["MessageID"])
    assert texts(second) == ["deploy number 2", "deploy number 1"]
    last = await search(server, alice, "deploy", limit=2, before=second[-1]["MessageID"])
    assert [item["MessageID"] for item in last] == [sent[0]["MessageID"]]
    assert await search(server, alice, "deploy", before=sent[0]["MessageID"]) == []


async def test_the_default_page_is_twenty(server: Server) -> None:
    alice, room_id = await user_in_room(server)
    for n in range(21):
        await post(server, alice, room_id, f"ping {n}")
    assert len(await search(server, alice, "ping")) == 20


async def test_words_match_as_substrings_in_any_case(server: Server) -> None:
    alice, room_id = await user_in_room(server)
    await post(server, alice, room_id, "Redeployed the STAGING cluster")
    assert texts(await search(server, alice, "deploy")) == ["Redeployed the STAGING cluster"]
    assert texts(await search(server, alice, "staging")) == ["Redeployed the STAGING cluster"]


async def test_text_without_spaces_is_found_by_any_three_characters(server: Server) -> None:
    alice, room_id = await user_in_room(server)
    await post(server, alice, room_id, "明日の会議資料を送ります")
    await post(server, alice, room_id, "東京タワーに行きました")
    (found,) = await search(server, alice, "会議資料")
    assert found["Snippet"] == ["明日の", "会議資料", "を送ります"]
    assert texts(await search(server, alice, "タワー")) == ["東京タワーに行きました"]


async def test_cyrillic_and_greek_match_in_any_case(server: Server) -> None:
    alice, room_id = await user_in_room(server)
    await post(server, alice, room_id, "Пароль сервера изменён")
    await post(server, alice, room_id, "Καλημέρα σε όλους")
    assert texts(await search(server, alice, "ПАРОЛЬ")) == ["Пароль сервера изменён"]
    assert texts(await search(server, alice, "καλημέρα")) == ["Καλημέρα σε όλους"]


async def test_every_word_must_appear(server: Server) -> None:
    alice, room_id = await user_in_room(server)
    await post(server, alice, room_id, "backup of the database finished")
    await post(server, alice, room_id, "backup failed")
    assert texts(await search(server, alice, "backup database")) == [
        "backup of the database finished"
    ]


async def test_a_phrase_matches_its_words_together_in_order(server: Server) -> None:
    alice, room_id = await user_in_room(server)
    await post(server, alice, room_id, "the password rotation date moved")
    await post(server, alice, room_id, "rotation of the password")
    found = await search(server, alice, '"password rotation"')
    assert texts(found) == ["the password rotation date moved"]
    assert found[0]["Snippet"] == ["the ", "password rotation", " date moved"]


@pytest.mark.parametrize("q", ["a", "ab", "日本", "ab cd", '"ab"', "  x  "])
async def test_one_or_two_characters_are_refused_clearly(server: Server, q: str) -> None:
    alice = await account(server, "alice")
    answer = await searching(server, alice, q)
    assert answer.status_code == 400
    assert "at least 3 characters" in answer.json()["error"]


async def test_short_words_beside_a_long_one_narrow_the_results(server: Server) -> None:
    alice, room_id = await user_in_room(server)
    await post(server, alice, room_id, "go live with the release")
    await post(server, alice, room_id, "the release is late")
    assert texts(await search(server, alice, "release GO")) == ["go live with the release"]


@pytest.mark.parametrize(
    "q",
    [None, "", "   ", "x" * 201, "a\x00bcd", "tab\x07bell", " ".join(f"w{n}xx" for n in range(11))],
)
async def test_a_missing_blank_long_or_odd_query_is_refused(server: Server, q: str | None) -> None:
    alice = await account(server, "alice")
    answer = await searching(server, alice, q)
    assert answer.status_code == 400
    assert answer.json()["error"]


# Syntax of FTS5 (quotes, *, ^, +, -, :, NEAR, AND/OR/NOT, parentheses), of tsquery
# (&, |, !, <->, :*) and of LIKE (%, _, \): each is text, found only where it is written.
SYNTAX_TEXTS = [
    "col:value pair",
    "wildcard abc* here",
    "NEAR(one two) written out",
    "caret ^start and plus+minus-",
    "both & and | or ! not",
    "follows <-> arrow",
    "prefix ab:* style",
    "100%_done now",
    "back\\slash path",
    "(parenthesised words)",
]


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("col:value", "col:value pair"),
        ("abc*", "wildcard abc* here"),
        ("NEAR(one", "NEAR(one two) written out"),
        ("^start", "caret ^start and plus+minus-"),
        ("plus+minus-", "caret ^start and plus+minus-"),
        ("& and |", "both & and | or ! not"),
        ('"| or !"', "both & and | or ! not"),
        ("<->", "follows <-> arrow"),
        ("ab:*", "prefix ab:* style"),
        ("100%_", "100%_done now"),
        ("%_d", "100%_done now"),
        ("k\\s", "back\\slash path"),
        ("(parenthesised", "(parenthesised words)"),
    ],
)
async def test_query_syntax_characters_are_plain_text(
    server: Server, q: str, expected: str
) -> None:
    alice, room_id = await user_in_room(server)
    for text in SYNTAX_TEXTS:
        await post(server, alice, room_id, text)
    assert texts(await search(server, alice, q)) == [expected]


@pytest.mark.parametrize("q", ['"unclosed phrase', '"""', "***", "%%%", "___", "a OR b", "x AND"])
async def test_operators_and_wildcards_find_only_themselves(server: Server, q: str) -> None:
    alice, room_id = await user_in_room(server)
    await post(server, alice, room_id, "abc and def, nothing special")
    answer = await searching(server, alice, q)
    assert answer.status_code in (200, 400), answer.text
    if answer.status_code == 200:
        assert answer.json() == []


async def test_or_is_a_word_not_an_operator(server: Server) -> None:
    alice, room_id = await user_in_room(server)
    await post(server, alice, room_id, "apples pears")
    await post(server, alice, room_id, "apples or pears")
    assert texts(await search(server, alice, "apples OR pears")) == ["apples or pears"]


async def test_a_search_needs_a_token(server: Server) -> None:
    answer = await searching(server, None, "anything")
    assert answer.status_code == 401


async def test_nobody_finds_a_private_room_they_are_not_in(server: Server) -> None:
    alice, mallory = await account(server, "alice"), await account(server, "mallory")
    room_id = await create_room(server, alice, "secret", private=True)
    await post(server, alice, room_id, "the vault combination is 1234")
    assert texts(await search(server, alice, "vault")) == ["the vault combination is 1234"]
    assert await search(server, mallory, "vault") == []


async def test_a_public_room_is_searched_by_its_members_only(server: Server) -> None:
    alice, bob = await account(server, "alice"), await account(server, "bob")
    room_id = await create_room(server, alice, "open")
    await post(server, alice, room_id, "quarterly numbers attached")
    assert await search(server, bob, "quarterly") == []


async def test_everyone_finds_the_lobby(server: Server) -> None:
    alice, bob = await account(server, "alice"), await account(server, "bob")
    lobby = await lobby_id(server, alice)
    await post(server, alice, lobby, "welcome everybody")
    assert texts(await search(server, bob, "welcome")) == ["welcome everybody"]


async def lobby_id(server: Server, user: Account) -> int:
    """The lobby: the first of GET /rooms."""
    async with http_client(server) as client:
        rooms = (await client.get("/rooms", headers=user.auth)).json()
    return int(rooms[0])


async def test_a_direct_conversation_is_found_by_its_two_people_only(server: Server) -> None:
    alice, bob = await account(server, "alice"), await account(server, "bob")
    carol = await account(server, "carol")
    async with http_client(server) as client:
        room_id = (await client.get(f"/dm/{bob.uid}", headers=alice.auth)).json()["RoomID"]
    await post(server, alice, room_id, "between us two")
    assert texts(await search(server, alice, "between")) == ["between us two"]
    assert texts(await search(server, bob, "between")) == ["between us two"]
    assert await search(server, carol, "between") == []


async def test_a_support_thread_is_found_by_its_user_and_operators_only(
    server: Server, clients: Clients
) -> None:
    alice, bob = await account(server, "alice"), await account(server, "bob")
    op = await operator(server)
    ws, _ = await support_client(clients, alice)
    await ws.request({"method": "message.send", "params": ["my invoice is wrong"], "id": 2})
    assert texts(await search(server, alice, "invoice")) == ["my invoice is wrong"]
    assert texts(await search(server, op, "invoice")) == ["my invoice is wrong"]
    assert await search(server, bob, "invoice") == []


async def test_the_room_filter_keeps_one_room(server: Server) -> None:
    alice = await account(server, "alice")
    ops, dev = await create_room(server, alice, "ops"), await create_room(server, alice, "dev")
    await post(server, alice, ops, "restart in ops")
    await post(server, alice, dev, "restart in dev")
    assert texts(await search(server, alice, "restart", room=dev)) == ["restart in dev"]


async def test_the_room_filter_refuses_a_room_the_caller_cannot_read(server: Server) -> None:
    alice, bob = await account(server, "alice"), await account(server, "bob")
    room_id = await create_room(server, alice, "secret", private=True)
    assert (await searching(server, bob, "anything", room=room_id)).status_code == 403
    assert (await searching(server, bob, "anything", room=999_999)).status_code == 404


async def test_the_from_filter_keeps_one_sender(server: Server) -> None:
    alice, bob = await account(server, "alice"), await account(server, "bob")
    room_id = await create_room(server, alice, "ops", bob)
    await post(server, alice, room_id, "status: green")
    await post(server, bob, room_id, "status: red")
    assert texts(await search(server, alice, "status", **{"from": "BOB"})) == ["status: red"]


async def test_the_from_filter_names_an_unknown_user(server: Server) -> None:
    alice = await account(server, "alice")
    answer = await searching(server, alice, "status", **{"from": "nobody"})
    assert answer.status_code == 400
    assert "nobody" in answer.json()["error"]


async def test_an_edited_message_is_found_by_its_new_text_only(server: Server) -> None:
    alice, room_id = await user_in_room(server)
    sent = await post(server, alice, room_id, "meeting on tuesday")
    async with http_client(server) as client:
        edited = await client.patch(
            f"/messages/{room_id}/{sent['MessageID']}",
            headers=alice.auth,
            json={"Text": "meeting on thursday"},
        )
    assert edited.status_code == 200, edited.text
    assert await search(server, alice, "tuesday") == []
    assert texts(await search(server, alice, "thursday")) == ["meeting on thursday"]


async def test_a_deleted_message_is_found_no_more(server: Server) -> None:
    alice, room_id = await user_in_room(server)
    sent = await post(server, alice, room_id, "oops, a secret token")
    async with http_client(server) as client:
        deleted = await client.delete(
            f"/messages/{room_id}/{sent['MessageID']}", headers=alice.auth
        )
    assert deleted.status_code == 204
    assert await search(server, alice, "secret") == []


async def test_a_user_no_longer_in_a_room_finds_nothing_of_it(server: Server) -> None:
    # The search reads membership itself, so the row's removal (here by hand, as leaving
    # or a removal would remove it) is what counts.
    alice, bob = await account(server, "alice"), await account(server, "bob")
    room_id = await create_room(server, alice, "ops", bob)
    await post(server, alice, room_id, "roadmap draft")
    assert texts(await search(server, bob, "roadmap")) == ["roadmap draft"]
    await execute_sql(
        server.config, f"DELETE FROM room_members WHERE room_id = {room_id} AND user_id = {bob.uid}"
    )
    assert await search(server, bob, "roadmap") == []


async def test_a_message_is_found_as_soon_as_it_is_confirmed(
    server: Server, clients: Clients
) -> None:
    alice, room_id = await user_in_room(server)
    ws = await entered(clients, alice, room_id)
    for n in range(5):
        confirmed = await ws.request({"Type": "message", "Text": f"fresh news {n}"})
        (found, *_) = await search(server, alice, "fresh news")
        assert found["MessageID"] == confirmed["MessageID"]


async def test_a_long_message_is_cut_around_its_first_match(server: Server) -> None:
    alice, room_id = await user_in_room(server)
    text = "lorem ipsum " * 40 + "the needle is here " + "dolor sit " * 40
    await post(server, alice, room_id, text)
    (found,) = await search(server, alice, "needle")
    snippet = found["Snippet"]
    assert snippet[1] == "needle"
    assert snippet[0].startswith("\u2026") and snippet[-1].endswith("\u2026")
    assert len("".join(snippet)) < 300


async def test_markup_in_a_message_is_plain_text_in_its_snippet(server: Server) -> None:
    alice, room_id = await user_in_room(server)
    await post(server, alice, room_id, "<b>bold</b> <script>alert(1)</script>")
    (found,) = await search(server, alice, "script")
    assert found["Snippet"] == ["<b>bold</b> <", "script", ">alert(1)</", "script", ">"]


async def test_searches_past_the_limit_get_429(tmp_path: Any, nursery: trio.Nursery) -> None:
    config = server_config(tmp_path, None, rate_limits=True, rate_searches="3/minute")
    server = await start_server(nursery, config)
    alice = await account(server, "alice")
    for _ in range(3):
        assert (await searching(server, alice, "anything")).status_code == 200
    refused = await searching(server, alice, "anything")
    assert refused.status_code == 429
    assert "searches" in refused.json()["error"]
    assert int(refused.headers["Retry-After"]) > 0


async def test_the_server_indexes_new_messages_in_the_background(
    tmp_path: Any, nursery: trio.Nursery
) -> None:
    # SQLite: its index takes new messages in batches (PostgreSQL's, each as inserted).
    server = await start_server(nursery, server_config(tmp_path, None))
    alice, room_id = await user_in_room(server)
    sent = await post(server, alice, room_id, "indexed soon")
    with trio.fail_after(5):
        while True:
            ((up_to,),) = await select_rows(
                server.config, "SELECT indexed_up_to FROM message_search_state"
            )
            if up_to >= sent["MessageID"]:
                break
            await trio.sleep(0.05)
    assert texts(await search(server, alice, "indexed")) == ["indexed soon"]
