"""The outbox relay: delivers each message of the record store's outbox to each endpoint, at
least once, in order per endpoint, retrying failures with exponential back-off. A delivery is
marked done only after its endpoint accepted it, so a relay killed mid-delivery re-sends it on
restart; receivers de-duplicate by the message id (the idempotency key)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Protocol

from appliance.logs import get_logger, hostile
from appliance.records.outbox import OutboxMessage
from appliance.staff.events import EventBus
from appliance.staff.repo import StaffRepo

log = get_logger(__name__)


class Sink(Protocol):
    name: str

    async def deliver(self, msg: OutboxMessage) -> None:
        """Hand the message over; raise on failure (it will be retried)."""
        ...


# What open pages may learn from an event: ids, severity, category, who acted; never PHI
# (message payloads can carry a whole summary; every signed-in role sees the stream).
BUS_FIELDS = ("id", "call_id", "severity", "category", "deadline_at", "by", "corrected", "final", "level",
              "appointment_id")


class BusSink:
    """The console's own endpoint: open pages learn of the change over SSE."""

    name = "console"

    def __init__(self, bus: EventBus) -> None:
        self.bus = bus

    async def deliver(self, msg: OutboxMessage) -> None:
        event = {k: msg.payload[k] for k in BUS_FIELDS if k in msg.payload}
        self.bus.publish({**event, "topic": msg.topic, "msg_id": msg.msg_id})


class Relay:
    def __init__(self, repo: StaffRepo, sinks: list[Sink], *, clock: Callable[[], float] = time.time,
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
