"""The account screen's store on both backends, the same behaviour: display names and their
look-alike keys, avatars (`Accounts`, chat/store/profiles.py), and one's list of browser
sessions (`Sessions`)."""

from __future__ import annotations

import time
from dataclasses import replace

import pytest
from support import add_message
from test_store_accounts import _session

from chat.core.config import Config
from chat.core.errors import DisplayNameTaken, Gone
from chat.store import open_store

# --- display names ---


async def test_a_display_name_is_set_read_back_and_cleared(config: Config) -> None:
    async with open_store(config) as store:
        alice = await store.create_user("alice", "hash")
        named = await store.set_display_name(alice.id, "Alice Liddell")
        assert named.display_name == "Alice Liddell"
        assert (await store.user_by_id(alice.id)) == named
        cleared = await store.set_display_name(alice.id, None)
        assert cleared.display_name is None


async def test_messages_carry_their_senders_current_display_name(config: Config) -> None:
    async with open_store(config) as store:
        alice = await store.create_user("alice", "hash")
        before = await add_message(store, store.lobby_id, alice.id, "before")
        assert before.sender_display_name is None
        await store.set_display_name(alice.id, "Alice Liddell")
        after = await add_message(store, store.lobby_id, alice.id, "after")
        assert after.sender_display_name == "Alice Liddell"
        page = await store.messages_before(store.lobby_id, None, 10)
        assert {m.body: m.sender_display_name for m in page} == {
            "before": "Alice Liddell",
            "after": "Alice Liddell",
        }


@pytest.mark.parametrize(
    "display_name",
    [
        "bob",  # another user's login name
        "BOB",  # in another case
        "b\u043eb",  # with a Cyrillic o
        "Robert",  # another user's display name
        "R\u043ebert",  # a look-alike of it
    ],
)
async def test_a_display_name_like_another_users_name_is_refused_naming_them(
    config: Config, display_name: str
) -> None:
    async with open_store(config) as store:
        alice = await store.create_user("alice", "hash")
        bob = await store.create_user("bob", "hash")
        await store.set_display_name(bob.id, "Robert")
        with pytest.raises(DisplayNameTaken, match="'bob'"):
            await store.set_display_name(alice.id, display_name)
        assert (await store.user_by_id(alice.id)).display_name is None  # type: ignore[union-attr]


async def test_ones_own_login_name_may_be_ones_display_name(config: Config) -> None:
    async with open_store(config) as store:
        alice = await store.create_user("alice", "hash")
        assert (await store.set_display_name(alice.id, "Alice")).display_name == "Alice"


async def test_a_cleared_display_name_is_free_for_others(config: Config) -> None:
    async with open_store(config) as store:
        alice = await store.create_user("alice", "hash")
        bob = await store.create_user("bob", "hash")
        await store.set_display_name(bob.id, "Robin")
        await store.set_display_name(bob.id, None)
        assert (await store.set_display_name(alice.id, "Robin")).display_name == "Robin"


async def test_a_login_name_like_a_display_name_names_its_holder(config: Config) -> None:
    async with open_store(config) as store:
        alice = await store.create_user("alice", "hash")
        await store.set_display_name(alice.id, "Queen")
        assert await store.display_name_holder("QUEEN", user_id=None) == "alice"
        assert await store.display_name_holder("Queen", user_id=alice.id) is None
        assert await store.display_name_holder("King", user_id=None) is None


async def test_a_display_name_of_a_missing_user_is_gone(config: Config) -> None:
    async with open_store(config) as store:
        with pytest.raises(Gone):
            await store.set_display_name(999, "Nobody")


# --- avatars ---


async def test_setting_an_avatar_answers_the_key_it_replaced(config: Config) -> None:
    async with open_store(config) as store:
        alice = await store.create_user("alice", "hash")
        first, before = await store.set_avatar(alice.id, "avatar-1-aa", "image/png")
        assert (first.avatar_key, first.avatar_type, before) == ("avatar-1-aa", "image/png", None)
        second, before = await store.set_avatar(alice.id, "avatar-1-bb", "image/jpeg")
        assert (second.avatar_key, before) == ("avatar-1-bb", "avatar-1-aa")
        cleared, before = await store.set_avatar(alice.id, None, None)
        assert (cleared.avatar_key, cleared.avatar_type, before) == (None, None, "avatar-1-bb")


# --- one's sessions ---


async def test_a_users_sessions_are_listed_newest_use_first_without_ended_ones(
    config: Config,
) -> None:
    async with open_store(config) as store:
        alice = await store.create_user("alice", "hash")
        bob = await store.create_user("bob", "hash")
        now = int(time.time())
        await store.create_session(replace(_session(alice.id, "old", at=now - 60), device="A"))
        await store.create_session(_session(alice.id, "new", at=now - 5))
        await store.create_session(_session(alice.id, "ended", at=now - 1))
        await store.create_session(_session(bob.id, "bobs", at=now))
        await store.revoke_session("ended", now=now)
        listed = await store.user_sessions(alice.id, now=now, token_version=0, limit=10)
        assert [(s.id, s.device) for s in listed] == [("new", None), ("old", "A")]
        assert len(await store.user_sessions(alice.id, now=now, token_version=0, limit=1)) == 1


async def test_only_ones_own_live_session_can_be_ended_by_id(config: Config) -> None:
    async with open_store(config) as store:
        alice = await store.create_user("alice", "hash")
        bob = await store.create_user("bob", "hash")
        now = int(time.time())
        await store.create_session(_session(alice.id, "a1", at=now))
        await store.create_session(_session(bob.id, "b1", at=now))
        assert not await store.revoke_own_session("b1", alice.id, now=now)
        assert await store.revoke_own_session("a1", alice.id, now=now)
        assert not await store.revoke_own_session("a1", alice.id, now=now)  # ended already
        assert await store.ended_sessions({"a1", "b1", "unknown"}, now=now) == {"a1", "unknown"}
