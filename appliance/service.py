"""The running appliance: verify and load the models, start the components, stop cleanly.

Components (the SIP edge, the console, the scheduler, ...) implement `Component`: an async
`start()` and an async `stop()`. They start in order once the engines are loaded, and stop in
reverse order within the shutdown deadline when SIGINT or SIGTERM arrives.
"""

from __future__ import annotations

import asyncio
import gc
import signal
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

from appliance.config import Settings
from appliance.inference.workers import start_worker
from appliance.logs import get_logger
from appliance.models.resolver import ROLES, resolve_all
from appliance.setup.watchdog import sd_notify, start_watchdog
from appliance.voice.engines import WORKER_GROUPS, Engines, close_workers, load_engine, site_engine

log = get_logger(__name__)

SHUTDOWN_DEADLINE_S = 2.0
ProgressCallback = Callable[[str, str], None]  # (role, "verifying" | "loading" | "loaded")


class Component(Protocol):
    name: str

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


def pin_lines_at_start(engines: Engines, pack: Any) -> None:
    """Synthesise now, and keep for the life of the process, the lines that must play at once:
    the model-failure line (it must play when the speech worker is down), the go-live lines,
    the filler said before a slow reply, and the greetings (the first words of every call: no
    first caller waits for synthesis)."""
    from appliance.clinic.fallback import fallback_text
    from appliance.conversation import FALLBACK_LINE
    from appliance.golive.lines import PINNED
    from appliance.voice.processors.conversation import FILLER_LINE
    synth = engines.tts
    greetings = [g.replace("{clinic}", pack.clinic.name) for g in (pack.dialogue.greeting, pack.dialogue.greeting_known)
                 if g and "{" not in g.replace("{clinic}", "")]
    for text in {FALLBACK_LINE, fallback_text(pack), FILLER_LINE, *PINNED, *greetings}:
        synth.pin(text)


class Appliance:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.engines: Engines | None = None
        self.components: list[Component] = []
        self._started: list[Component] = []
        self._executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="model-load")
        self._watchdog: asyncio.Task[None] | None = None

    async def load_engines(self, progress: ProgressCallback | None = None) -> Engines:
        """Verify every model's checksum, then load the engines: in supervised worker processes
        (each model self-tested there before it counts as loaded), or in this process's threads
        with `[models] isolation = "thread"`."""
        notify = progress or (lambda role, stage: None)
        loop = asyncio.get_running_loop()
        site = await self._site_engines(notify)  # [models] engines: a site's own, instead of a model
        bundled = tuple(r for r in ROLES if r not in site)
        for role in bundled:
            notify(role, "verifying")
        models = await loop.run_in_executor(self._executor, resolve_all, self.settings, bundled)
        if self.settings.models.isolation == "process":
            self.engines = await self._start_workers(models, notify, site)
            return self.engines

        async def load(role: str) -> tuple[str, object]:
            notify(role, "loading")
            t0 = time.perf_counter()
            engine = await loop.run_in_executor(self._executor, load_engine, role, models[role], self.settings)
            log.info("model.loaded", role=role, model=models[role].spec.name,
                     ms=round((time.perf_counter() - t0) * 1000))
            notify(role, "loaded")
            return role, engine

        loaded = dict(await asyncio.gather(*(load(r) for r in bundled)))
        self.engines = Engines.of({**loaded, **site}, models)
        return self.engines

    async def _site_engines(self, notify: ProgressCallback) -> dict[str, object]:
        out: dict[str, object] = {}
        for role, ref in self.settings.models.engines.items():  # only the roles a site configured
            engine = await asyncio.get_running_loop().run_in_executor(self._executor, site_engine, role, self.settings)
            if engine is not None:
                log.info("model.loaded", role=role, engine=ref, site=True)
                notify(role, "loaded")
                out[role] = engine
        return out

    async def _start_workers(self, models: dict[str, Any], notify: ProgressCallback,
                             site: dict[str, object]) -> Engines:
        loop = asyncio.get_running_loop()
        from appliance.inference.client import ModelWorker

        parts: dict[str, object] = {}
        workers: list[ModelWorker] = []

        async def start(group: str) -> None:
            roles = [r for r in WORKER_GROUPS[group] if r in models]
            for role in roles:
                notify(role, "loading")
            t0 = time.perf_counter()
            worker, proxies = await loop.run_in_executor(self._executor, start_worker, group, models, self.settings)
            workers.append(worker)
            parts.update(proxies)
            for role in roles:
                log.info("model.loaded", role=role, model=models[role].spec.name, worker=group, pid=worker.pid,
                         ms=round((time.perf_counter() - t0) * 1000))
                notify(role, "loaded")

        groups = [g for g in WORKER_GROUPS if any(r in models for r in WORKER_GROUPS[g])]  # all site engines: none
        results = await asyncio.gather(*(start(g) for g in groups), return_exceptions=True)
        errors = [r for r in results if isinstance(r, BaseException)]
        if errors:
            await asyncio.to_thread(close_workers, workers)
            raise errors[0]
        return Engines.of({**parts, **site}, models, workers)

    async def _start_component(self, component: Component) -> None:
        await component.start()
        self._started.append(component)
        log.info("component.started", component=component.name)

    async def start(self, progress: ProgressCallback | None = None) -> None:
        """Pack, engines, record store, calendar sync (when `[calendar] backend = "caldav"`), the
        SIP edge, the staff console, the pager (when `[paging] enabled`), the outbound scheduler
        (when `[outbound] enabled`). Extra `components` (set before start) start last."""
        from appliance.callflow import CallRunner, TestCallRunner
        from appliance.clinic.outbound_lines import load_lines
        from appliance.clinic.schedule import Scheduler as BookingScheduler
        from appliance.clinic.service import pack_for_calls
        from appliance.records.callstart import booking_calendar
        from appliance.records.service import RecordStore
        from appliance.scheduler.calls import voice_handler
        from appliance.scheduler.runner import Scheduler as OutboundScheduler
        from appliance.scheduler.setup import store_for
        from appliance.staff.console import Console
        from appliance.telephony.edge import SipEdge

        t0 = time.perf_counter()
        self.settings.data_dir.mkdir(parents=True, exist_ok=True)
        pack = pack_for_calls(self.settings)  # refuse an unapproved pack before loading anything heavy
        if self.settings.calendar.backend == "caldav":
            from appliance.calsync import setup as calendar_setup

            calendar_setup.check(self.settings, pack)  # so is a [calendar] naming unknown providers or files
        engines = await self.load_engines(progress)
        await asyncio.to_thread(pin_lines_at_start, engines, pack)
        records = RecordStore(self.settings)
        await self._start_component(records)
        calendar = await booking_calendar(records.records, pack)
        if self.settings.calendar.backend == "caldav" and records.records is not None:
            from appliance.calsync.runner import CalendarSync
            from appliance.calsync.view import CalendarView

            # Calls book from memory: the appliance's bookings plus the clinic calendars' busy times.
            calendar = CalendarView(calendar.all(), pack.clinic.timezone)
            await self._start_component(CalendarSync(self.settings, pack, records.records, calendar))
        self.runner = CallRunner(self.settings, engines, pack, records.records,
                                 scheduler=BookingScheduler(pack.clinic, calendar),
                                 llm=engines.llm)
        shadow = None
        if self.settings.golive.shadow:  # SIPREC recording sessions from the PBX: heard, never answered
            from appliance.golive.shadow.runner import ShadowRunner

            shadow = ShadowRunner(self.settings, engines, pack, records.records, llm=self.runner.llm)
        tls = None
        if self.settings.sip.transport == "tls":
            from appliance.setup.tls import sip_tls

            tls = await asyncio.to_thread(sip_tls, self.settings)
        self.sip = SipEdge(self.settings.sip, self.runner, shadow=shadow, tls=tls)
        await self._start_component(self.sip)
        test_calls = TestCallRunner(self.settings, engines, pack, llm=self.runner.llm)
        await self._start_component(Console(self.settings, records=records, test_call_runner=test_calls))
        from appliance.messaging.component import Messaging

        await self._start_component(Messaging(self.settings, records.records, pack, self.sip))  # SMS, email, links
        if self.settings.paging.enabled and records.records is not None:
            from appliance.staff.pager import Pager
            from appliance.staff.repo import StaffRepo

            await self._start_component(Pager(self.settings.paging, StaffRepo(records.records), self.sip,
                                              self.runner.live, pack, engines.tts))
        if self.settings.outbound.enabled:
            desk = self._desk(pack, engines, records.records, shadow)  # reminders, call-backs (docs/frontdesk.md)
            aftercare = OutboundScheduler(
                lambda: store_for(self.settings, pack), self.sip,
                voice_handler(pack, load_lines(pack), engines, self.settings, records=records.records,
                              live=self.runner.live),
                self.settings.outbound,
                max_calls=self.settings.sip.max_calls,  # shadow calls and the desk's calls hold lines too
                active_inbound=lambda: self.runner.active + (shadow.active if shadow else 0) + desk.active())
            await self._start_component(aftercare)
            if desk.runner is not None:
                desk.runner.other_outbound = lambda: len(aftercare._calls)  # noqa: SLF001
                await self._start_component(desk.runner)
                self.sip.on_busy = desk.runner.busy
                self.runner.after_call = desk.runner.call_ended
        for component in self.components:
            await self._start_component(component)
        sd_notify("READY=1")

        self._watchdog = start_watchdog()
        # What start-up built (models, protocol, routes) lives as long as the process: out of the
        # collector's way, so a full collection walks only what calls allocate and stays short (it
        # holds the event loop, which paces every call's RTP).
        gc.collect()
        gc.freeze()
        log.info("appliance.ready", ms=round((time.perf_counter() - t0) * 1000),
                 sip=f"{self.settings.sip.bind_host}:{self.settings.sip.bind_port}",
                 console=f"https://{self.settings.console.bind_host}:{self.settings.console.port}/",
                 config=self.settings.source)

    def _desk(self, pack: Any, engines: Engines, records: Any, shadow: Any) -> Any:
        from appliance.scheduler.desk_runner import desk_component

        return desk_component(self.settings, pack, engines, records, self.runner, shadow, self.sip)

    async def stop(self) -> None:
        if self._watchdog:
            self._watchdog.cancel()
        sd_notify("STOPPING=1")
        deadline = time.monotonic() + SHUTDOWN_DEADLINE_S
        for component in reversed(self._started):
            remaining = max(0.05, deadline - time.monotonic())
            try:
                await asyncio.wait_for(component.stop(), timeout=remaining)
            except TimeoutError:
                log.error("component.stop_timeout", component=component.name)
        self._started.clear()
        if self.engines is not None:
            await asyncio.to_thread(self.engines.close)
        self._executor.shutdown(wait=False, cancel_futures=True)
        log.info("appliance.stopped")

    async def run(self, progress: ProgressCallback | None = None, ready: Callable[[], None] | None = None) -> None:
        """Start, wait for SIGINT/SIGTERM, stop. The signal handlers are installed first,
        so a signal that arrives while models load still ends the run cleanly."""
        loop = asyncio.get_running_loop()
        stopping = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stopping.set)
        starter = asyncio.create_task(self.start(progress))
        waiter = asyncio.create_task(stopping.wait())
        try:
            done, _ = await asyncio.wait({starter, waiter}, return_when=asyncio.FIRST_COMPLETED)
            if starter in done:
                starter.result()  # raise start-up errors
                if ready:
                    ready()
                await waiter
            else:
                log.info("appliance.interrupted_during_startup")
                starter.cancel()
        finally:
            waiter.cancel()
            log.info("appliance.stopping")
            await self.stop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)
