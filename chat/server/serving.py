"""`serve`: the one place where the whole server is wired together.

The task tree, a line each (docs/DESIGN.md draws it, with what each task owns):

    serve                      owns the store and the file storage; drains, then cancels `tree`
    └── root nursery           in `tree`, shielded from serve's own cancellation once started
        ├── Broadcaster.run        fan-out; owns the subscription map
        ├── MessageWriter.run      commits this instance's messages, takes the others', publishes
        ├── ThreadSummaries.run    counts stored replies into their threads' summaries
        ├── LinkPreviewer.run      previews the links of the messages this instance stored
        ├── Bus.run                owns the bus connections; wakes the writer, routes events
        ├── Carrier.run            sends what this instance commits to the others
        ├── RateLimits.run         tells the other instances what this one counted
        ├── Presence.run           tells the other instances who is online here
        ├── Presence.announce      tells rooms of presence changes, at most 4 a second
        ├── Activity.run           activity frames for users' other rooms (+ two loaders)
        ├── Pusher.run             Web Push, once per cluster (+ a nursery of deliveries)
        ├── Mailer.run             sends queued mail through CHAT_SMTP_URL (+ its workers)
        ├── Digests.run            mails unread mentions and DMs, once per message per cluster
        ├── Statuses.run           ends statuses when their time passes
        ├── Revocations.run        closes the sessions of revoked tokens
        ├── FileCollector.run      removes files never attached, or no longer carried
        ├── RetentionTask.run      deletes expired messages, holding the cluster's lease
        ├── SearchIndexer.run      brings the search index up to date (SQLite)
        ├── DatabaseProbe.run      pings the database for /readyz
        ├── SingleFlight.run       shares identical resume and history reads in flight
        ├── PointReads.run         reads point reads asked at once in one query
        ├── HistoryFromMemory.run  history from memory: its events, erasures watched
        ├── HttpServer.run         the Quart app's lifespan; drains HTTP on shutdown
        ├── HandshakeGate.report   logs the upgrades turned away, a line a second
        └── FrontDoor.run          listeners; one task per connection, each either
            ├── HttpServer.handle      a Hypercorn connection (shielded, drained), or
            └── WebSocketServer.handle a client session: receive loop, handler, writer

Shutdown is cancellation, in two steps. Cancelling `serve` reaches its own task only:
the components run in a shielded scope (`tree`). The drain comes first (`chat.server.drain`:
/readyz 503, new WebSockets refused with 503, open ones closed with 1012, HTTP answered
with ``Connection: close``), every component still working; then `serve` cancels `tree`,
and each component shuts down as before. A component that fails ends `serve` at once,
without a drain.

Components start with ``await root.start(...)``, so `serve` reports its address only once
every part is ready: in a cluster, only once other instances' messages will reach this
one. The store is opened *around* the root nursery rather than inside it: it must outlive
every task that uses it, so that a client still finishing its last write during shutdown
finds the database open.
"""

from __future__ import annotations

import logging
import secrets
from typing import NoReturn

import trio

from chat.app.accounts.auth import Passwords, Tokens
from chat.app.accounts.data import AccountData
from chat.app.accounts.oidc import SingleSignOn
from chat.app.accounts.revocations import TOKENS_REVOKED, Revocations
from chat.app.accounts.sessions import BrowserSessions
from chat.app.accounts.signing_key import load_signing_key
from chat.app.database_probe import DatabaseProbe
from chat.app.email.parts import email_parts
from chat.app.history.from_memory import EVENT_TYPE as HISTORY_FORGET
from chat.app.history.from_memory import HistoryFromMemory, HistoryFromMemoryCollector
from chat.app.limits.rate_limits import EVENT_TYPE as RATE_HITS
from chat.app.limits.rate_limits import RateLimits
from chat.app.messages.broadcaster import Broadcaster
from chat.app.messages.files import FileLibrary
from chat.app.messages.link_preview_images import LinkPreviewImages
from chat.app.messages.link_previews import LinkPreviewer
from chat.app.messages.retention import RetentionTask
from chat.app.messages.search_gate import SearchGate
from chat.app.messages.search_indexer import SearchIndexer
from chat.app.messages.thread_summaries import ThreadSummaries
from chat.app.messages.writer import MessageWriter
from chat.app.metrics import Metrics, ServerCollector
from chat.app.people.activity import Activity
from chat.app.people.avatars import Avatars
from chat.app.people.push_subscriptions import PushSubscriptions
from chat.app.people.pusher import Pusher
from chat.app.people.statuses import STATUS_EVENT, Statuses
from chat.app.people.thread_follows import THREAD_FOLLOWS_EVENT, KnownFollows
from chat.app.people.user_notices import EVERYONE_NOTICE, ROOM_NOTICE, USER_NOTICE, UserNotices
from chat.app.presence.cluster import EVENT_TYPE as PRESENCE
from chat.app.presence.tracker import Presence
from chat.app.reads.batched_point_reads import BatchedPointReadsCollector, PointReads
from chat.app.reads.single_flight import MAX_KEYS, SingleFlight, SingleFlightCollector
from chat.app.service import ChatService
from chat.app.upkeep_metrics import DatabaseAnswers, StorageSpace, UpkeepCollector
from chat.bus.carried import CARRIED
from chat.bus.carrier import Carrier
from chat.bus.interface import route_events
from chat.bus.opening import open_bus
from chat.core import names, validation
from chat.core.client_address import ClientAddresses
from chat.core.config import Config
from chat.core.host_names import HostPolicy
from chat.core.invites import RegistrationPolicy
from chat.core.push_hosts import PushHosts
from chat.core.task_failures import TaskFailures
from chat.files.collector import FileCollector
from chat.files.opening import open_storage, storage_directory
from chat.http.app import create_app
from chat.http.server import HttpServer
from chat.net.connection_cap import ConnectionCap
from chat.net.front_door import FrontDoor, format_address
from chat.net.outbound import HostAllowList, OutboundHttp
from chat.push.sender import PushSender
from chat.push.vapid import load_vapid_key
from chat.server.cpu_quota import gathering_window
from chat.server.data_permissions import make_data_private
from chat.server.drain import Drain
from chat.server.version import build_info
from chat.store import describe_database, open_store
from chat.ws.server import WebSocketServer

log = logging.getLogger(__name__)


async def serve(
    config: Config,
    *,
    reuse_port: bool = False,
    force_moved: bool = False,
    task_status: trio.TaskStatus[tuple[str, int]] = trio.TASK_STATUS_IGNORED,
) -> NoReturn:
    """Run the chat server until cancelled.

    Reports the bound ``(host, port)`` through `task_status` once it accepts connections
    (so ``port=0`` works). Cancelling it shuts down gracefully: first the drain for
    `config.drain_seconds` (`chat.server.drain`), then HTTP requests in flight are answered,
    WebSocket clients are closed with 1001, and it returns within about
    `config.drain_seconds` (+ 2 s for the drain's last requests, `chat.server.drain`) +
    `config.shutdown_timeout` + `config.close_timeout` seconds.
    `reuse_port` lets several processes listen on one port (`chat serve --workers`).
    `force_moved` serves a SQLite database `chat copy-database` has moved (`chat serve
    --force-moved`; refused otherwise, `chat.store.sqlite.moved`).
    """
    # Names this process among the cluster's instances (logs, events on the bus).
    instance_id = secrets.token_hex(6)
    passwords = Passwords(config.bcrypt_cost, queue=config.bcrypt_queue)
    # What the root tasks survived (an event or a batch that raised): logged and counted,
    # so that no client and no other instance can end this one (chat/core/task_failures.py).
    failures = TaskFailures()
    gather_window = await gathering_window(config.gather_ms)
    broadcaster = Broadcaster(failures=failures, pace=gather_window)
    rate_limits = RateLimits(config, failures=failures)
    # This server's own registry (never prometheus-client's global one); it reads the
    # components' counters when scraped and starts no task.
    metrics = Metrics(instance_id)
    # Which code this is (`chat --version`), read once: it asks git, so in a thread.
    build = await trio.to_thread.run_sync(build_info)
    metrics.show_build(build.version, build.revision)
    log.info("chat %s starting", build.version)
    addresses = ClientAddresses(config.trusted_proxies, ipv6_prefix=config.ipv6_prefix)

    # Before anything of the data is opened: an earlier release made it by the umask.
    await make_data_private(config)
    async with (
        open_store(config, serving=True, force_moved=force_moved) as store,
        open_storage(config) as storage,
    ):
        tokens = Tokens(await load_signing_key(config, store), config.token_ttl)
        lobby = await store.room_by_id(store.lobby_id)
        assert lobby is not None, "the first migration creates the lobby"
        bus = open_bus(config, store, instance_id)
        # Users' statuses (`chat.app.people.statuses`): those in force known here, for
        # presence frames and the pusher; its task ends each when its time passes.
        statuses = Statuses(store, bus, failures=failures)
        presence = Presence(
            bus,
            instance_id,
            timeout=config.presence_timeout,
            failures=failures,
            status_of=statuses.shown,
        )
        # Sends what this instance commits to the others (none on the local bus), while
        # presence hears any: a lone instance carries nothing.
        carrier = Carrier(
            bus, enabled=config.bus_carry, listening=lambda: presence.instance_count() > 1
        )
        writer = MessageWriter(
            store,
            broadcaster,
            bus,
            carrier=carrier,
            commit_seconds=metrics.commit_seconds,
            bus_lag_seconds=metrics.bus_lag_seconds,
            failures=failures,
            gather_window=gather_window,
        )
        thread_summaries = ThreadSummaries(store, writer.committed, failures=failures)
        writer.tell_stored(thread_summaries.stored)
        revocations = Revocations(store, bus, period=config.revocation_sweep, failures=failures)
        notices = UserNotices(bus)
        statuses.tell_with(notices.deliver_to_everyone)
        statuses.follow(presence.status_changed)
        # Fed by the writer (each published batch) and by the notices (rooms joined).
        activity = Activity(store, lobby.id, failures=failures, follows=KnownFollows(store, bus))
        writer.follow(activity.offer)
        notices.watch(activity.on_notice)
        # Web Push: fed by the writer too (each published batch, while anybody subscribed).
        push_hosts = PushHosts(config.push_hosts)
        vapid = await load_vapid_key(store, config.vapid_private_key, config.push_subject)
        pusher = Pusher(
            store,
            presence,
            PushSender(vapid, push_hosts),
            failures=failures,
            do_not_disturb=statuses.do_not_disturb,
        )
        writer.follow(pusher.offer)
        # Identical resumes and history reads in flight at once, made once: one task.
        shared_reads = SingleFlight(max_keys=MAX_KEYS if config.shared_reads else 0)
        # A token's user, a room and a membership: asked at once, read in one query.
        point_reads = PointReads(store)
        # History from memory: fed by the writer (each published batch); its task sends
        # its events and watches for erasures made without a server.
        history_cache = HistoryFromMemory(
            store,
            lambda: writer.position,
            max_bytes=config.history_cache_mb * 1024 * 1024,
        )
        writer.follow(history_cache.offer)
        service = ChatService(
            store,
            passwords,
            tokens,
            broadcaster,
            writer,
            revocations,
            lobby=lobby,
            max_text_chars=config.max_text_chars,
            rate_limits=rate_limits,
            notices=notices,
            presence=presence,
            activity=activity,
            push=PushSubscriptions(store, vapid, push_hosts, pusher),
            edit_window_s=config.edit_window,
            shared_reads=shared_reads,
            history_cache=history_cache,
            point_reads=point_reads,
            search_gate=SearchGate.for_pool(config.db_pool_size),
            max_bots_per_user=config.max_bots_per_user,
            webhooks=(config.webhook_hosts, config.webhook_timeout),
            statuses=statuses,
            require_two_factor=config.require_2fa,
            registration=RegistrationPolicy(
                config.registration, config.registration_email_domains, config.member_invites
            ),
            sso_only=config.sso_only,
        )
        # Files (`chat.files`): the library starts no task; the collector is one.
        files = FileLibrary(
            store,
            storage,
            uploads_dir=config.data_dir / "uploads",
            max_file_bytes=config.max_file_bytes,
            user_quota_bytes=config.user_quota_bytes,
            rate_limits=rate_limits,
        )
        await files.prepare()
        # Link previews (`chat.app.messages.link_previews`): one task; their images'
        # thumbnails go the files' way.
        pages = OutboundHttp(HostAllowList.of(config.link_preview_hosts), timeout_s=5)
        link_images = LinkPreviewImages(files, pages)
        previewer = LinkPreviewer(
            store,
            pages,
            writer.committed,
            images=link_images.keep,
            enabled=config.link_previews,
            failures=failures,
        )
        writer.tell_stored(previewer.stored)
        # Avatars (`chat.app.people.avatars`): through the files' path, no task.
        avatars = Avatars(store, files, changed=history_cache.names_changed)
        # A user's data (`chat.app.accounts.data`): exports and erasures, no task of its own.
        account_data = AccountData(
            store,
            storage,
            passwords,
            rate_limits=rate_limits,
            exports_at_once=config.exports_at_once,
            published=writer.committed_up_to,
            revoked=revocations.account_deleted,
            names_changed=history_cache.names_changed,
        )
        collector = FileCollector(store, storage, failures=failures)
        # A deleted room's files go before its deletion is answered (`chat.app.rooms.lifecycle`).
        service.room_ends.after_files_detached = collector.sweep
        # E-mail (`chat.app.email`): the mailer's and the digests' tasks (one instance of a
        # cluster mails each message); the links need none.
        email = email_parts(config, store, passwords, revocations.revoked, rate_limits, failures)
        # Retention (`chat.app.messages.retention`): one task; one instance of a cluster deletes at
        # a time (its lease), and the rooms that lost messages hear of it.

        async def tell_expired(room_id: int, up_to_id: int) -> None:
            await history_cache.messages_expired(room_id)
            frame = {"Type": "expired", "RoomID": room_id, "UpToID": up_to_id}
            await notices.send_to_members(room_id, frame)

        retention = RetentionTask(
            store,
            days=config.retention_days,
            period=config.retention_period,
            holder=instance_id,
            after_files_detached=collector.sweep,
            on_expired=tell_expired,
            failures=failures,
        )
        # Search (`chat.app.messages.search`): the index's batches (SQLite) are one task.
        indexer = SearchIndexer(store, failures=failures)
        # Browser sessions (`chat.app.accounts.sessions`): state in the store only, no task.
        sessions = BrowserSessions(
            store,
            tokens,
            service,
            token_ttl=config.session_token_ttl,
            idle=config.session_idle,
            remember=config.session_remember,
        )
        # Single sign-on (`chat.app.accounts.oidc`): sign-ins in the store, no task.
        sso = SingleSignOn(store, service, sessions, rate_limits, config.oidc)
        await passwords.prepare()
        await trio.to_thread.run_sync(names.prepare)
        await trio.to_thread.run_sync(validation.prepare_reactions)
        hosts = HostPolicy(config)
        # /readyz asks the probe whether the database answers, and `draining`, which the
        # drain sets when it begins (or else the HTTP server when its own drain begins),
        # whether the server is shutting down.
        probe = DatabaseProbe(store)
        draining = trio.Event()
        app = create_app(
            service,
            hosts=hosts,
            addresses=addresses,
            max_body_bytes=config.max_body_bytes,
            body_timeout=config.body_timeout,
            metrics=metrics,
            metrics_token=config.metrics_token,
            probe=probe,
            draining=draining,
            sessions=sessions,
            config=config,
            files=files,
            avatars=avatars,
            statuses=statuses,
            account_data=account_data,
            link_images=link_images,
            sso=sso,
            email=email.accounts,
            version=build.version,
        )
        http = HttpServer(
            app,
            shutdown_timeout=config.shutdown_timeout,
            send_timeout=config.write_timeout,
            draining=draining,
        )
        websocket = WebSocketServer(
            service, broadcaster, revocations, config, hosts, addresses, sessions, draining=draining
        )
        metrics.collect_from(
            ServerCollector(
                broadcaster.stats,
                writer,
                websocket,
                rate_limits,
                store,
                failures,
                bus,
                presence,
                service.changes,
                activity,
                pusher.stats,
                carrier,
            )
        )
        metrics.registry.register(SingleFlightCollector(shared_reads.stats))
        metrics.registry.register(BatchedPointReadsCollector(point_reads))
        metrics.registry.register(HistoryFromMemoryCollector(history_cache))
        metrics.registry.register(UpkeepCollector(retention, collector))
        metrics.add_measured(DatabaseAnswers(probe))
        if (files_directory := storage_directory(config)) is not None:
            metrics.add_measured(StorageSpace(files_directory))
        cap = ConnectionCap(
            config.max_connections_per_address,
            enabled=config.rate_limits,
            networks=rate_limits.networks,
            multiplier=config.trusted_network_multiplier,
        )
        front_door = FrontDoor(
            config.host,
            config.port,
            http,
            websocket,
            reuse_port=reuse_port,
            cap=cap,
            addresses=addresses,
        )
        drain = Drain(config.drain_seconds, draining, websocket, front_door, http)

        # The components' tree. Shielded once started, so that cancelling `serve` then
        # reaches only the drain below; `serve` cancels it when the drain is over. (While
        # starting, a cancellation reaches it directly: nothing to drain yet.)
        tree = trio.CancelScope()

        async def components(*, task_status: trio.TaskStatus[tuple[str, int]]) -> None:
            with tree:
                # The root nursery holds the long-lived components; none of them ever
                # returns, so it ends only when `tree` is cancelled, and then waits for
                # each to shut down.
                async with trio.open_nursery() as root:
                    await root.start(broadcaster.run)
                    # The writer starts after the newest stored message; the bus then wakes
                    # it for anything committed after that (it catches up once it listens).
                    await root.start(writer.run)
                    await root.start(thread_summaries.run)
                    await root.start(previewer.run)
                    await root.start(service.commands.run)
                    # Events from other instances, by type; a new kind of event adds an
                    # entry here.
                    events = route_events(
                        {
                            RATE_HITS: rate_limits.on_event,
                            TOKENS_REVOKED: revocations.on_event,
                            USER_NOTICE: notices.on_event,
                            EVERYONE_NOTICE: notices.on_everyone_event,
                            ROOM_NOTICE: notices.on_room_event,
                            PRESENCE: presence.on_event,
                            CARRIED: writer.on_carried_event,
                            HISTORY_FORGET: history_cache.on_event,
                            STATUS_EVENT: statuses.on_event,
                            THREAD_FOLLOWS_EVENT: activity.follows.on_event,
                        },
                        failures,
                    )

                    def wake(position: int | None) -> None:
                        # A (re)connected bus may have missed events: the windows go.
                        history_cache.bus_woken(position)
                        writer.wake(position)

                    await root.start(bus.run, wake, events)
                    await root.start(carrier.run)
                    # Each instance's share of a limit depends on how many there are.
                    await root.start(rate_limits.run, bus, presence.instance_count)
                    await root.start(presence.run)
                    await root.start(presence.announce)
                    await root.start(activity.run)
                    await root.start(pusher.run)
                    await root.start(email.mailer.run)
                    await root.start(email.digests.run)
                    await root.start(statuses.run)
                    await root.start(revocations.run)
                    await root.start(collector.run)
                    await root.start(retention.run)
                    await root.start(indexer.run)
                    await root.start(probe.run)
                    await root.start(shared_reads.run)
                    await root.start(point_reads.run)
                    await root.start(history_cache.run, bus)
                    await root.start(http.run)
                    await root.start(websocket.handshakes.report)
                    listeners = await root.start(front_door.run)
                    address = listeners[0].socket.getsockname()[:2]
                    where = format_address(address)
                    log.info(
                        "listening on http://%s and ws://%s/ (one port), data in %s,"
                        " instance %s, bus: %s",
                        where,
                        where,
                        describe_database(config),
                        instance_id,
                        bus.description,
                    )
                    task_status.started(address)

        # Holds the components' one task; ends when it does (cancelled by the `finally`
        # below, or failed).
        async with trio.open_nursery() as shutdown:
            address = await shutdown.start(components)
            tree.shield = True  # no checkpoint since it started: nothing slipped through
            task_status.started(address)
            try:
                await trio.sleep_forever()
            finally:
                # Reached when `serve` is cancelled, or when a component failed (the
                # nursery cancels us): only a running tree drains.
                if shutdown.child_tasks:
                    with trio.CancelScope(shield=True):
                        await drain.run()  # bounded: config.drain_seconds
                tree.cancel()  # the second step: each component's own shutdown
    raise AssertionError("the shutdown nursery only ends by cancellation")
