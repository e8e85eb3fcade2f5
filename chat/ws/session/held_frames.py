"""A subscription held back: live frames kept, in order, while a dialect first sends
what the client missed (a resume), so that nothing overtakes the backlog
(`ClientSession.subscribe(..., hold=True)`, then `ClientSession.release`)."""

from __future__ import annotations

from typing import Protocol


class Sink(Protocol):
    """Where held frames go once released (`chat.ws.session.outbox.Outbox`)."""

    async def send(self, data: bytes) -> None: ...


class HoldingSession(Protocol):
    """What held frames ask of their session (`chat.ws.session.client_session.ClientSession`)."""

    @property
    def id(self) -> int: ...

    @property
    def closing(self) -> bool: ...

    @property
    def evicted(self) -> bool: ...

    @property
    def queue_size(self) -> int: ...

    def evict_slow_consumer(self) -> None: ...


class HeldFrames:
    """Stands in for a session in a subscription that is not live yet: it keeps the
    frames the broadcaster offers until the session releases them. Past the session's
    queue size it evicts the session, as a full outbox would."""

    __slots__ = ("frames", "id", "session")

    def __init__(self, session: HoldingSession) -> None:
        self.session = session
        self.id = session.id  # so the broadcaster's `skip` still recognises the client
        self.frames: list[bytes] = []

    def offer(self, data: bytes) -> bool:
        session = self.session
        if session.evicted or session.closing:
            return False
        if len(self.frames) >= session.queue_size:
            session.evict_slow_consumer()
            return False
        self.frames.append(data)
        return True

    async def flush(self, sink: Sink) -> None:
        """Send what was kept to `sink`, in order, including what is offered meanwhile,
        and return once nothing is kept (no await after that check: the caller makes
        the subscription live before anything more can be offered here). Cancelled (the
        session is ending), a batch taken and not yet queued is dropped with it."""
        while self.frames:
            frames, self.frames = self.frames, []
            await sink.send(b"".join(frames))
