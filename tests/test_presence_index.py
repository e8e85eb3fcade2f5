"""`Presence.present(room)` reads one room's users (chat/app/presence/tracker.py keeps them indexed
by room, here and for each other instance): whatever connections enter and leave and
whatever other instances report, it lists what a scan of every (room, user) pair would."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

import pytest

from chat.app.presence.frames import person_json, presence_list_frame
from chat.app.presence.present_list import PresentList
from chat.app.presence.tracker import Presence
from chat.bus.local import LocalBus
from chat.core.frames import text_frame
from chat.core.records import Identity


@dataclass(eq=False)
class Connection:
    """A /ws connection as presence sees one: its id, who it is, and what it was offered."""

    id: int
    identity: Identity
    frames: list[bytes] = field(default_factory=list)

    def offer(self, data: bytes) -> bool:
        self.frames.append(data)
        return True


NAMES = {uid: f"user{uid}" for uid in range(1, 9)}
ROOMS = (1, 2, 3)


@pytest.mark.parametrize("seed", range(10))
async def test_present_lists_what_every_connection_and_instance_says(seed: int) -> None:
    chooser = random.Random(seed)
    presence = Presence(LocalBus(), "here", timeout=30.0)
    connections: list[Connection] = []
    where: dict[Connection, int] = {}  # the model: each entered connection's room
    # What each other instance said, in the order they were first heard from.
    elsewhere: dict[str, dict[tuple[int, int], str]] = {}
    origins = ["a", "b"]
    names = dict(NAMES)  # each user's name now (a rename changes it)
    latest: dict[int, str] = {}  # the name of the connection counted or entered last
    for step in range(300):
        roll = chooser.random()
        if roll < 0.03:  # a user renames: connections opened from now on say so
            uid = chooser.choice(list(names))
            names[uid] = f"renamed{uid}at{step}"
        elif roll < 0.2 or not connections:
            uid = chooser.choice(list(names))
            connection = Connection(step, Identity(uid, names[uid], False, 0))
            presence.file(connection)
            latest[uid] = names[uid]
            connections.append(connection)
        elif roll < 0.5:
            connection = chooser.choice(connections)
            room = chooser.choice(ROOMS)
            presence.enter_room(connection, room, listening=chooser.random() < 0.5)
            latest[connection.identity.user_id] = connection.identity.name
            where[connection] = room
        elif roll < 0.6:
            connection = chooser.choice(connections)
            presence.leave_room(connection)
            where.pop(connection, None)
        elif roll < 0.7:
            connection = connections.pop(chooser.randrange(len(connections)))
            presence.unfile(connection)
            where.pop(connection, None)
        elif roll < 0.97:  # another instance says a user entered or left a room
            origin = chooser.choice(origins)
            room, uid = chooser.choice(ROOMS), chooser.choice(list(NAMES))
            entered = chooser.random() < 0.6
            change = ["room", room, uid, names[uid], entered]
            presence.on_event({"instance": origin, "changes": [change]})
            table = elsewhere.setdefault(origin, {})
            if entered:
                table[(room, uid)] = names[uid]
            else:
                table.pop((room, uid), None)
        else:  # another instance stops: its users leave
            origin = chooser.choice(origins)
            presence.on_event({"instance": origin, "gone": True})
            elsewhere.pop(origin, None)
            origins.remove(origin)
            origins.append(f"{origin}'")  # it comes back under another id
        for room in ROOMS:
            # Here, by the name of the user's connection counted or entered last; from
            # another instance, as it said (when it said so first: a later change only
            # says present or not).
            shown = {c.identity.user_id: "" for c, r in where.items() if r == room}
            shown = {uid: latest[uid] for uid in shown}
            for table in elsewhere.values():
                for (r, uid), name in table.items():
                    if r == room:
                        shown.setdefault(uid, name)
            wanted = sorted(shown.items(), key=lambda p: (p[1].casefold(), p[0]))
            assert presence.present(room) == wanted, (seed, step, room)


@pytest.mark.parametrize("seed", range(20))
def test_a_present_lists_json_is_each_users_in_order_without_the_hidden_with_the_shown(
    seed: int,
) -> None:
    chooser = random.Random(seed)
    listed = PresentList()
    model: dict[int, str] = {}
    for _ in range(chooser.randrange(0, 40)):
        uid = chooser.randrange(1, 60)
        # Names that compare equal case-folded, so that ids break ties.
        name = chooser.choice(["ann", "Ann", "bob", "BOB", "cy", "dee", "eve"])
        listed.add(uid, name, person_json(uid, name))
        model[uid] = name
        if chooser.random() < 0.2:
            gone = chooser.choice(list(model))
            listed.discard(gone)
            del model[gone]
    hide = chooser.sample(sorted(model), k=min(len(model), chooser.randrange(0, 4)))
    hide.append(999)  # not listed: nothing to hide
    show = [
        (uid, chooser.choice(["ann", "Bob", "zed"]))
        for uid in range(100, 100 + chooser.randrange(0, 4))
    ]
    show.append((next(iter(model), 1000), "listed already"))  # listed: shown as listed
    wanted = {uid: name for uid, name in model.items() if uid not in hide}
    wanted.update((uid, name) for uid, name in show if uid not in model)
    people = sorted(wanted.items(), key=lambda p: (p[1].casefold(), p[0]))
    joined = listed.joined(hide, [(uid, name, person_json(uid, name)) for uid, name in show])
    assert joined == ",".join(person_json(uid, name) for uid, name in people)


@pytest.mark.parametrize("seed", range(5))
async def test_a_presence_list_on_enter_is_the_room_as_its_connections_were_told(
    seed: int,
) -> None:
    # Every change after a room's first telling within its interval is held back (the
    # clock does not move here), so the lists are made with changes to hide and to show.
    chooser = random.Random(seed)
    presence = Presence(LocalBus(), "here", timeout=30.0)
    connections = []
    for step in range(200):
        uid = chooser.choice(list(NAMES))
        connection = Connection(step, Identity(uid, NAMES[uid], False, 0))
        presence.file(connection)
        connections.append(connection)
        if chooser.random() < 0.3:
            leaving = chooser.choice(connections)
            presence.leave_room(leaving)
        room = chooser.choice(ROOMS)
        presence.enter_room(connection, room, listening=True, lists=True)
        told = presence_list_frame(room, presence._tellings.told(room))
        assert connection.frames[-1] == text_frame(told), (seed, step)
