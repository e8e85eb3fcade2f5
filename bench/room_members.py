"""Users, group rooms and memberships for bench/run.py's rooms scenarios, made over HTTP.

`populate` registers ``rooms * members`` users (logging in those an earlier scenario on
the same database registered), has the first member of each room create it, and every
user join their own room and `others` more. It goes through the public routes, as a
client would, and is quick only because the run starts the server with
``CHAT_BCRYPT_COST=4`` for these scenarios (at the default 12, a thousand registrations
take four minutes of bcrypt): about 2 ms a request, a few thousand requests, over a few
keep-alive connections at once.

User ``i`` is member ``i % members`` of room ``i // members``, the room its connection
enters (bench/loadgen.c's ``rooms`` mode numbers connections the same way); member ``j``
of room ``k`` also joins rooms ``k + 1 + (j + n * members) % (rooms - 1)`` (mod
`rooms`) for ``n < others``: with 50 rooms of 20 and two others, every room has its 20
members in it and 40 more elsewhere, each user's other rooms spread over the rest.
"""

from __future__ import annotations

import http.client
import json
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor

#: Requests at once (the server has one core; a few keep its bcrypt threads busy).
THREADS = 4


class _Client:
    """One keep-alive HTTP connection per thread, reopened if the server closed it."""

    def __init__(self, port: int) -> None:
        self._port = port
        self._local = threading.local()

    def call(
        self, method: str, path: str, body: dict, token: str | None = None
    ) -> tuple[int, dict]:
        headers = {"Content-Type": "application/json"}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        for attempt in (1, 2):
            conn = getattr(self._local, "conn", None)
            if conn is None:
                conn = self._local.conn = http.client.HTTPConnection(
                    "127.0.0.1", self._port, timeout=30
                )
            try:
                conn.request(method, path, body=json.dumps(body), headers=headers)
                response = conn.getresponse()
                return response.status, json.loads(response.read() or b"{}")
            except (http.client.HTTPException, ConnectionError):
                conn.close()
                self._local.conn = None
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")


def call(port: int, method: str, path: str, body: dict, token: str) -> tuple[int, dict]:
    """One request on a connection of its own: its status and JSON body."""
    return _Client(port).call(method, path, body, token)


def _each(work: Callable[[int], object], items: Iterable[int]) -> list:
    with ThreadPoolExecutor(THREADS) as pool:
        return list(pool.map(work, items))


def other_rooms(room: int, member: int, rooms: int, members: int, others: int) -> set[int]:
    """The rooms member `member` of room `room` joins besides it."""
    if rooms < 2:
        return set()
    return {(room + 1 + (member + n * members) % (rooms - 1)) % rooms for n in range(others)}


def populate(
    port: int, rooms: int, members: int, others: int, prefix: str, password: str
) -> tuple[list[str], list[int]]:
    """Make the users, rooms (named `prefix`-k) and memberships; return every user's
    token, in connection order, and the rooms' ids."""
    client = _Client(port)

    def token(i: int) -> str:
        name = f"member{i}"
        status, body = client.call("POST", "/api/reg", {"username": name, "password": password})
        if status == 409:  # registered by an earlier scenario on this database
            status, body = client.call("POST", "/auth", {"name": name, "password": password})
        if "token" not in body:
            raise RuntimeError(f"could not get a token for {name}: {status} {body}")
        return str(body["token"])

    tokens = _each(token, range(rooms * members))

    def create(k: int) -> int:
        status, body = client.call(
            "POST",
            "/create-room",
            {"Name": f"{prefix}-{k}", "IsPrivate": False},
            tokens[k * members],
        )
        if status != 201:
            raise RuntimeError(f"could not create room {prefix}-{k}: {status} {body}")
        return int(body["RoomID"])

    room_ids = _each(create, range(rooms))

    def join(i: int) -> None:
        room, member = divmod(i, members)
        wanted = other_rooms(room, member, rooms, members, others)
        if member:
            wanted.add(room)  # the first member created it
        for k in sorted(wanted):
            status, body = client.call("PUT", "/join", {"RoomID": room_ids[k]}, tokens[i])
            if status != 200:
                raise RuntimeError(f"member{i} could not join {prefix}-{k}: {status} {body}")

    _each(join, range(rooms * members))
    return tokens, room_ids
