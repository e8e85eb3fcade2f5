"""What the chat core needs from a database, as a few roles by concern (a module per
group of them: accounts, rooms, messages; the database's operations and `Store` here).

Each component depends on the roles it uses (`MessageWriter` on `Messages`, the
revocation sweep on `Accounts`, the health probe on `Operations`), so a fast test of a
component needs a fake of its roles only (tests/memory_messages.py). `Store` is every
role at once: what `chat.store.database_store.DatabaseStore` implements, on either
engine, and what the wiring (chat/server/serving.py, chat/server/cli.py) opens.

Cancellation: every method is safe to cancel. A write is one transaction that has either
committed or not when the cancellation arrives; the connection goes back to its pool in
a usable state either way.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from chat.core.records import PoolUsage
from chat.store.roles.accounts import (
    AccountData,
    Accounts,
    ApiTokens,
    Bots,
    Invites,
    OidcLinks,
    Push,
    Sessions,
    Statuses,
    TwoFactor,
)
from chat.store.roles.administration import Administration
from chat.store.roles.email import Email
from chat.store.roles.messages import (
    Changes,
    Files,
    History,
    LinkPreviews,
    Messages,
    Notifications,
    Pins,
    Retention,
    Saved,
    Search,
    Threads,
)
from chat.store.roles.rooms import (
    DirectGroups,
    IncomingWebhooks,
    Moderation,
    Reports,
    RoomCommandRegistrations,
    RoomLifecycle,
    Rooms,
    Support,
)

if TYPE_CHECKING:
    from chat.core.observer import Observer

__all__ = [
    "AccountData",
    "Accounts",
    "Administration",
    "ApiTokens",
    "Bots",
    "Changes",
    "DirectGroups",
    "Email",
    "Files",
    "History",
    "IncomingWebhooks",
    "Invites",
    "LinkPreviews",
    "Messages",
    "Moderation",
    "Notifications",
    "OidcLinks",
    "Operations",
    "Pins",
    "Push",
    "Reports",
    "Retention",
    "RoomCommandRegistrations",
    "RoomLifecycle",
    "Rooms",
    "Saved",
    "Search",
    "Sessions",
    "Statuses",
    "Store",
    "Support",
    "Threads",
    "TwoFactor",
]


class Operations(Protocol):
    """Running the database: its health, how busy its connections are, and how long
    history queries take."""

    #: Observes the latency of each history query (`History.messages_before`); the
    #: metrics set it (`chat.app.metrics.Metrics.collect_from`).
    history_seconds: Observer | None

    def pool_usage(self) -> PoolUsage:
        """How many of its connections are in use now. Never waits."""

    async def ping(self) -> None:
        """Return when the database answers a trivial query; raise otherwise."""


class Store(
    Accounts,
    Email,
    AccountData,
    Administration,
    Sessions,
    ApiTokens,
    TwoFactor,
    OidcLinks,
    Bots,
    Invites,
    Rooms,
    IncomingWebhooks,
    RoomCommandRegistrations,
    DirectGroups,
    Support,
    Messages,
    History,
    Changes,
    Pins,
    LinkPreviews,
    Threads,
    Search,
    Operations,
    Push,
    Files,
    Moderation,
    RoomLifecycle,
    Reports,
    Retention,
    Saved,
    Statuses,
    Protocol,
):
    """Every role: what each backend implements, and what the wiring opens."""
