"""An instance's presence snapshot (chat/app/presence/cluster.py, `snapshot_events`) goes to
the other instances in parts, each within the bus's `MAX_EVENT_BYTES` and together the
whole state, whatever the names: the sizes it packs by are json's own."""

from __future__ import annotations

import itertools
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chat.app.presence.cluster import MAX_EVENT_BYTES, _json_length, snapshot_events

NAMES = ["ann", "", 'say "hi"', "back\\slash", "zoë", "名前", "emoji 😀", "tab\tname", "del\x7f"]


@pytest.mark.parametrize("name", NAMES)
def test_a_names_length_is_the_length_json_writes(name: str) -> None:
    assert _json_length(name) == len(json.dumps(name))


def _parts_hold(online: list[tuple[int, str]], rooms: list[tuple[int, int, str]]) -> None:
    parts = snapshot_events("instance-1", 3, online, rooms)
    assert [part["part"] for part in parts] == list(range(len(parts)))
    assert {part["parts"] for part in parts} == {len(parts)}
    assert [tuple(e) for part in parts for e in part["online"]] == online
    assert [tuple(e) for part in parts for e in part["rooms"]] == rooms
    sizes = [
        [len(json.dumps(entry)) + 2 for entry in part["online"] + part["rooms"]] for part in parts
    ]
    for part, size in zip(parts, sizes, strict=True):
        assert sum(size) <= MAX_EVENT_BYTES
        assert len(json.dumps(part)) <= MAX_EVENT_BYTES + 200  # and its few fixed fields
    # Packed full: each part but the last could not have taken the next one's first entry.
    for size, after in itertools.pairwise(sizes):
        assert sum(size) + after[0] > MAX_EVENT_BYTES


def test_twenty_thousand_users_go_in_full_parts_within_the_limit() -> None:
    online = [(i, f"user{i}") for i in range(20_000)]
    rooms = [(i % 7, i, f"user{i}") for i in range(0, 20_000, 3)]
    _parts_hold(online, rooms)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.integers(1, 10**12), st.text(max_size=40)), max_size=400),
    st.lists(
        st.tuples(st.integers(1, 10**6), st.integers(1, 10**12), st.text(max_size=40)),
        max_size=200,
    ),
)
def test_any_names_go_in_full_parts_within_the_limit(
    online: list[tuple[int, str]], rooms: list[tuple[int, int, str]]
) -> None:
    _parts_hold(online, rooms)
