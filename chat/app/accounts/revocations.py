"""Closing the WebSocket sessions of revoked tokens, on every instance.

A password change (``PUT /password``) or ``POST /logout-everywhere`` raises the user's token
version (``users.token_version``), and `ChatService.identify` refuses every token issued
with an older one from then on. That stops new requests, not the sessions such a token
already opened: this module closes those (1008, "token has been revoked") within seconds,
on this instance and every other. An erased account's sessions are closed the same way with
the reason "account deleted": its tokens are revoked first, while its row still stands
(`chat.app.accounts.data`), so the erasing instance says so, to its own sweep and in the
bus event (`account_deleted`); a sweep that finds the row gone says so too. An account an
operator deactivated has its tokens revoked the same way, and every session of its, its
personal access tokens' included, is closed with "account deactivated".

The table is the truth; the bus only wakes. As with messages (docs/DESIGN.md, "Several
instances"), nothing about a revocation travels but a wake-up. `Revocations.run` reads the
current token version of every user with an open session here, in one query, and closes
each session whose identity is older, or whose user no longer exists. It sweeps when
woken (at once after a revocation on this instance; when another instance's
``tokens-revoked`` event arrives over the bus) and every `period` seconds anyway. One
browser session ended (``DELETE /sessions/{id}``) closes the connections it opened (their
identity names it): at once here, at once on every instance that hears the event (which
names the session), and at the next sweep anyway, which asks the table which of the open
connections' sessions have ended. A personal access token revoked (``DELETE /tokens/{id}``)
closes the connections it opened the same way (`token_revoked`; the sweep asks which of
their tokens still stand); a password change leaves those connections open. So a lost
event (a bus reconnecting, an instance that died between its commit and its event, a
version changed by hand in the database) costs at most one period, never a session left
open.

Ownership: the registry (the open sessions, by user id) belongs to the `Revocations`
object. A session is in it from the moment it has an identity until it ends: the WebSocket
server files it before its session runs and unfiles it however it ends (`file`/`unfile`,
the `chat.ws.session.contracts.Registry` protocol). Only synchronous methods change it, so no
lock is needed; the sweep notes which users to ask about, awaits the one query, and then
closes sessions without awaiting again. `run` is a child of the root nursery
(`chat.server.serving.serve`); it holds no resources, so cancelling it leaves nothing behind.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any, NoReturn, Protocol

import trio

from chat.app.accounts.sessions import SESSION_ENDED
from chat.bus.interface import tell_others
from chat.core.errors import ACCOUNT_DEACTIVATED, Unavailable
from chat.core.frames import CLOSE_POLICY_VIOLATION
from chat.core.task_failures import TaskFailures

if TYPE_CHECKING:
    from chat.bus.interface import Bus
    from chat.core.records import Identity
    from chat.store import Accounts, ApiTokens, Sessions

    class RevocationStore(Accounts, Sessions, ApiTokens, Protocol):
        """The roles the sweep reads."""


log = logging.getLogger(__name__)

#: The type of the bus event that tells other instances to sweep
#: (`chat.bus.interface.route_events`).
TOKENS_REVOKED = "tokens-revoked"
#: Why a token or a session was refused: the HTTP 401's error, the close frame's reason.
TOKEN_REVOKED = "token has been revoked"
ACCOUNT_DELETED = "account deleted"
#: How long a sweep remembers that a user's tokens were revoked by an erasure: long enough
#: for every instance to have swept after it (the periodic sweep included), then the row
#: is gone anyway.
DELETED_MEMORY_S = 60.0


class Session(Protocol):
    """What the registry needs of a WebSocket session
    (`chat.ws.session.client_session.ClientSession`)."""

    identity: Identity | None

    def close_nowait(self, code: int, reason: str) -> None: ...


class Revocations:
    """The registry of open sessions by user, and the sweep that closes revoked ones."""

    def __init__(
        self,
        store: RevocationStore,
        bus: Bus,
        *,
        period: float,
        failures: TaskFailures | None = None,
    ) -> None:
        self._store = store
        self._failures = failures or TaskFailures()
        self._bus = bus
        self._period = period
        self._sessions: dict[int, set[Session]] = {}
        self._filed_under: dict[Session, int] = {}  # each session's key in `_sessions`
        self._woken = trio.Event()
        # Users whose tokens an erasure revoked, and when we heard (`account_deleted`).
        self._deleted: dict[int, float] = {}

    # --- the registry ---

    # `chat.ws.session.contracts.Registry`: a session is filed under its user while it has an
    # identity, refiled when it authenticates as someone else, unfiled when it ends.

    def file(self, session: Session) -> None:
        if session.identity is not None:
            self._file(session)

    def refile(self, session: Session, before: Identity | None) -> None:
        self._file(session)

    def _file(self, session: Session) -> None:
        assert session.identity is not None
        self.unfile(session)
        user_id = session.identity.user_id
        self._sessions.setdefault(user_id, set()).add(session)
        self._filed_under[session] = user_id

    def unfile(self, session: Session) -> None:
        user_id = self._filed_under.pop(session, None)
        if user_id is None:
            return
        sessions = self._sessions[user_id]
        sessions.discard(session)
        if not sessions:
            del self._sessions[user_id]

    # --- waking the sweep ---

    def wake(self) -> None:
        """Sweep now rather than at the end of the period. Never waits."""
        self._woken.set()

    def on_event(self, event: dict[str, Any]) -> None:
        """A ``tokens-revoked`` event from another instance: sweep now. The event says whose
        tokens, and whether an erasure revoked them (the close reason); the sweep reads
        everything else it needs from the table."""
        user_id = event.get("user_id")
        if event.get("deleted") is True and type(user_id) is int:
            self._deleted[user_id] = trio.current_time()
        session_id = event.get("session")
        if type(user_id) is int and type(session_id) is str:
            self._close_session(user_id, session_id)
            return
        token_id = event.get("token")
        if type(user_id) is int and type(token_id) is str:
            self._close_token(user_id, token_id)
            return
        self.wake()

    async def revoked(self, user_id: int) -> None:
        """`user_id`'s tokens were just revoked (committed) here: sweep this instance now,
        and tell the others. If the bus cannot take the news (Redis is down, say), they
        find out at their next periodic sweep; the request that revoked does not fail."""
        await self._tell(user_id, deleted=False)

    async def session_ended(self, user_id: int, session_id: str) -> None:
        """One browser session of `user_id`'s was just ended (committed) here: close the
        WebSockets it opened, here at once and on the other instances as soon as they
        hear (or at their next periodic sweep, which asks the table)."""
        self._close_session(user_id, session_id)
        event = {"type": TOKENS_REVOKED, "user_id": user_id, "session": session_id}
        await tell_others(self._bus, event, what=f"end of a session of user {user_id}")

    async def token_revoked(self, user_id: int, token_id: str) -> None:
        """A personal access token of `user_id`'s was just revoked (committed) here: close
        the WebSockets it opened, here at once and on the other instances as soon as they
        hear (or at their next periodic sweep, which asks the table)."""
        self._close_token(user_id, token_id)
        event = {"type": TOKENS_REVOKED, "user_id": user_id, "token": token_id}
        await tell_others(self._bus, event, what=f"revocation of a token of user {user_id}")

    def _close_token(self, user_id: int, token_id: str) -> None:
        for session in list(self._sessions.get(user_id, ())):
            assert session.identity is not None
            if session.identity.token_id == token_id:
                session.close_nowait(CLOSE_POLICY_VIOLATION, TOKEN_REVOKED)

    def _close_session(self, user_id: int, session_id: str) -> None:
        for session in list(self._sessions.get(user_id, ())):
            assert session.identity is not None
            if session.identity.session_id == session_id:
                session.close_nowait(CLOSE_POLICY_VIOLATION, SESSION_ENDED)

    async def account_deleted(self, user_id: int) -> None:
        """Like `revoked`, for an erasure: its sessions, here and on the other instances,
        are closed with "account deleted" (the row is erased only after this)."""
        self._deleted[user_id] = trio.current_time()
        await self._tell(user_id, deleted=True)

    async def _tell(self, user_id: int, *, deleted: bool) -> None:
        self.wake()
        event: dict[str, Any] = {"type": TOKENS_REVOKED, "user_id": user_id}
        if deleted:
            event["deleted"] = True
        await tell_others(self._bus, event, what=f"revocation of user {user_id}")

    # --- the sweep ---

    async def run(
        self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> NoReturn:
        """Sweep whenever woken, and every `period` seconds anyway. Runs until cancelled."""
        task_status.started()
        while True:
            with trio.move_on_after(self._period):
                await self._woken.wait()
            # Replaced before sweeping: a wake-up that comes while the query runs may be
            # for a revocation that committed after the query read the table, so it must
            # trigger another sweep.
            self._woken = trio.Event()
            with self._failures.contained("revocations", "a sweep for revoked tokens"):
                await self._sweep()

    async def _sweep(self) -> None:
        """Close every session whose token version is older than its user's, or whose
        user is gone or deactivated (personal access tokens' sessions too)."""
        now = trio.current_time()
        for user_id, heard in list(self._deleted.items()):
            if now - heard > DELETED_MEMORY_S:
                del self._deleted[user_id]
        user_ids = list(self._sessions)
        if not user_ids:
            return
        session_ids = {
            session.identity.session_id
            for user_id in user_ids
            for session in self._sessions.get(user_id, ())
            if session.identity is not None and session.identity.session_id is not None
        }
        token_ids = {
            session.identity.token_id
            for user_id in user_ids
            for session in self._sessions.get(user_id, ())
            if session.identity is not None and session.identity.token_id is not None
        }
        try:
            states = await self._store.token_states(user_ids)
            ended = (
                await self._store.ended_sessions(session_ids, now=int(time.time()))
                if session_ids
                else set()
            )
            standing = (
                await self._store.standing_api_tokens(token_ids, now=int(time.time()))
                if token_ids
                else set()
            )
        except Unavailable as error:
            log.warning(
                "cannot check for revoked tokens (retrying in %s s): %s", self._period, error
            )
            return
        # Sessions filed while the query ran are judged by the same answer: one with a
        # newer version than it read (it authenticated after a revocation) is left alone,
        # since only an *older* version is revoked; users not asked about are skipped.
        for user_id in user_ids:
            state = states.get(user_id)
            for session in list(self._sessions.get(user_id, ())):
                assert session.identity is not None
                token_id = session.identity.token_id
                if state is None:
                    session.close_nowait(CLOSE_POLICY_VIOLATION, ACCOUNT_DELETED)
                elif not state.active:
                    session.close_nowait(CLOSE_POLICY_VIOLATION, ACCOUNT_DEACTIVATED)
                elif token_id is not None:
                    # A personal access token outlives a password change: only its own
                    # revocation (or expiry) ends it.
                    if token_id not in standing:
                        session.close_nowait(CLOSE_POLICY_VIOLATION, TOKEN_REVOKED)
                elif session.identity.token_version < state.version:
                    reason = ACCOUNT_DELETED if user_id in self._deleted else TOKEN_REVOKED
                    session.close_nowait(CLOSE_POLICY_VIOLATION, reason)
                elif session.identity.session_id in ended:
                    session.close_nowait(CLOSE_POLICY_VIOLATION, SESSION_ENDED)
