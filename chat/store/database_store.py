"""`DatabaseStore`: every role on one database, SQLite's or PostgreSQL's: one mixin per
concern, each written once over `chat.store.database` (and `Operations` from
`StoreBase`). The engines open it (`chat.store.sqlite.opening`,
`chat.store.postgres.opening`) with their `Database`."""

from __future__ import annotations

from chat.store.account_data import StoredAccountData
from chat.store.accounts import StoredAccounts
from chat.store.administration import StoredAdministration
from chat.store.api_tokens import StoredApiTokens
from chat.store.bots import StoredBots
from chat.store.changes import StoredChanges
from chat.store.direct_groups import StoredDirectGroups
from chat.store.email import StoredEmail
from chat.store.files import StoredFiles
from chat.store.incoming_webhooks import StoredIncomingWebhooks
from chat.store.invites import StoredInvites
from chat.store.link_previews import StoredLinkPreviews
from chat.store.login_addresses import StoredLoginAddresses
from chat.store.mentions import StoredMentions
from chat.store.messages import StoredMessages
from chat.store.moderation import StoredModeration
from chat.store.oidc import StoredOidc
from chat.store.pins import StoredPins
from chat.store.profiles import StoredProfiles
from chat.store.push import StoredPush
from chat.store.reports import StoredReports
from chat.store.retention import StoredRetention
from chat.store.room_commands import StoredRoomCommands
from chat.store.room_lifecycle import StoredRoomLifecycle
from chat.store.rooms import StoredRooms
from chat.store.saved_messages import StoredSaved
from chat.store.search import StoredSearch
from chat.store.sessions import StoredSessions
from chat.store.statuses import StoredStatuses
from chat.store.support import StoredSupport
from chat.store.threads import StoredThreads
from chat.store.two_factor import StoredTwoFactor


class DatabaseStore(
    StoredAccounts,
    StoredEmail,
    StoredProfiles,
    StoredLoginAddresses,
    StoredAccountData,
    StoredAdministration,
    StoredSessions,
    StoredApiTokens,
    StoredTwoFactor,
    StoredOidc,
    StoredBots,
    StoredInvites,
    StoredIncomingWebhooks,
    StoredPush,
    StoredRooms,
    StoredRoomCommands,
    StoredDirectGroups,
    StoredMentions,
    StoredSupport,
    StoredModeration,
    StoredRoomLifecycle,
    StoredReports,
    StoredMessages,
    StoredChanges,
    StoredPins,
    StoredLinkPreviews,
    StoredThreads,
    StoredSearch,
    StoredFiles,
    StoredRetention,
    StoredSaved,
    StoredStatuses,
):
    """`chat.store.roles.Store` on a `chat.store.database.Database`."""
