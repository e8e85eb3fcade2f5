"""The store's files' records and Web Push on both backends, the same behaviour: storing
a file's record, who may read it, quotas and what the collector removes (`Files`); the
browsers registered for push, the VAPID key and claims on messages to push (`Push`)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import trio
from support import add_message

from chat.core.config import Config
from chat.core.outgoing import OutgoingMessage
from chat.core.records import Message, NewMessage, PushCandidate, PushSubscription, Room, StoredFile
from chat.store import Store, open_store


def _accept(message: Message | None) -> None:
    assert message is not None


def _file(
    file_id: str, uploader_id: int, *, size: int = 10, age: timedelta = timedelta()
) -> StoredFile:
    at = datetime.now(UTC) - age
    return StoredFile(
        id=file_id,
        uploader_id=uploader_id,
        name=f"{file_id}.png",
        size=size,
        content_type="image/png",
        sha256="ab" * 32,
        created_at=at.replace(microsecond=at.microsecond // 1000 * 1000),
        width=640,
        height=480,
        thumbnail_type="image/webp",
    )


async def _send(store: Store, room: Room, sender_id: int, *file_ids: str) -> Message:
    (added,) = await store.add_messages(
        [NewMessage(room.id, sender_id, OutgoingMessage("see attached", files=file_ids))]
    )
    return added.message


# --- files ---


async def test_a_new_file_is_readable_by_its_uploader_alone(config: Config) -> None:
    async with open_store(config) as store:
        alice = await store.create_user("alice", "hash")
        bob = await store.create_user("bob", "hash")
        file = _file("f1", alice.id)
        await store.add_file(file)
        assert await store.readable_file("f1", alice.id, admin=False) == file
        assert await store.readable_file("f1", bob.id, admin=False) is None
        assert await store.readable_file("f1", bob.id, admin=True) is None
        assert await store.readable_file("unknown", alice.id, admin=False) is None


async def test_an_attached_file_is_readable_by_whoever_reads_its_message(config: Config) -> None:
    async with open_store(config) as store:
        alice = await store.create_user("alice", "hash")
        bob = await store.create_user("bob", "hash")
        carol = await store.create_user("carol", "hash")
        op = await store.create_user("op", "hash", is_admin=True)
        room = await store.create_room("room", is_private=True, creator_id=alice.id)
        await store.add_member(room.id, bob.id)
        support = await store.support_room(alice.id, create=True)
        assert support is not None
        for file_id in ("in-room", "in-support"):
            await store.add_file(_file(file_id, alice.id))
        await _send(store, room, alice.id, "in-room")
        await _send(store, support, alice.id, "in-support")

        async def readers(file_id: str) -> list[str]:
            return [
                user.name
                for user in (alice, bob, carol, op)
                if await store.readable_file(file_id, user.id, admin=user.is_admin) is not None
            ]

        assert await readers("in-room") == ["alice", "bob"]
        assert await readers("in-support") == ["alice", "op"]
        found = await store.readable_file("in-room", bob.id, admin=False)
        assert found is not None and found.attached


async def test_a_file_of_a_deleted_message_is_readable_by_nobody(config: Config) -> None:
    async with open_store(config) as store:
        alice = await store.create_user("alice", "hash")
        await store.add_file(_file("f1", alice.id))
        lobby = await store.room_by_id(store.lobby_id)
        assert lobby is not None
        message = await _send(store, lobby, alice.id, "f1")
        await store.delete_message(lobby.id, message.id, _accept)
        assert await store.readable_file("f1", alice.id, admin=True) is None


async def test_used_bytes_sum_the_users_files(config: Config) -> None:
    async with open_store(config) as store:
        alice = await store.create_user("alice", "hash")
        bob = await store.create_user("bob", "hash")
        assert await store.used_bytes(alice.id) == 0
        await store.add_file(_file("a1", alice.id, size=1000))
        await store.add_file(_file("a2", alice.id, size=234))
        await store.add_file(_file("b1", bob.id, size=5))
        assert await store.used_bytes(alice.id) == 1234
        assert await store.delete_file_record("a1")
        assert await store.used_bytes(alice.id) == 234


async def test_a_file_past_the_quota_is_refused_and_not_stored(config: Config) -> None:
    async with open_store(config) as store:
        alice = await store.create_user("alice", "hash")
        bob = await store.create_user("bob", "hash")
        assert await store.add_file(_file("a1", alice.id, size=600), quota_bytes=1000)
        assert await store.add_file(_file("b1", bob.id, size=900), quota_bytes=1000)
        assert not await store.add_file(_file("a2", alice.id, size=401), quota_bytes=1000)
        assert await store.add_file(_file("a3", alice.id, size=400), quota_bytes=1000)
        assert await store.used_bytes(alice.id) == 1000
        assert await store.known_files(["a1", "a2", "a3"]) == {"a1", "a3"}


async def test_concurrent_files_exceed_the_quota_by_none(config: Config) -> None:
    """Ten records of 750 bytes at once against a quota of 1024: one is stored."""
    async with open_store(config) as store:
        alice = await store.create_user("alice", "hash")
        kept: list[str] = []

        async def add(n: int) -> None:
            if await store.add_file(_file(f"f{n}", alice.id, size=750), quota_bytes=1024):
                kept.append(f"f{n}")

        async with trio.open_nursery() as adding:
            for n in range(10):
                adding.start_soon(add, n)
        assert len(kept) == 1
        assert await store.used_bytes(alice.id) == 750


async def test_attachable_files_are_the_users_own_not_yet_attached(config: Config) -> None:
    async with open_store(config) as store:
        alice = await store.create_user("alice", "hash")
        bob = await store.create_user("bob", "hash")
        mine, sent, theirs = (
            _file("mine", alice.id),
            _file("sent", alice.id),
            _file("theirs", bob.id),
        )
        for file in (mine, sent, theirs):
            await store.add_file(file)
        lobby = await store.room_by_id(store.lobby_id)
        assert lobby is not None
        await _send(store, lobby, alice.id, "sent")
        found = await store.attachable_files(alice.id, ["mine", "sent", "theirs", "unknown"])
        assert found == [mine]
        assert await store.attachable_files(alice.id, []) == []


async def test_collectable_files_are_old_unattached_or_no_longer_carried(config: Config) -> None:
    async with open_store(config) as store:
        alice = await store.create_user("alice", "hash")
        for file in (
            _file("old", alice.id, age=timedelta(hours=2)),
            _file("new", alice.id),
            _file("carried", alice.id, age=timedelta(hours=2)),
            _file("dropped", alice.id, age=timedelta(hours=2)),
        ):
            await store.add_file(file)
        lobby = await store.room_by_id(store.lobby_id)
        assert lobby is not None
        await _send(store, lobby, alice.id, "carried")
        dropped = await _send(store, lobby, alice.id, "dropped")
        await store.delete_message(lobby.id, dropped.id, _accept)
        cutoff = datetime.now(UTC) - timedelta(hours=1)
        every = await store.collectable_files(cutoff, limit=10)
        one = await store.collectable_files(cutoff, limit=1)
    assert sorted(file.id for file in every) == ["dropped", "old"]
    assert len(one) == 1 and one[0] in every


async def test_deleting_a_file_record_succeeds_once_and_detaches_it(config: Config) -> None:
    async with open_store(config) as store:
        alice = await store.create_user("alice", "hash")
        await store.add_file(_file("f1", alice.id))
        lobby = await store.room_by_id(store.lobby_id)
        assert lobby is not None
        message = await _send(store, lobby, alice.id, "f1")
        assert [f.id for f in message.files] == ["f1"]
        assert await store.delete_file_record("f1")
        assert not await store.delete_file_record("f1")
        (now,) = await store.latest_messages(lobby.id, 1)
        assert now.id == message.id and now.files == ()


async def test_known_files_are_those_with_a_record(config: Config) -> None:
    async with open_store(config) as store:
        alice = await store.create_user("alice", "hash")
        await store.add_file(_file("f1", alice.id))
        await store.add_file(_file("f2", alice.id))
        await store.delete_file_record("f2")
        assert await store.known_files(["f1", "f2", "unknown"]) == {"f1"}
        assert await store.known_files([]) == set()


# --- push ---


async def _candidates(
    store: Store, room_id: int, *, mentioned: bool = False
) -> list[PushCandidate]:
    room = await store.room_by_id(room_id)
    assert room is not None
    return await store.push_candidates(room, default_level="all", mentioned=mentioned)


async def test_the_first_vapid_key_stored_is_kept(config: Config) -> None:
    async with open_store(config) as store:
        assert await store.vapid_private_key("first") == "first"
        assert await store.vapid_private_key("second") == "first"


async def test_a_subscription_is_registered_and_removed(config: Config) -> None:
    async with open_store(config) as store:
        alice = await store.create_user("alice", "hash")
        bob = await store.create_user("bob", "hash")
        assert not await store.any_push_subscription()
        await store.add_push_subscription(alice.id, "https://push/1", "key", "auth", limit=5)
        assert await store.any_push_subscription()
        (candidate,) = await _candidates(store, store.lobby_id)
        subscription = candidate.subscription
        assert (subscription.user_id, subscription.endpoint, subscription.p256dh) == (
            alice.id,
            "https://push/1",
            "key",
        )
        assert (subscription.auth, candidate.level) == ("auth", "all")
        assert not await store.remove_push_subscription(bob.id, "https://push/1")
        assert await store.remove_push_subscription(alice.id, "https://push/1")
        assert not await store.remove_push_subscription(alice.id, "https://push/1")
        assert not await store.any_push_subscription()


async def test_an_endpoint_registered_again_moves_to_its_new_user(config: Config) -> None:
    async with open_store(config) as store:
        alice = await store.create_user("alice", "hash")
        bob = await store.create_user("bob", "hash")
        await store.add_push_subscription(alice.id, "https://push/1", "k1", "a1", limit=5)
        await store.add_push_subscription(bob.id, "https://push/1", "k2", "a2", limit=5)
        (candidate,) = await _candidates(store, store.lobby_id)
        subscription = candidate.subscription
        assert (subscription.user_id, subscription.p256dh, subscription.auth) == (
            bob.id,
            "k2",
            "a2",
        )


async def test_past_the_limit_a_users_oldest_subscriptions_go(config: Config) -> None:
    async with open_store(config) as store:
        alice = await store.create_user("alice", "hash")
        bob = await store.create_user("bob", "hash")
        await store.add_push_subscription(bob.id, "https://push/bob", "k", "a", limit=2)
        for n in range(3):
            await store.add_push_subscription(alice.id, f"https://push/{n}", "k", "a", limit=2)
        endpoints = [c.subscription.endpoint for c in await _candidates(store, store.lobby_id)]
    assert sorted(endpoints) == ["https://push/1", "https://push/2", "https://push/bob"]


async def test_a_gone_subscription_is_removed_unless_registered_again(config: Config) -> None:
    async with open_store(config) as store:
        alice = await store.create_user("alice", "hash")
        await store.add_push_subscription(alice.id, "https://push/1", "old", "a", limit=5)
        (old,) = await _candidates(store, store.lobby_id)
        await store.add_push_subscription(alice.id, "https://push/1", "new", "a", limit=5)
        (new,) = await _candidates(store, store.lobby_id)
        assert not await store.remove_gone_push_subscription(old.subscription)
        assert await store.remove_gone_push_subscription(new.subscription)
        assert not await store.remove_gone_push_subscription(new.subscription)
        assert not await store.any_push_subscription()
        unknown = PushSubscription(new.subscription.id + 1000, alice.id, "https://x", "k", "a")
        assert not await store.remove_gone_push_subscription(unknown)


async def test_push_candidates_are_those_who_may_read_and_want_to_hear(config: Config) -> None:
    async with open_store(config) as store:
        users = {n: await store.create_user(n, "hash") for n in ("alice", "bob", "carol", "dan")}
        op = await store.create_user("op", "hash", is_admin=True)
        room = await store.create_room("room", is_private=True, creator_id=users["alice"].id)
        for name in ("bob", "carol"):
            await store.add_member(room.id, users[name].id)
        support = await store.support_room(users["dan"].id, create=True)
        assert support is not None
        await store.set_notification_level(users["bob"].id, room.id, "mentions")
        await store.set_notification_level(users["carol"].id, room.id, "none")
        for user in [*users.values(), op]:
            await store.add_push_subscription(
                user.id, f"https://push/{user.name}", "k", "a", limit=5
            )

        async def who(room_id: int, mentioned: bool) -> list[tuple[str, str]]:
            found = await _candidates(store, room_id, mentioned=mentioned)
            return sorted((c.subscription.endpoint.rsplit("/", 1)[1], c.level) for c in found)

        assert await who(room.id, False) == [("alice", "all")]
        assert await who(room.id, True) == [("alice", "all"), ("bob", "mentions")]
        assert await who(support.id, False) == [("dan", "all"), ("op", "all")]
        assert len(await who(store.lobby_id, False)) == 5
        lobby = await store.room_by_id(store.lobby_id)
        assert lobby is not None
        quiet = await store.push_candidates(lobby, default_level="mentions", mentioned=False)
        assert quiet == []


async def test_a_message_is_claimed_for_push_once(config: Config) -> None:
    async with open_store(config) as store:
        alice = await store.create_user("alice", "hash")
        ids = [(await add_message(store, store.lobby_id, alice.id, f"m{n}")).id for n in range(3)]
        assert await store.claim_pushes(ids[:2]) == set(ids[:2])
        assert await store.claim_pushes(ids) == {ids[2]}
        assert await store.claim_pushes(ids) == set()
        assert await store.claim_pushes([]) == set()


async def test_pruned_claims_may_be_claimed_again(config: Config) -> None:
    async with open_store(config) as store:
        alice = await store.create_user("alice", "hash")
        message = await add_message(store, store.lobby_id, alice.id, "m")
        assert await store.claim_pushes([message.id]) == {message.id}
        await store.prune_push_claims(datetime.now(UTC) - timedelta(minutes=1))  # too old only
        assert await store.claim_pushes([message.id]) == set()
        await store.prune_push_claims(datetime.now(UTC) + timedelta(minutes=1))
        assert await store.claim_pushes([message.id]) == {message.id}
