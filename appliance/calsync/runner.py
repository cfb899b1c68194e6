"""Calendar sync, the appliance component (`[calendar] backend = "caldav"`).

A background task reads each mapped provider's calendar (every `sync_interval_s`, and at once
when an appointment waits to be written), applies what the calendar changed to the appliance's
appointments, writes the appliance's bookings, moves and cancellations, and hands the busy
times to the calls' slot calendar (`CalendarView`). Network calls run in a thread; calls never
wait for them. When the server cannot be reached, rounds back off (`backoff_max_s` at most),
bookings made meanwhile are marked "unconfirmed" (the console shows it), and the first round
that gets through reconciles them: written, or refused with a booking-conflict escalation.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING
from urllib.parse import urljoin, urlsplit
from zoneinfo import ZoneInfo

from appliance.calsync import decide, setup, store
from appliance.calsync.client import CalDAV, Pulled, PullState
from appliance.calsync.ical import EventText, Interval, RemoteEvent, build_event, parse_event, summary_for
from appliance.calsync.view import CalendarView
from appliance.logs import get_logger, hostile

if TYPE_CHECKING:
    from appliance.clinic.pack import Pack
    from appliance.config import Settings
    from appliance.records.service import AsyncRecords
    from appliance.records.store import Records

log = get_logger(__name__)

TICK_S = 1.0  # how often pending writes are looked for (a database read, no network)
HORIZON = timedelta(days=120)  # busy times kept ahead (the booking horizon is 60 days)
PAST = timedelta(days=1)
FULL_READ_EVERY = timedelta(hours=24)  # re-read everything (recurrences move into the horizon)
BACKOFF_BASE_S = 1.0


class CalendarSync:
    name = "calendar-sync"

    def __init__(self, settings: Settings, pack: Pack, records: AsyncRecords, view: CalendarView | None = None,
                 client: CalDAV | None = None) -> None:
        self.cal = settings.calendar
        targets = setup.check(settings, pack, warn=False)  # the service checked (and warned) before the models loaded
        self.client = client or CalDAV(self.cal, setup.password(settings))
        self.collections = {p: self.client.calendar_url(t) for p, t in targets.items()}
        self.tz = ZoneInfo(pack.clinic.timezone)
        self.records, self.view = records, view
        self.failures = 0
        self.next_try = 0.0
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._round = asyncio.Lock()  # one round at a time (the loop, and a caller of sync_now)

    # -- component -------------------------------------------------------------------------
    async def start(self) -> None:
        """Load the last known busy times (no network), then sync in the background."""
        await self.prepare()
        self._task = asyncio.create_task(self._loop(), name="calendar-sync")

    async def prepare(self) -> None:
        """Record the providers' calendars and give calls the busy times last read."""
        now = datetime.now(UTC)
        await self.records.run(lambda r: store.register(r, self.collections, now))
        await self.refresh_view()

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await asyncio.to_thread(self.client.close)

    def nudge(self) -> None:
        """Look for appointments to write now (after a booking)."""
        self._wake.set()

    async def _loop(self) -> None:
        last = float("-inf")
        while True:
            now = time.monotonic()
            if now >= self.next_try:
                if now - last >= self.cal.sync_interval_s or await self._pending():
                    await self.sync_now()
                    last = time.monotonic()
            elif self.failures:
                await self._push_offline()
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), TICK_S)

    # -- one round -------------------------------------------------------------------------
    async def sync_now(self) -> bool:
        """Read every calendar, apply its changes, write the appliance's; False if the server
        could not be reached (then bookings are marked unconfirmed and the next round backs off)."""
        async with self._round:
            return await self._sync_round()

    async def _sync_round(self) -> bool:
        try:
            for provider, url in self.collections.items():
                await self._pull(provider, url)
            await self._apply_calendar_changes()
            await self._push()
        except asyncio.CancelledError:
            raise
        except Exception as e:  # noqa: BLE001 - any failure of the server or the network: back off, keep serving
            self.failures += 1
            wait = decide.backoff_s(self.failures, BACKOFF_BASE_S, self.cal.backoff_max_s)
            self.next_try = time.monotonic() + wait
            log.warning("calendar.unreachable", error=type(e).__name__, detail=hostile(e, 160),
                        failures=self.failures, retry_s=round(wait, 1))
            await self._push_offline()
            await self.refresh_view()
            return False
        if self.failures:
            log.info("calendar.reconnected", after_failures=self.failures)
        self.failures, self.next_try = 0, 0.0
        await self.refresh_view()
        return True

    async def _pull(self, provider: str, url: str) -> None:
        now = datetime.now(UTC)
        full = await self.records.run(lambda r: store.full_read_due(r, provider, now - FULL_READ_EVERY))
        state = await self.records.run(lambda r: store.pull_state(r, provider, full))
        pulled, events, bad = await asyncio.to_thread(self._read, url, state, (now - PAST, now + HORIZON))
        await self.records.run(lambda r: store.apply_pull(r, provider, pulled, events, now))
        if pulled.changed or pulled.removed or pulled.listed is not None or bad:
            log.info("calendar.read", provider=provider, mode=pulled.mode, changed=len(events), removed=len(pulled.removed),
                     full=pulled.listed is not None, unreadable=bad)

    def _read(self, url: str, state: PullState, window: Interval) -> tuple[Pulled, list[RemoteEvent], int]:
        pulled = self.client.pull(url, state)
        events, bad = [], 0
        for href, (etag, text) in pulled.changed.items():
            try:
                events.append(parse_event(href, etag, text, self.tz, window))
            except ValueError:
                bad += 1  # kept out of the busy times; read again at the next full read
        return pulled, events, bad

    async def _snapshot(self) -> tuple[list[decide.Appointment], dict[str, list[RemoteEvent]], set[str]]:
        since = datetime.now(UTC) - PAST
        providers = list(self.collections)

        def read(r: Records) -> tuple[list[decide.Appointment], dict[str, list[RemoteEvent]], set[str]]:
            return (store.appointments(r, providers, since), {p: store.events_of(r, p) for p in providers},
                    store.own_uids(r))
        snapshot: tuple[list[decide.Appointment], dict[str, list[RemoteEvent]], set[str]] = await self.records.run(read)
        return snapshot

    async def _apply_calendar_changes(self) -> None:
        appts, events, _own = await self._snapshot()
        for a in appts:
            by_uid = {ev.uid: ev for ev in events.get(a.provider, []) if ev.uid}
            remote = by_uid.get(a.cal_uid) if a.cal_uid else None
            action = decide.pull_action(a, remote)
            if action is None:
                continue
            if action in ("adopt", "seen"):
                assert remote is not None
                await self.records.run(store.mark, a.id, "confirmed", etag=remote.etag, span=remote.first,
                                       href=remote.href)
            elif action == "forget":
                await self.records.run(store.mark, a.id, "removed")
            elif action == "cancel-local":
                await self.records.run(store.cancel_local, a.id)
                self._forget(a)
            elif action == "move-local":
                assert remote is not None
                await self.records.run(store.move_local, a.id, remote)
                self._forget(a)
            log.info("calendar.changed_in_calendar", appointment=a.id, action=action)

    async def _push(self) -> None:
        appts, events, own = await self._snapshot()
        busy = {p: decide.foreign_busy(evs, own) for p, evs in events.items()}
        for action, a in decide.plan_push(appts, busy, server_up=True):
            if action in ("create", "update"):
                await self._write(a, create=action == "create")
            elif action == "delete":
                result = await asyncio.to_thread(self.client.delete, self._url(a), a.cal_etag)
                if result in ("ok", "gone"):
                    await self.records.run(store.mark, a.id, "removed")
                log.info("calendar.deleted", appointment=a.id, result=result)
            elif action == "conflict":
                await self.records.run(store.refuse, a.id)
                self._forget(a)
                log.warning("calendar.booking_refused", appointment=a.id, provider=a.provider,
                            reason="slot taken in the clinic calendar")
            elif action == "revert":
                await self.records.run(store.revert, a.id)
                self._forget(a)
                log.warning("calendar.move_refused", appointment=a.id, provider=a.provider)

    async def _write(self, a: decide.Appointment, *, create: bool) -> None:
        if a.cal_uid is None:
            uid = f"appliance-{uuid.uuid4().hex}"
            path = urlsplit(CalDAV.resource_url(self.collections[a.provider], uid)).path
            uid, path = await self.records.run(lambda r: store.claim_uid(r, a.id, uid, path))
            a = dataclasses.replace(a, cal_uid=uid, cal_href=path)
        facts = await self.records.run(lambda r: store.event_facts(r, a.id, self.cal.include_patient_details))
        assert a.cal_uid is not None
        text = build_event(EventText(
            uid=a.cal_uid, start=a.start, end=a.end,
            summary=summary_for(phone=facts["phone"], patient_ref=facts["patient_ref"], name=facts["name"],
                                procedure=facts["procedure"], details=self.cal.include_patient_details),
            description=f"Details in the appliance's staff console: appointment #{a.id}."), datetime.now(UTC))
        result, etag = await asyncio.to_thread(self.client.put, self._url(a), text, etag=a.cal_etag, create=create)
        if result == "ok":
            await self.records.run(lambda r: store.mark(r, a.id, "confirmed", etag=etag, span=a.span))
        log.info("calendar.written", appointment=a.id, action="create" if create else "update", result=result)

    def _url(self, a: decide.Appointment) -> str:
        """The event's resource: where it was written (or found), a path on the calendar's server."""
        assert a.cal_href is not None
        return urljoin(self.collections[a.provider], a.cal_href)

    # -- offline and the view ----------------------------------------------------------------
    async def _appointments(self) -> list[decide.Appointment]:
        since, providers = datetime.now(UTC) - PAST, list(self.collections)
        appointments: list[decide.Appointment] = await self.records.run(lambda r: store.appointments(r, providers, since))
        return appointments

    async def _pending(self) -> bool:
        return any(decide.push_action(a, [], server_up=True) for a in await self._appointments())

    async def _push_offline(self) -> None:
        """The server is out of reach: bookings not yet written are marked unconfirmed."""
        appts = await self._appointments()
        ids = [a.id for action, a in decide.plan_push(appts, {}, server_up=False) if action == "unconfirmed"]
        if ids:
            await self.records.run(lambda r: store.mark_unconfirmed(r, ids))
            log.info("calendar.unconfirmed", appointments=len(ids))

    async def refresh_view(self) -> None:
        if self.view is None:
            return
        spans = await self.records.run(lambda r: store.busy_spans(r, datetime.now(UTC) - PAST))
        self.view.set_busy(spans)

    def _forget(self, a: decide.Appointment) -> None:
        if self.view is not None:
            self.view.forget(a.provider, a.start)
