"""The service's memory of where named messages are (chat/app/messages/known_places.py):
a reply or thread reply naming a message asked about before is admitted from it, and it
holds at most its limit, the least recently used going first."""

from __future__ import annotations

from chat.app.messages.known_places import KnownPlaces


def test_a_remembered_message_gives_its_root_in_its_own_room_only() -> None:
    places = KnownPlaces()
    places.remember(room_id=2, message_id=17, root_id=11)
    assert places.root(2, 17) == 11
    assert places.root(3, 17) is None
    assert places.root(2, 18) is None


def test_the_least_recently_used_place_goes_first_past_the_limit() -> None:
    places = KnownPlaces(limit=2)
    places.remember(1, 10, 10)
    places.remember(1, 20, 20)
    assert places.root(1, 10) == 10  # 10 used: 20 is now the oldest
    places.remember(1, 30, 30)
    assert places.root(1, 20) is None
    assert (places.root(1, 10), places.root(1, 30)) == (10, 30)
