"""What one simulated teammate does in bench/team_day.py, and how long each thing takes.

The mix is Mattermost's: its load-test agent (mattermost-load-test-ng, the
"simulative" controller, `loadtest/control/simulcontroller`) picks each next action at
random with fixed relative frequencies measured on customers' servers, and waits
between two actions a think time drawn uniformly from [MinIdleTimeMs, 2 AvgIdleTimeMs -
MinIdleTimeMs), 1 s and 20 s on average by default. Each action here is what chat's
browser client does for the same thing (chat/static/), and its latency runs until
the answer, or the user's own copy, arrives:

- switch (SwitchChannel 6.52 + OpenDirectOrGroupChannel 0.98: 7.50): `read` of the
  room left, `enter` with presence as lists and the room's newest 50 messages
  (`"Page": 50`); done at `entered`, which carries the page. With `page_over_http` (as
  before `entered` carried it): `enter`, then `GET /messages/{room}?limit=50`; done at
  the page.
- scroll (ScrollChannel 1.99): `GET /messages/{room}?limit=50&last_id=` the oldest shown.
- unread (UnreadCheck 1.00): `GET /rooms/unread`.
- post (CreatePost 1.00): `message` with a `ClientMsgID` (a reply one time in five, a
  mention one in fifty); done at its own copy.
- type (1.00, the composer's notice before each post): `typing`, then `ping`; done at
  `pong`, which comes once the typing frame was handled (typing has no answer).
- read (UpdateThreadRead 0.32): `read` of the newest message seen; done at `read`.
- open (ClickPermalink 0.30): `GET /messages/{room}?around=` a message shown.
- react (AddReaction 0.13): `react` to a message shown; done at its `reactions` frame
  naming this user.
- edit (EditPost 0.04): `edit` of one's own message in the room; done at `edited`.
- people (SearchUsers 0.03): `GET /users?prefix=`.
- search (SearchPosts 0.02): `GET /search?q=` a word.

Left out: Mattermost's threads (ViewGlobalThreads 0.60, ViewThread 0.28; chat has
replies, not threads), reconnections (0.14), deletions, statuses and sidebar
categories (each under 0.01). A user also "connects" once when it joins the run: the
WebSocket opened, its first room entered and its page read (`connect`).
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import trio
from team_day_clients import HandshakeError, HttpError, HttpPool, Socket
from team_day_team import SEARCH_WORDS, WORDS

from chat.core.validation import reaction

#: (action, relative frequency): Mattermost's weights, as the module docstring says.
MIX: list[tuple[str, float]] = [
    ("switch", 7.50),
    ("scroll", 1.99),
    ("unread", 1.00),
    ("post", 1.00),
    ("type", 1.00),
    ("read", 0.32),
    ("open", 0.30),
    ("react", 0.13),
    ("edit", 0.04),
    ("people", 0.03),
    ("search", 0.02),
]
ACTIONS = ["connect", *(name for name, _ in MIX)]
#: Mattermost's default think times (SimulController's MinIdleTimeMs, AvgIdleTimeMs).
THINK_MIN_S, THINK_MEAN_S = 1.0, 20.0
#: An action not answered in this time is an error (and the user goes on).
ACTION_TIMEOUT_S = 10.0
#: The browser client's page of history (HISTORY_PAGE in chat/static/timeline.js).
PAGE = 50
#: Frames no action waits for, recognised by their first bytes and never decoded: the
#: generator's CPU goes to the frames that answer (at thousands of users, a room's
#: presence changes reach hundreds of connections a second).
PASSED_OVER = (
    b'{"Type":"presence',  # "presence", "presence-list", "presence-changes"
    b'{"Type":"activity"',
    b'{"Type":"typing"',
)
#: How long an idle user's reader waits between two reads of its socket (`_pause`).
IDLE_READ_S = 0.5
#: How a room's message frame begins: its id, then its room (chat.core.shapes.room_message).
MESSAGE_HEAD = '{"Type":"message","MessageID":'
#: Error messages kept per window, as examples (every error is counted).
MAX_ERROR_SAMPLES = 100
EMOJI = ("👍", "🎉", "❤️", ":eyes:", ":+1:", "😄")
#: Each as the server counts it and frames it: a known shortcode becomes its emoji.
COUNTED_AS = {emoji: reaction(emoji) for emoji in EMOJI}


class ActionError(Exception):
    """An action failed: an error frame or status, a timeout, a lost connection."""


@dataclass
class Stats:
    """Every action's latency (seconds) and errors, as they are recorded; `take` hands
    them over and starts afresh (one window of the ramp)."""

    latencies: dict[str, list[float]] = field(default_factory=lambda: {a: [] for a in ACTIONS})
    errors: dict[str, int] = field(default_factory=lambda: dict.fromkeys([*ACTIONS, "unasked"], 0))
    error_samples: list[str] = field(default_factory=list)
    frames: int = 0  # frames received, all kinds
    skipped: int = 0  # actions with nothing to act on (an edit with no own message)

    def take(self) -> Stats:
        taken = Stats(self.latencies, self.errors, self.error_samples, self.frames, self.skipped)
        fresh = Stats()
        self.latencies, self.errors, self.error_samples = (
            fresh.latencies,
            fresh.errors,
            fresh.error_samples,
        )
        self.frames = self.skipped = 0
        return taken


def pick_action(rng: random.Random, mix: list[tuple[str, float]] = MIX) -> str:
    """The next action, drawn with `mix`'s weights."""
    return rng.choices([name for name, _ in mix], weights=[w for _, w in mix])[0]


def think_time(rng: random.Random, low: float, mean: float) -> float:
    """Uniform over [low, 2 mean - low): Mattermost's PickIdleTimeMs, mean `mean`."""
    return rng.uniform(low, 2 * mean - low)


class ReadTicker:
    """Wakes the idle users' readers together every `IDLE_READ_S` (`Teammate._pause`):
    one timer for all of them, where a timeout each (thousands a second) cost the
    generator more than reading the frames. Runs in the generator's nursery."""

    def __init__(self) -> None:
        self._waiting: set[trio.Event] = set()

    async def wait(self, event: trio.Event) -> None:
        """Until the next tick, or until `event` is set (an action started)."""
        self._waiting.add(event)
        try:
            await event.wait()
        finally:
            self._waiting.discard(event)

    async def run(self) -> None:
        """Tick until cancelled."""
        while True:
            await trio.sleep(IDLE_READ_S)
            waiting, self._waiting = self._waiting, set()
            for event in waiting:
                event.set()


class Teammate:
    """One simulated user: a `/ws` connection held for the run, HTTP requests through the
    generator's shared client, and one action at a time.

    The reader task (`read_frames`) hands every frame to `_on_frame`; the action being
    played waits for the frame that answers it with `_expect`. Frames nobody waits for
    are counted and, for the room shown, remembered (its newest messages, to react to,
    open and mark read): presence, typing and activity frames are recognised by their
    first bytes and never parsed, which keeps the generator's CPU per frame small."""

    def __init__(
        self,
        index: int,
        uid: int,
        name: str,
        token: str,
        rooms: list[int],
        http: HttpPool,
        stats: Stats,
        rng: random.Random,
        ticker: ReadTicker | None = None,
        *,
        page_over_http: bool = False,
    ) -> None:
        self.index, self.uid, self.name, self.token = index, uid, name, token
        #: Switch in two round trips (enter, then GET the page) instead of one.
        self.page_over_http = page_over_http
        #: Paces an idle user's reads of its socket (None: every frame read at once).
        self.ticker = ticker
        self.rooms, self.http, self.stats, self.rng = rooms, http, stats, rng
        self.headers = f"Authorization: Bearer {token}\r\n"
        self.socket: Socket | None = None
        self.room = 0  # the room shown (entered)
        self.shown: list[int] = []  # ids of the messages shown, oldest first (at most 2 pages)
        self.oldest = 0  # where scrolling back goes on from
        self.own: dict[int, list[int]] = {}  # room -> ids of this user's messages there
        self.sent = 0
        self._want: Callable[[str, Any], bool] | None = None
        self._acting = trio.Event()  # set when an action starts: wakes a pausing reader
        self._answered = trio.Event()
        self._error: str | None = None
        self._answer_frame: Any = None
        self.scope = trio.CancelScope()  # cancelled when the user leaves the run

    # --- frames ---

    async def read_frames(self) -> None:
        """Read the connection's frames until it closes. Runs until cancelled."""
        assert self.socket is not None
        async for text in self.socket.texts(PASSED_OVER, self._pause):
            self.stats.frames += 1
            self._on_frame(text)
        if self._want is not None:
            self._error = "connection closed"
            self._answered.set()

    async def _pause(self) -> None:
        """Between two reads of an idle user's socket, wait for the next tick of the
        generator's `ReadTicker` (every `IDLE_READ_S`), or an action starting: the frames
        that arrive meanwhile come in one read, one wake-up of this process instead of
        one per frame. The server writes each frame as it would (the kernel holds them);
        only this process's own cost changes, which at thousands of users set the
        ceiling instead of the server."""
        if self._want is None and self.ticker is not None:
            self._acting = trio.Event()
            await self.ticker.wait(self._acting)

    def _on_frame(self, text: str) -> None:
        if text == "pong":
            self._answer(text, None)
            return
        if self._want is None and text.startswith(MESSAGE_HEAD):
            # Nobody waits for an answer: only the message's id and room matter, and
            # they come first (chat.core.shapes.room_message): read without decoding the rest,
            # which at thousands of users was a fifth of the generator's CPU.
            message_id, _, rest = text[len(MESSAGE_HEAD) : len(MESSAGE_HEAD) + 48].partition(
                ',"RoomID":'
            )
            if int(rest.partition(",")[0]) == self.room:
                self.shown.append(int(message_id))
                del self.shown[: -2 * PAGE]
            return
        frame = json.loads(text)
        kind = frame.get("Type")
        if kind == "message" and frame.get("RoomID") == self.room:
            self.shown.append(frame["MessageID"])
            del self.shown[: -2 * PAGE]
        elif kind == "error":
            if self._want is not None:
                self._error = frame.get("Error", "error")
                self._answered.set()
            else:  # the answer to a frame nobody waits for (the read sent on leaving)
                self.stats.errors["unasked"] += 1
                if len(self.stats.error_samples) < MAX_ERROR_SAMPLES:
                    self.stats.error_samples.append(text[:200])
            return
        self._answer(kind, frame)

    def _answer(self, kind: str | None, frame: Any) -> None:
        if self._want is not None and self._want(kind or "", frame):
            self._answer_frame = frame
            self._want = None  # one answer: later frames are not it
            self._answered.set()

    async def _expect(self, send: str, want: Callable[[str, Any], bool]) -> Any:
        """Send `send` and wait for the frame `want` accepts (or an error frame); the
        frame."""
        assert self.socket is not None
        self._want, self._answered, self._error = want, trio.Event(), None
        self._answer_frame = None
        self._acting.set()  # the reader reads at once from now on
        try:
            await self.socket.send_text(send)
            await self._answered.wait()
        finally:
            self._want = None
        if self._error is not None:
            raise ActionError(self._error)
        return self._answer_frame

    # --- HTTP ---

    async def _get(self, path: str) -> Any:
        try:
            status, body = await self.http.get(path, self.headers)
        except HttpError as error:
            raise ActionError(str(error)) from None
        if status != 200:
            raise ActionError(f"GET {path}: {status} {body[:200]!r}")
        return json.loads(body)

    def _page(self, page: list[dict[str, Any]]) -> None:
        """A history page (newest first) is now what is shown."""
        self.shown = [m["MessageID"] for m in reversed(page)]
        self.oldest = self.shown[0] if self.shown else 0

    # --- the actions ---

    async def connect(self, host: str, port: int) -> None:
        """Open the WebSocket (the caller starts `read_frames`), then enter a room."""
        try:
            self.socket = await Socket.connect(host, port, f"/ws?token={self.token}")
        except (OSError, HandshakeError, trio.BrokenResourceError) as error:
            raise ActionError(f"connect: {error!r}") from None

    async def enter(self, room: int) -> None:
        """Enter `room` and read its newest page (what switching to it shows)."""
        if self.room and self.shown:
            await self._send({"Type": "read", "RoomID": self.room, "MessageID": self.shown[-1]})
        self.room, self.shown = room, []
        frame: dict[str, Any] = {"Type": "enter", "RoomID": room, "Presence": "list"}
        if not self.page_over_http:
            frame["Page"] = PAGE
        entered = await self._expect(
            json.dumps(frame), lambda kind, answer: kind == "entered" and answer["RoomID"] == room
        )
        if self.page_over_http:
            self._page(await self._get(f"/messages/{room}?limit={PAGE}"))
        else:
            self._page(entered["Messages"])

    async def _send(self, frame: dict[str, Any]) -> None:
        assert self.socket is not None
        await self.socket.send_text(json.dumps(frame))

    async def play(self, action: str) -> bool:
        """Play `action`; False if there was nothing to play it on (not timed)."""
        if action == "switch":
            others = [r for r in self.rooms if r != self.room]
            await self.enter(self.rng.choice(others))
        elif action == "scroll":
            if not self.oldest:
                return False
            page = await self._get(f"/messages/{self.room}?limit={PAGE}&last_id={self.oldest}")
            self.oldest = page[-1]["MessageID"] if page else 0
        elif action == "unread":
            await self._get("/rooms/unread")
        elif action == "post":
            await self._post()
        elif action == "type":
            await self._send({"Type": "typing"})
            await self._expect("ping", lambda kind, _frame: kind == "pong")
        elif action == "read":
            if not self.shown:
                return False
            newest, room = self.shown[-1], self.room
            await self._expect(
                json.dumps({"Type": "read", "RoomID": room, "MessageID": newest}),
                lambda kind, f: kind == "read" and f["RoomID"] == room and f["MessageID"] >= newest,
            )
        elif action == "open":
            if not self.shown:
                return False
            target = self.rng.choice(self.shown)
            await self._get(f"/messages/{self.room}?around={target}&limit={PAGE}")
        elif action == "react":
            if not self.shown:
                return False
            await self._react(self.rng.choice(self.shown[-PAGE:]))
        elif action == "edit":
            own = self.own.get(self.room)
            if not own:
                return False
            await self._edit(self.rng.choice(own))
        elif action == "people":
            prefix = f"teammate{self.rng.randrange(100)}"
            await self._get(f"/users?prefix={prefix}")
        elif action == "search":
            await self._get(f"/search?q={self.rng.choice(SEARCH_WORDS)}")
        return True

    async def _post(self) -> None:
        self.sent += 1
        client_id = f"u{self.index}-{self.sent}"
        words = self.rng.choices(WORDS, k=self.rng.randint(1, 69))  # 35 on average
        frame: dict[str, Any] = {
            "Type": "message",
            "Text": " ".join(words),
            "ClientMsgID": client_id,
        }
        if self.shown and self.rng.random() < 0.2:
            frame["ReplyTo"] = self.rng.choice(self.shown)
        if self.rng.random() < 0.02:
            frame["Text"] += f" @teammate{self.rng.randrange(100)}"
        room = self.room
        echo = await self._expect(
            json.dumps(frame),
            lambda kind, f: kind == "message" and f.get("ClientMsgID") == client_id,
        )
        own = self.own.setdefault(room, [])
        own.append(echo["MessageID"])
        del own[:-10]  # the latest ten: the ones a person would still fix

    async def _react(self, message_id: int) -> None:
        emoji, uid = self.rng.choice(EMOJI), self.uid
        counted = COUNTED_AS[emoji]

        def mine(kind: str, frame: Any) -> bool:
            # The frame of this change (or, if this user had reacted so already, the
            # one showing the message as it is): this user among the emoji's reactors.
            return (
                kind == "reactions"
                and frame["MessageID"] == message_id
                and any(r["Emoji"] == counted and uid in r["UIDs"] for r in frame["Reactions"])
            )

        await self._expect(
            json.dumps({"Type": "react", "MessageID": message_id, "Emoji": emoji}), mine
        )

    async def _edit(self, message_id: int) -> None:
        text = " ".join(self.rng.choices(WORDS, k=self.rng.randint(3, 30))) + " (edited)"
        await self._expect(
            json.dumps({"Type": "edit", "MessageID": message_id, "Text": text}),
            lambda kind, f: kind == "edited" and f["MessageID"] == message_id and f["Text"] == text,
        )


def percentile(samples: list[float], fraction: float) -> float:
    """The `fraction` quantile of `samples` (nearest rank); NaN for none."""
    if not samples:
        return math.nan
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(fraction * len(ordered)) - 1))]
