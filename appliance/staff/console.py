"""`Console`: the staff console as a service component. It serves the web app over HTTPS
(uvicorn, in the appliance's event loop) from the shared record store, relays the store's
outbox to open pages and to the configured LAN webhooks, and sweeps idle sessions.

In the service the console uses the started `RecordStore` component (`records=`); without
one it opens (and later closes) its own, which takes the store lock like the service does.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from appliance.config import Settings
from appliance.logs import get_logger
from appliance.records.relay import Relay, Sink
from appliance.records.rotate import resolve_key
from appliance.records.service import AsyncRecords, RecordStore
from appliance.staff.app import create_app
from appliance.staff.auth import RateLimiter, Sessions
from appliance.staff.events import EventBus
from appliance.staff.metrics import Families
from appliance.staff.paging import ENDPOINT as PAGER_ENDPOINT
from appliance.staff.relay import BusSink
from appliance.staff.repo import StaffRepo
from appliance.staff.web import ConsoleContext

if TYPE_CHECKING:
    import uvicorn

log = get_logger(__name__)


def endpoints(settings: Settings) -> list[str]:
    """The outbox consumers: the console's live pages, the pager (when paging is on), each
    configured webhook, and the messages to patients (appliance.messaging)."""
    from appliance.messaging.worker import endpoints as messaging

    pager = [PAGER_ENDPOINT] if settings.paging.enabled else []
    return ["console", *pager, *(ep.name for ep in settings.webhooks.endpoints), *messaging(settings)]


async def open_repo(settings: Settings, clock: Callable[[], float] = time.time) -> StaffRepo:
    """The record store for a command or a relay process, beside the service (no store lock:
    SQLite serialises the writers), with the configured outbox endpoints registered."""
    key = await asyncio.to_thread(resolve_key, settings.db_path, settings.db_key_file)
    records = AsyncRecords(settings.db_path, key, recording_enabled=settings.database.recording)
    try:
        await records.open()
        repo = StaffRepo(records, clock=clock)
        await repo.set_endpoints(endpoints(settings))
    except BaseException:
        await records.close()
        raise
    return repo


def webhook_sinks(settings: Settings) -> list[Sink]:
    """One sink per configured webhook, its secret read and client certificate checked now (at
    start-up), so a bad file stops the start with a ConfigError instead of failing each delivery."""
    from appliance.staff.webhooks import WebhookSink, read_secret

    return [WebhookSink(ep.name, ep.url, read_secret(ep.secret_file) if ep.secret_file else None, ca_file=ep.ca_file,
                        client_cert=ep.client_cert_file, client_key=ep.client_key_file, topics=ep.topics,
                        timeout_s=settings.webhooks.timeout_s) for ep in settings.webhooks.endpoints]


async def import_first_admin(repo: StaffRepo, settings: Settings) -> bool:
    """On first start (no accounts yet), import the administrator written by `appliance provision`
    into the record store's staff accounts, with the role `admin`."""
    from appliance.setup.admin import ROLE, admin_file, read

    path = admin_file(settings.data_dir)
    if not path.is_file() or await repo.has_users():
        return False
    data = await asyncio.to_thread(read, path)
    await repo.add_user(username=data["username"], display_name=data["username"], role=ROLE, pw_hash=data["argon2"],
                        extension=None, actor="system:provision")
    log.info("console.admin_imported")
    return True


class Console:
    name = "console"

    def __init__(self, settings: Settings, *, records: RecordStore | None = None, repo: StaffRepo | None = None,
                 clock: Callable[[], float] = time.time, relay_webhooks: bool = True, port: int | None = None,
                 test_call_runner: Callable[[Any], Awaitable[Any]] | None = None) -> None:
        self.settings = settings
        self.test_call_runner = test_call_runner  # the voice pipeline for browser test calls (None: refused)
        self.clock = clock
        self.store = records
        self.repo = repo
        self.relay_webhooks = relay_webhooks
        self.ctx: ConsoleContext | None = None
        self.relay: Relay | None = None
        self.port: int | None = port  # overrides console.port (0: any free port, for tests)
        self._own_store: RecordStore | None = None
        self._server: uvicorn.Server | None = None
        self._tasks: list[asyncio.Task[None]] = []

    async def _repo(self) -> StaffRepo:
        if self.repo is not None:
            return self.repo
        store = self.store
        if store is None:
            store = self._own_store = RecordStore(self.settings)
            await store.start()
        if store.records is None:
            raise RuntimeError("start the record store before the console")
        return StaffRepo(store.records, clock=self.clock)

    async def start(self) -> None:
        import uvicorn

        from appliance.setup.tls import console_tls

        s = self.settings
        self.repo = await self._repo()
        await self.repo.set_endpoints(endpoints(s))
        await import_first_admin(self.repo, s)
        cert, key = await asyncio.to_thread(console_tls, s)
        self.ctx = ConsoleContext(repo=self.repo, sessions=Sessions(s.console.session_idle_minutes * 60, self.clock),
                                  limiter=RateLimiter(clock=self.clock), bus=EventBus(), clock=self.clock)
        if s.console.test_calls and self.test_call_runner is not None:
            from appliance.staff.testcall import TestCalls
            from appliance.voice.webrtc import host_addresses_for

            self.ctx.test_calls = TestCalls(self.test_call_runner, self.repo.record,
                                            max_seconds=s.console.test_call_max_minutes * 60,
                                            ice_addresses=host_addresses_for(s.console.bind_host))
        from appliance.golive.control import GoLive

        self.ctx.golive = await GoLive.open(s, self.repo.records)  # the pack's banner, the pilot, supervision
        app = create_app(self.ctx)
        from appliance.messaging.component import open_pack
        from appliance.messaging.hooks import register_hooks
        from appliance.staff.messages_pages import register_messaging

        register_hooks(app, s, self.repo.records)  # signed callbacks: SMS replies (STOP), paid deposits
        pack = await open_pack(s)
        self.ctx.time_zone = pack.clinic.timezone
        self.ctx.pack = pack  # the documentation checklists of call summaries
        self.repo.families = Families.of(pack)  # the dashboard's procedure families and rebooking windows
        policy = getattr(pack.clinic, "cancellation", None)
        self.ctx.no_show_deposit = policy.deposit_late if policy is not None else None
        from appliance.scheduler.desk_runner import follow_up_plan

        self.ctx.follow_up = follow_up_plan(pack, s.outbound)  # the pack's concern follow-up call
        register_messaging(app, s, self.repo.records, pack)  # tasks, messages, treatments
        sock = socket.socket(socket.AF_INET6 if ":" in s.console.bind_host else socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((s.console.bind_host, s.console.port if self.port is None else self.port))
        sock.listen(64)
        sock.setblocking(False)
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(app, ssl_certfile=str(cert), ssl_keyfile=str(key), log_config=None, access_log=False,
                                lifespan="off", server_header=False, timeout_graceful_shutdown=1)
        # uvicorn takes SIGINT and SIGTERM while it serves (Server.capture_signals) and raises them
        # again once it has stopped, so the service's own handlers still end the run.
        self._server = uvicorn.Server(config)
        self._tasks.append(asyncio.create_task(self._server.serve(sockets=[sock]), name="console-http"))
        sinks: list[Sink] = [BusSink(self.ctx.bus)]
        if self.relay_webhooks:
            sinks += await asyncio.to_thread(webhook_sinks, s)
        self.relay = Relay(self.repo, sinks, clock=self.clock)
        await self.relay.start()
        self._tasks.append(asyncio.create_task(self._sweep(), name="console-sweep"))
        for _ in range(200):
            if self._server.started:
                break
            await asyncio.sleep(0.02)
        log.info("console.listening", host=s.console.bind_host, port=self.port)

    async def _sweep(self) -> None:
        assert self.ctx is not None
        while True:
            await asyncio.sleep(30)
            for gone in self.ctx.sessions.sweep():
                await self.ctx.repo.record(gone.username, "logout.idle", "console")
                if self.ctx.test_calls is not None:
                    await self.ctx.test_calls.end_all_of(gone.username)

    async def stop(self) -> None:
        if self.ctx is not None and self.ctx.test_calls is not None:
            await self.ctx.test_calls.close()
        if self.relay:
            await self.relay.stop()
        if self._server:
            self._server.should_exit = True
        for task in self._tasks:
            if task.get_name() == "console-sweep":
                task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(task, timeout=1.5)
        self._tasks.clear()
        if self._own_store is not None:
            await self._own_store.stop()
            self._own_store = None
            self.repo = None

