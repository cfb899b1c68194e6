"""One call's writes to the record store, made so that nothing the call raised is lost.

The call pipeline hands each write here. A write that fails (a busy or full database, a
writer that does not answer) is tried again a few times with back-off, on the event loop's
timers (never blocking it). An escalation the store still cannot take goes to the encrypted
escalation journal (appliance.records.journal), replayed into the store when the call ends
and at the next start; the caller is then told so and transferred (appliance.callflow).
Turns are committed as they happen, in the background, so a crash keeps the transcript.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict
from typing import Any, TypeVar

from appliance.conversation import ConversationOutcome, Escalation, Turn
from appliance.logs import get_logger, hostile
from appliance.records import outbox
from appliance.records.audit import Access
from appliance.records.ids import CallRef
from appliance.records.service import AsyncRecords
from appliance.records.summary import CallSummary

log = get_logger(__name__)
T = TypeVar("T")

ATTEMPTS = 4
FIRST_DELAY_S = 0.05
ATTEMPT_TIMEOUT_S = 5.0  # one write; the writer thread may still finish it later (writes are idempotent)


async def retrying(what: str, call_id: str, fn: Callable[[], Awaitable[T]], *, attempts: int = ATTEMPTS,
                   first_delay_s: float = FIRST_DELAY_S, timeout_s: float = ATTEMPT_TIMEOUT_S) -> T:
    """`fn()` until it succeeds, at most `attempts` times, waiting 1x, 4x, 16x `first_delay_s`
    between tries; the last error is raised."""
    delay = first_delay_s
    for attempt in range(1, attempts + 1):
        try:
            return await asyncio.wait_for(fn(), timeout_s)
        except Exception as exc:  # noqa: BLE001 - retried, then raised
            if attempt == attempts:
                raise
            log.warning("records.write_retry", what=what, call_id=hostile(call_id), attempt=attempt,
                        error=type(exc).__name__)
            await asyncio.sleep(delay)
            delay *= 4
    raise AssertionError("unreachable")


class CallWriter:
    """The record of one call: `ref.key` names it in the store."""

    def __init__(self, records: AsyncRecords, ref: CallRef, access: Access) -> None:
        self.records = records
        self.ref = ref
        self.access = access
        self.row: int | None = None
        self.journaled = 0  # escalations that went to the journal during this call
        self._turns_done = 0
        self._pending: set[asyncio.Task[Any]] = set()

    async def start(self) -> int | None:
        """Create the call's row; None (logged) if the store cannot take it now: later writes
        create it then."""
        try:
            self.row = await retrying("call.start", self.ref.pbx_call_id,
                                      lambda: self.records.invoke(lambda r: r.calls.ensure_call, self.access, self.ref))
        except Exception:  # noqa: BLE001 - the patient is on the line: answer them, log loudly
            log.exception("call.record_start_failed", call_id=hostile(self.ref.pbx_call_id))
        return self.row

    async def escalation(self, esc: Escalation, response_minutes: float | None) -> bool:
        """Store an escalation (the call's row with it if need be); True if it is in the store.
        False: it is in the journal (or, if even that failed, logged as lost) and nobody has
        been told yet: the caller must be told and transferred."""
        esc_id = outbox.new_id()
        try:
            await retrying("escalation", self.ref.pbx_call_id, lambda: self.records.invoke(
                lambda r: r.calls.record_escalation_for, self.access, self.ref, esc, response_minutes, esc_id))
            return True
        except Exception as exc:  # noqa: BLE001 - journal it
            log.error("call.escalation_store_failed", call_id=hostile(self.ref.pbx_call_id), severity=esc.severity,
                      category=esc.category, error=type(exc).__name__)
        entry = {"id": esc_id, "call": self.ref.to_dict(), "escalation": asdict(esc),
                 "response_minutes": response_minutes}
        try:
            await self.records.journal_escalation(entry)
            self.journaled += 1
            log.warning("call.escalation_journaled", call_id=hostile(self.ref.pbx_call_id), escalation=esc_id)
        except Exception:  # noqa: BLE001 - nothing durable left: the transfer is all there is
            log.exception("call.escalation_lost", call_id=hostile(self.ref.pbx_call_id), severity=esc.severity)
        return False

    def turns(self, turns: Sequence[Turn]) -> None:
        """Commit the turns not yet committed, in the background (in order, on the writer thread)."""
        start = self._turns_done
        fresh = [(i, Turn(t.speaker, t.text, t.provenance, t.heard_fraction))
                 for i, t in enumerate(turns[start:], start)]
        if not fresh:
            return
        self._turns_done = len(turns)
        task = asyncio.ensure_future(self._write_turns(fresh))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _write_turns(self, fresh: list[tuple[int, Turn]]) -> None:
        try:
            await self.records.invoke(lambda r: r.calls.ensure_call, self.access, self.ref)
            await self.records.invoke(lambda r: r.calls.append_turns, self.access, self.ref.key, fresh)
        except Exception as exc:  # noqa: BLE001 - the whole transcript is written again at the end
            log.warning("call.turns_write_failed", call_id=hostile(self.ref.pbx_call_id), error=type(exc).__name__)

    async def finish(self, post: Access, outcome: ConversationOutcome, reason: str) -> CallSummary | None:
        """The outcome, transcript and summary; then any journaled escalation goes to the store."""
        if self._pending:
            await asyncio.gather(*list(self._pending), return_exceptions=True)
        summary: CallSummary | None = None
        try:
            await retrying("call.start", self.ref.pbx_call_id,
                           lambda: self.records.invoke(lambda r: r.calls.ensure_call, post, self.ref))
            summary = await retrying("call.finish", self.ref.pbx_call_id,
                                     lambda: self.records.finish_call(post, self.ref.key, outcome, reason))
        except Exception:  # noqa: BLE001 - logged; escalations are in the store or the journal
            log.exception("call.record_finish_failed", call_id=hostile(self.ref.pbx_call_id))
        if self.journaled:
            try:
                stored, known = await self.records.replay_journal(post)
                log.warning("records.journal_replayed", stored=stored, already_stored=known)
            except Exception:  # noqa: BLE001 - replayed at the next start
                log.exception("records.journal_replay_failed")
        return summary
