"""The store's accounts on both backends, the same behaviour: administration (`Accounts`),
login addresses, browser sessions (`Sessions`) and a user's data (`AccountData`)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from support import add_message

from chat.core.config import Config
from chat.core.errors import Gone
from chat.core.names import look_key, name_key
from chat.core.outgoing import OutgoingMessage
from chat.core.records import Message, NewMessage, StoredFile
from chat.core.session_records import SessionRecord
from chat.store import Store, open_store
from chat.store.login_addresses import KEPT_PER_USER, MAX_ADDRESS_CHARS

#: How long an erasure holds a name in these tests.
HELD = timedelta(days=30)


def _accept(message: Message | None) -> None:
    assert message is not None


async def _erase(store: Store, user_id: int, name: str) -> datetime:
    """Erase the account as `chat.app.accounts.data` ends it; when its name is held until."""
    until = datetime.now(UTC).replace(microsecond=0) + HELD
    erased = await store.erase_account(
        user_id,
        name_key=name_key(name),
        look_key=look_key(name),
        held_until=until,
        password_hash="-",
    )
    assert erased is not None
    return until


# --- administration ---


async def test_users_are_listed_oldest_first_without_erased_accounts(config: Config) -> None:
    async with open_store(config) as store:
        alice = await store.create_user("alice", "hash")
        gone = await store.create_user("gone", "hash")
        bob = await store.create_user("bob", "hash")
        assert await store.users() == [alice, gone, bob]
        await _erase(store, gone.id, "gone")
        assert await store.users() == [alice, bob]


async def test_setting_a_password_replaces_any_hash_and_revokes_tokens(config: Config) -> None:
    async with open_store(config) as store:
        alice = await store.create_user("alice", "old-hash")
        changed = await store.set_password(alice.id, "new-hash")
        assert changed is not None
        assert (changed.password_hash, changed.token_version) == ("new-hash", 1)
        assert await store.user_by_id(alice.id) == changed
        again = await store.set_password(alice.id, "newer-hash")
        assert again is not None and again.token_version == 2


async def test_setting_the_password_of_a_missing_user_gives_none(config: Config) -> None:
    async with open_store(config) as store:
        alice = await store.create_user("alice", "hash")
        assert await store.set_password(alice.id + 1000, "new-hash") is None


async def test_an_operator_is_made_and_unmade(config: Config) -> None:
    async with open_store(config) as store:
        alice = await store.create_user("alice", "hash")
        made = await store.set_admin(alice.id, True)
        assert made is not None and made.is_admin
        assert await store.user_by_id(alice.id) == made
        unmade = await store.set_admin(alice.id, False)
        assert unmade is not None and not unmade.is_admin
        assert await store.set_admin(alice.id + 1000, True) is None


async def test_deleting_a_user_removes_their_messages_and_private_rooms(config: Config) -> None:
    async with open_store(config) as store:
        alice = await store.create_user("alice", "hash")
        bob = await store.create_user("bob", "hash")
        group = await store.create_room("group", is_private=False, creator_id=alice.id)
        await store.add_member(group.id, bob.id)
        dm = await store.direct_room(alice.id, bob.id, create=True)
        support = await store.support_room(alice.id, create=True)
        assert dm is not None and support is not None
        await add_message(store, group.id, alice.id, "alice's")
        kept = await add_message(store, group.id, bob.id, "bob's")
        await add_message(store, dm.id, bob.id, "to alice")
        assert await store.delete_user(alice.id)
        assert await store.user_by_id(alice.id) is None
        assert await store.latest_messages(group.id, 10) == [kept]
        left = await store.room_by_id(group.id)
        assert left is not None and left.creator_id is None
        assert await store.room_by_id(dm.id) is None
        assert await store.room_by_id(support.id) is None
        assert await store.direct_room(alice.id, bob.id, create=False) is None


async def test_deleting_a_missing_user_gives_false(config: Config) -> None:
    async with open_store(config) as store:
        alice = await store.create_user("alice", "hash")
        assert await store.delete_user(alice.id)
        assert not await store.delete_user(alice.id)
        assert await store.users() == []


async def test_erased_accounts_counts_each_erasure(config: Config) -> None:
    async with open_store(config) as store:
        alice = await store.create_user("alice", "hash")
        bob = await store.create_user("bob", "hash")
        assert await store.erased_accounts() == 0
        await _erase(store, alice.id, "alice")
        assert await store.erased_accounts() == 1
        await store.delete_user(bob.id)  # a deletion is no erasure
        assert await store.erased_accounts() == 1


async def test_users_are_found_by_a_prefix_of_their_name_key(config: Config) -> None:
    async with open_store(config) as store:
        caller = await store.create_user("alfred", "hash")
        alice = await store.create_user("alice", "hash")
        albert = await store.create_user("Albert", "hash")
        await store.create_user("bob", "hash")
        gone = await store.create_user("alan", "hash")
        await _erase(store, gone.id, "alan")
        found = await store.users_by_prefix(name_key("AL"), caller_id=caller.id, limit=10)
        first = await store.users_by_prefix(name_key("al"), caller_id=caller.id, limit=1)
        mine = await store.users_by_prefix(name_key("alf"), caller_id=alice.id, limit=10)
    assert found == [(albert.id, "Albert"), (alice.id, "alice")]
    assert first == found[:1]
    assert mine == [(caller.id, "alfred")]


async def test_a_users_prefix_is_taken_literally(config: Config) -> None:
    async with open_store(config) as store:
        caller = await store.create_user("caller", "hash")
        underscored = await store.create_user("a_b", "hash")
        await store.create_user("axb", "hash")  # "_" is no wildcard: not found
        found = await store.users_by_prefix(name_key("a_"), caller_id=caller.id, limit=10)
        assert found == [(underscored.id, "a_b")]
        assert await store.users_by_prefix("%", caller_id=caller.id, limit=10) == []
        assert await store.users_by_prefix("nobody", caller_id=caller.id, limit=10) == []


# --- login addresses ---


async def test_a_login_address_is_remembered_per_user(config: Config) -> None:
    async with open_store(config) as store:
        alice = await store.create_user("alice", "hash")
        bob = await store.create_user("bob", "hash")
        assert not await store.is_login_address(alice.id, "192.0.2.1")
        await store.remember_login_address(alice.id, "192.0.2.1")
        await store.remember_login_address(alice.id, "192.0.2.1")  # again: harmless
        assert await store.is_login_address(alice.id, "192.0.2.1")
        assert not await store.is_login_address(alice.id, "192.0.2.2")
        assert not await store.is_login_address(bob.id, "192.0.2.1")


async def test_an_address_longer_than_the_limit_is_not_remembered(config: Config) -> None:
    async with open_store(config) as store:
        alice = await store.create_user("alice", "hash")
        longest, too_long = "a" * MAX_ADDRESS_CHARS, "b" * (MAX_ADDRESS_CHARS + 1)
        await store.remember_login_address(alice.id, longest)
        await store.remember_login_address(alice.id, too_long)
        assert await store.is_login_address(alice.id, longest)
        assert not await store.is_login_address(alice.id, too_long)


async def test_the_oldest_login_address_goes_past_the_number_kept(config: Config) -> None:
    async with open_store(config) as store:
        alice = await store.create_user("alice", "hash")
        newer = [f"198.51.100.{n}" for n in range(KEPT_PER_USER)]
        await store.remember_login_address(alice.id, "203.0.113.1")
        for address in newer:
            await store.remember_login_address(alice.id, address)
        assert not await store.is_login_address(alice.id, "203.0.113.1")
        assert all([await store.is_login_address(alice.id, a) for a in newer])


async def test_the_newest_login_address_is_kept_whatever_it_sorts_as(config: Config) -> None:
    async with open_store(config) as store:
        alice = await store.create_user("alice", "hash")
        older = [f"198.51.100.{n}" for n in range(KEPT_PER_USER)]
        for address in older:
            await store.remember_login_address(alice.id, address)
        # Just now, and after every other one by address too (SQLite's clock is in
        # seconds: all of them may have been used in the same one).
        await store.remember_login_address(alice.id, "203.0.113.1")
        assert await store.is_login_address(alice.id, "203.0.113.1")
        kept = [address for address in older if await store.is_login_address(alice.id, address)]
        assert len(kept) == KEPT_PER_USER - 1


# --- sessions ---


def _session(user_id: int, session_id: str = "s1", *, at: int, lasts: int = 3600) -> SessionRecord:
    """A new session as `Sessions.create_session` stores it: generation 0, never rotated,
    not revoked."""
    return SessionRecord(
        id=session_id,
        user_id=user_id,
        secret_hash="hash-0",
        previous_hash=None,
        generation=0,
        token_version=0,
        remember=True,
        created_at=at,
        rotated_at=at,
        last_used_at=at,
        expires_at=at + lasts,
        revoked_at=None,
    )


async def test_a_new_session_is_read_back_as_created(config: Config) -> None:
    async with open_store(config) as store:
        alice = await store.create_user("alice", "hash")
        made = _session(alice.id, at=int(time.time()))
        await store.create_session(made)
        assert await store.session("s1") == made
        assert await store.session("unknown") is None


async def test_a_session_of_a_missing_user_is_refused_as_gone(config: Config) -> None:
    async with open_store(config) as store:
        alice = await store.create_user("alice", "hash")
        with pytest.raises(Gone):
            await store.create_session(_session(alice.id + 1000, at=int(time.time())))


async def test_a_new_session_drops_those_that_ended_long_ago(config: Config) -> None:
    async with open_store(config) as store:
        alice = await store.create_user("alice", "hash")
        now = int(time.time())
        year = 365 * 24 * 3600
        await store.create_session(_session(alice.id, "ancient", at=now - 2 * year))
        await store.create_session(_session(alice.id, "live", at=now - 60))
        assert await store.session("ancient") is None
        assert await store.session("live") is not None


async def test_rotating_a_session_swaps_its_secret_once(config: Config) -> None:
    async with open_store(config) as store:
        alice = await store.create_user("alice", "hash")
        now = int(time.time())
        await store.create_session(_session(alice.id, at=now))
        later = now + 60
        assert await store.rotate_session(
            "s1", "hash-0", "hash-1", now=later, expires_at=later + 99
        )
        # The same secret presented again (a second refresh) rotates nothing.
        assert not await store.rotate_session("s1", "hash-0", "hash-2", now=later, expires_at=0)
        rotated = await store.session("s1")
        assert rotated is not None
        assert (rotated.secret_hash, rotated.previous_hash, rotated.generation) == (
            "hash-1",
            "hash-0",
            1,
        )
        assert (rotated.rotated_at, rotated.last_used_at, rotated.expires_at) == (
            later,
            later,
            later + 99,
        )
        assert not await store.rotate_session(
            "unknown", "hash-1", "hash-2", now=later, expires_at=0
        )


async def test_a_revoked_session_ends_now_and_rotates_no_more(config: Config) -> None:
    async with open_store(config) as store:
        alice = await store.create_user("alice", "hash")
        now = int(time.time())
        await store.create_session(_session(alice.id, at=now))
        await store.revoke_session("s1", now=now + 5)
        await store.revoke_session("s1", now=now + 9)  # it has ended: unchanged
        revoked = await store.session("s1")
        assert revoked is not None
        assert (revoked.revoked_at, revoked.expires_at) == (now + 5, now + 5)
        assert not await store.rotate_session("s1", "hash-0", "hash-1", now=now, expires_at=now)


async def test_revoking_a_users_sessions_ends_theirs_only(config: Config) -> None:
    async with open_store(config) as store:
        alice = await store.create_user("alice", "hash")
        bob = await store.create_user("bob", "hash")
        now = int(time.time())
        for session_id, user in (("a1", alice), ("a2", alice), ("b1", bob)):
            await store.create_session(_session(user.id, session_id, at=now))
        await store.revoke_user_sessions(alice.id, now=now + 1)
        sessions = {s: await store.session(s) for s in ("a1", "a2", "b1")}
        assert {s: r.revoked_at for s, r in sessions.items() if r is not None} == {
            "a1": now + 1,
            "a2": now + 1,
            "b1": None,
        }


# --- a user's data ---


async def test_a_name_is_held_after_an_erasure_by_either_key(config: Config) -> None:
    async with open_store(config) as store:
        alice = await store.create_user("alice", "hash")
        assert await store.name_held_until(name_key("alice"), look_key("alice")) is None
        until = await _erase(store, alice.id, "alice")
        assert await store.name_held_until(name_key("ALICE"), "no such look") == until
        assert await store.name_held_until("no such key", look_key("alice")) == until
        assert await store.name_held_until(name_key("bob"), look_key("bob")) is None


async def test_a_hold_that_has_ended_holds_no_name(config: Config) -> None:
    async with open_store(config) as store:
        alice = await store.create_user("alice", "hash")
        await store.erase_account(
            alice.id,
            name_key=name_key("alice"),
            look_key=look_key("alice"),
            held_until=datetime.now(UTC) - timedelta(minutes=1),
            password_hash="-",
        )
        assert await store.name_held_until(name_key("alice"), look_key("alice")) is None


async def test_exported_messages_come_a_page_at_a_time_with_edits_and_files(
    config: Config,
) -> None:
    async with open_store(config) as store:
        alice = await store.create_user("alice", "hash")
        bob = await store.create_user("bob", "hash")
        room = await store.create_room("room", is_private=False, creator_id=alice.id)
        await store.add_member(room.id, bob.id)
        file = _file("f1", alice.id)
        await store.add_file(file)
        (first,) = await store.add_messages(
            [NewMessage(room.id, alice.id, OutgoingMessage("v0", files=("f1",)))]
        )
        await add_message(store, room.id, bob.id, "not hers")
        second = await add_message(store, store.lobby_id, alice.id, "gone")
        third = await add_message(store, store.lobby_id, alice.id, "third")
        await store.edit_message(room.id, first.message.id, "v1", _accept)
        await store.delete_message(store.lobby_id, second.id, _accept)
        page = await store.export_messages(alice.id, after=0, limit=2)
        rest = await store.export_messages(alice.id, after=page[-1]["MessageID"], limit=2)
    assert [m["MessageID"] for m in page + rest] == [first.message.id, second.id, third.id]
    edited, deleted = page
    assert edited["Room"] == {"RoomID": room.id, "Name": "room", "Kind": "group"}
    assert (edited["Text"], edited["OriginalText"], edited["Deleted"]) == ("v1", "v0", False)
    assert [edit["Text"] for edit in edited["Edits"]] == ["v1"]
    assert edited["Files"] == ["f1"] and edited["EditedAt"] is not None
    assert (deleted["Text"], deleted["Deleted"], deleted["Room"]["Kind"]) == ("", True, "lobby")
    assert rest[0]["Text"] == "third" and rest[0]["Edits"] == []


async def test_exported_reactions_page_by_message_and_emoji(config: Config) -> None:
    async with open_store(config) as store:
        alice = await store.create_user("alice", "hash")
        bob = await store.create_user("bob", "hash")
        one = await add_message(store, store.lobby_id, bob.id, "one")
        two = await add_message(store, store.lobby_id, bob.id, "two")
        for message, emoji, user in ((two, "b", alice), (one, "b", alice), (one, "a", alice)):
            await store.react(
                store.lobby_id, message.id, user.id, emoji, add=True, max_emoji=20, check=_accept
            )
        await store.react(
            store.lobby_id, one.id, bob.id, "c", add=True, max_emoji=20, check=_accept
        )
        page = await store.export_reactions(alice.id, after=(0, ""), limit=2)
        rest = await store.export_reactions(alice.id, after=(one.id, "b"), limit=2)
        unerased = await store.unerased_reactions(alice.id, after=(one.id, "a"), limit=10)
    assert [(r["MessageID"], r["RoomID"], r["Emoji"]) for r in page] == [
        (one.id, store.lobby_id, "a"),
        (one.id, store.lobby_id, "b"),
    ]
    assert all(r["At"] for r in page)
    assert [(r["MessageID"], r["Emoji"]) for r in rest] == [(two.id, "b")]
    assert unerased == [(one.id, store.lobby_id, "b"), (two.id, store.lobby_id, "b")]


async def test_exported_read_markers_are_by_room(config: Config) -> None:
    async with open_store(config) as store:
        alice = await store.create_user("alice", "hash")
        room = await store.create_room("room", is_private=False, creator_id=alice.id)
        in_lobby = await add_message(store, store.lobby_id, alice.id, "lobby")
        in_room = await add_message(store, room.id, alice.id, "room")
        await store.mark_read(alice.id, room.id, in_room.id)
        await store.mark_read(alice.id, store.lobby_id, in_lobby.id)
        every = await store.export_read_markers(alice.id, after=0, limit=10)
        after_lobby = await store.export_read_markers(alice.id, after=store.lobby_id, limit=10)
        one = await store.export_read_markers(alice.id, after=0, limit=1)
        lobby = await store.room_by_id(store.lobby_id)
    assert lobby is not None
    assert every == [
        {"RoomID": store.lobby_id, "RoomName": lobby.name, "MessageID": in_lobby.id},
        {"RoomID": room.id, "RoomName": "room", "MessageID": in_room.id},
    ]
    assert after_lobby == every[1:] and one == every[:1]


def _file(file_id: str, uploader_id: int, size: int = 10) -> StoredFile:
    now = datetime.now(UTC)
    return StoredFile(
        id=file_id,
        uploader_id=uploader_id,
        name=f"{file_id}.txt",
        size=size,
        content_type="text/plain",
        sha256="0" * 64,
        created_at=now.replace(microsecond=now.microsecond // 1000 * 1000),
    )


async def test_exported_files_are_the_users_by_file_id(config: Config) -> None:
    async with open_store(config) as store:
        alice = await store.create_user("alice", "hash")
        bob = await store.create_user("bob", "hash")
        files = [_file(file_id, alice.id) for file_id in ("c", "a", "b")]
        for file in [*files, _file("d", bob.id)]:
            await store.add_file(file)
        page = await store.export_files(alice.id, after="", limit=2)
        rest = await store.export_files(alice.id, after="b", limit=2)
    assert page == [files[1], files[2]] and rest == [files[0]]


async def test_unerased_messages_leave_out_tombstones_and_others(config: Config) -> None:
    async with open_store(config) as store:
        alice = await store.create_user("alice", "hash")
        bob = await store.create_user("bob", "hash")
        room = await store.create_room("room", is_private=False, creator_id=alice.id)
        first = await add_message(store, store.lobby_id, alice.id, "one")
        deleted = await add_message(store, room.id, alice.id, "two")
        await add_message(store, store.lobby_id, bob.id, "bob's")
        third = await add_message(store, room.id, alice.id, "three")
        await store.delete_message(room.id, deleted.id, _accept)
        every = await store.unerased_messages(alice.id, after=0, limit=10)
        page = await store.unerased_messages(alice.id, after=first.id, limit=1)
    assert every == [(first.id, store.lobby_id), (third.id, room.id)]
    assert page == [(third.id, room.id)]
