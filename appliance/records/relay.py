"""The outbox relay: delivers each message of the record store's outbox to each endpoint, at
least once, in order per endpoint, retrying failures with exponential back-off. A delivery is
marked done only after its endpoint accepted it, so a relay killed mid-delivery re-sends it on
restart; receivers de-duplicate by the message id (the idempotency key).

The relay reads and marks deliveries through an `Outbox` (`RecordsOutbox`: the record store's,
on its writer thread, times in Unix seconds); its endpoints are `Sink`s (the console's open
pages, LAN webhooks, the messages to patients), each relay given the ones it serves."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Protocol

from appliance.logs import get_logger, hostile
from appliance.records.audit import Access
from appliance.records.outbox import OutboxMessage
from appliance.records.service import AsyncRecords
from appliance.records.store import Records

log = get_logger(__name__)

RELAY = Access("system:relay", "outbox-delivery")


class Sink(Protocol):
    name: str

    async def deliver(self, msg: OutboxMessage) -> None:
        """Hand the message over; raise on failure (it will be retried)."""
        ...


class Outbox(Protocol):
    async def outbox_due(self, endpoint: str, now: float, limit: int = 50) -> list[OutboxMessage]: ...

    async def outbox_delivered(self, endpoint: str, seq: int, now: float) -> None: ...

    async def outbox_failed(self, endpoint: str, seq: int, now: float, error: str) -> int:
        """Record a failed attempt (its next one after a back-off); return the attempts so far."""
        ...


class RecordsOutbox:
    """The record store's outbox, one endpoint's deliveries at a time."""

    def __init__(self, records: AsyncRecords) -> None:
        self.records = records

    async def outbox_due(self, endpoint: str, now: float, limit: int = 50) -> list[OutboxMessage]:
        return await self.records.run(Records.outbox_due, RELAY, endpoint, now, limit)

    async def outbox_delivered(self, endpoint: str, seq: int, now: float) -> None:
        await self.records.run(Records.outbox_delivered_to, endpoint, seq, now)

    async def outbox_failed(self, endpoint: str, seq: int, now: float, error: str) -> int:
        return await self.records.run(Records.outbox_failed, endpoint, seq, now, error)


class Relay:
    def __init__(self, repo: Outbox, sinks: list[Sink], *, clock: Callable[[], float] = time.time,
                 poll_s: float = 0.25, batch: int = 50) -> None:
        self.repo = repo
        self.sinks = sinks
        self.clock = clock
        self.poll_s = poll_s
        self.batch = batch
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()

    async def run_once(self) -> int:
        """Deliver what is due now to every sink; return how many deliveries succeeded."""
        done = 0
        for sink in self.sinks:
            due = await self.repo.outbox_due(sink.name, self.clock(), self.batch)
            for msg in due:
                try:
                    await sink.deliver(msg)
                except Exception as exc:  # noqa: BLE001  (any failure of an endpoint means: retry later)
                    err = hostile(f"{type(exc).__name__}: {exc}", 200)
                    attempts = await self.repo.outbox_failed(sink.name, msg.seq, self.clock(), err)
                    log.warning("outbox.delivery_failed", endpoint=sink.name, msg_id=msg.msg_id, attempts=attempts,
                                error=err)
                    break  # keep this endpoint's order: later messages wait for this one
                await self.repo.outbox_delivered(sink.name, msg.seq, self.clock())
                done += 1
        return done

    def wake(self) -> None:
        self._wake.set()

    async def _loop(self) -> None:
        while True:
            try:
                await self.run_once()
            except Exception:  # noqa: BLE001  (a database hiccup must not end the relay)
                log.exception("outbox.relay_error")
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.poll_s)

    async def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="outbox-relay")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
