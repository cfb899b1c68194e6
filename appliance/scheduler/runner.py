"""The scheduler component: wakes, claims due contacts, places the calls, records the outcomes.

The store runs on one thread of its own (never on the event loop). Each claimed contact is
one task: dial (`Dialer.place_call`, SipEdge in production), run the conversation on an
answered call (`CallHandler`), record the outcome with the claim's token. The lease is
renewed while the call lasts; if the process dies, the lease expires and the contact is
retried once its retry time comes (see store.py). Outbound calls stay below `max_outbound`
and always leave `reserve_inbound` lines free for patients calling in.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, TypeVar

from appliance.config import OutboundSettings
from appliance.logs import get_logger
from appliance.records.audit import Access
from appliance.scheduler.policy import outbound_capacity
from appliance.scheduler.store import AttemptResult, Claim, ScheduleStore, phone_digits

log = get_logger(__name__)
T = TypeVar("T")
ACCESS = Access("system:scheduler", "outbound-call")


class Dialer(Protocol):
    async def place_call(self, target: str, *, timeout_s: float = 30.0) -> Any:
        """Returns an object with `.outcome` (answered | busy | no-answer | rejected | failed) and `.call`."""
        ...


CallHandler = Callable[[Claim, Any], Awaitable[AttemptResult]]  # (claim, answered call) -> result


class Scheduler:
    name = "scheduler"

    def __init__(self, open_store: Callable[[], ScheduleStore], dialer: Dialer, handler: CallHandler,
                 settings: OutboundSettings, *, max_calls: int = 10, active_inbound: Callable[[], int] = lambda: 0,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC), worker: str | None = None) -> None:
        self._open_store, self.dialer, self.handler, self.settings = open_store, dialer, handler, settings
        self.max_calls, self.active_inbound, self.clock = max_calls, active_inbound, clock
        self.worker = worker or f"{socket.gethostname()}:{os.getpid()}"
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="scheduler-db")
        self._store: ScheduleStore | None = None
        self._loop_task: asyncio.Task[None] | None = None
        self._calls: set[asyncio.Task[None]] = set()
        self._wake = asyncio.Event()
        self.placed = 0

    async def _db(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    @property
    def store(self) -> ScheduleStore:
        if self._store is None:
            raise RuntimeError("the scheduler is not started")
        return self._store

    async def start(self) -> None:
        self._store = await self._db(self._open_store)
        self._loop_task = asyncio.create_task(self._run(), name="scheduler")
        log.info("scheduler.started", max_outbound=self.settings.max_outbound, worker=self.worker)

    async def stop(self) -> None:
        if self._loop_task:
            self._loop_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop_task
        for task in list(self._calls):  # calls in progress: their leases expire and they are retried
            task.cancel()
        if self._calls:
            await asyncio.gather(*self._calls, return_exceptions=True)
        if self._store is not None:
            await self._db(self._store.conn.close)
            self._store = None
        self._executor.shutdown(wait=True)
        close = getattr(self.handler, "aclose", None)  # a handler that opened resources of its own
        if close is not None:
            await close()

    def wake(self) -> None:
        self._wake.set()

    async def _run(self) -> None:
        while True:
            try:
                await self.tick()
            except Exception:  # noqa: BLE001 - keep the scheduler alive; the next tick tries again
                log.exception("scheduler.tick_failed")
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.settings.poll_seconds)

    async def tick(self) -> int:
        """Claim what is due within capacity and start those calls; returns how many started."""
        room = outbound_capacity(active_outbound=len(self._calls), active_inbound=self.active_inbound(),
                                 max_calls=self.max_calls, max_outbound=self.settings.max_outbound,
                                 reserve_inbound=self.settings.reserve_inbound)
        claims = await self._db(self.store.claim_due, ACCESS, self.clock(), self.worker,
                                timedelta(seconds=self.settings.lease_seconds), room)
        for claim in claims:
            task = asyncio.create_task(self._place(claim), name=f"outbound-{claim.contact_id}")
            self._calls.add(task)
            task.add_done_callback(self._calls.discard)
        return len(claims)

    async def _renew(self, claim: Claim) -> None:
        period = max(1.0, self.settings.lease_seconds / 3)
        while True:
            await asyncio.sleep(period)
            until = self.clock() + timedelta(seconds=self.settings.lease_seconds)
            if not await self._db(self.store.renew, claim.contact_id, claim.token, until):
                log.warning("scheduler.lease_lost", contact=claim.contact_id)
                return

    async def _dial(self, claim: Any, result_of: Callable[[str], Any], events: str) -> Any:
        """Dial the contact (its lease renewed meanwhile) and run the answered call; the result, or
        `result_of("failed")` on any error (the contact is retried, never lost)."""
        renew = asyncio.create_task(self._renew(claim))
        result = result_of("failed")
        try:
            self.placed += 1
            log.info(f"{events}.dialing", contact=claim.contact_id, kind=claim.kind,
                     day=getattr(claim, "day", None), attempt=claim.attempt)
            target = ("+" if claim.phone.strip().startswith("+") else "") + phone_digits(claim.phone)
            placed = await self.dialer.place_call(target, timeout_s=float(self.settings.ring_seconds))
            outcome = str(getattr(placed, "outcome", "failed"))
            if outcome == "answered":
                result = await self.handler(claim, getattr(placed, "call", None))
            else:
                result = result_of(outcome)
        except asyncio.CancelledError:
            renew.cancel()
            raise  # stopping: the lease expires and the contact is retried
        except Exception:  # noqa: BLE001 - a failed call is retried, never lost
            log.exception(f"{events}.call_failed", contact=claim.contact_id)
        finally:
            renew.cancel()
        return result

    async def _place(self, claim: Claim) -> None:
        result = await self._dial(claim, AttemptResult, "scheduler")
        state = await self._db(self.store.finish, ACCESS, claim, result, self.clock())
        log.info("scheduler.call_done", contact=claim.contact_id, result=result.result,
                 disposition=result.disposition, state=state)
