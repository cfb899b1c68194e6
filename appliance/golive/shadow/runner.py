"""The SIP edge's handler for recording sessions: one shadow call, start to stored record.

Both recorded sides are heard (appliance.golive.shadow.listener). The patient's turns go, in
order, to the clinic's conversation engine, created as a live inbound call's is (the same pack,
settings, caller context and language model) with a booking calendar of its own, so that what
it would book takes no real slot. Its replies are never spoken and its actions never carried
out: no escalation is stored, nobody is paged, nothing is transferred, booked or sent to the
outbox. The red-flag check runs first on every patient turn, inside the engine, as on a live
call; what it would have raised is kept, with the replies and the outcome, as the shadow call's
encrypted record. Every log line of a shadow call carries `shadow: true`.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from datetime import UTC, datetime
from typing import Any

import structlog

from appliance.calls import HangUp
from appliance.clinic.pack import Pack
from appliance.config import Settings
from appliance.conversation import Escalation, heard_kwargs
from appliance.golive.shadow import store
from appliance.golive.shadow.listener import HeardTurn, StreamListener
from appliance.golive.shadow.record import ShadowLog
from appliance.logs import get_logger, hostile, phone
from appliance.records.audit import Access
from appliance.records.base import iso
from appliance.records.ids import new_call_key
from appliance.voice.health import CallPool

log = get_logger(__name__)
DRAIN_S = 30.0  # after the hang-up: the last turns' transcription and the engine's replies


class _Conversation:
    """The patient's turns through the engine, one at a time, in the order they ended."""

    def __init__(self, engine: Any, shadow: ShadowLog, call_id: str) -> None:
        self.engine = engine
        self.shadow = shadow
        self.call_id = call_id
        self.turns: asyncio.Queue[tuple[int, HeardTurn]] = asyncio.Queue()

    async def heard(self, turn: HeardTurn) -> None:
        index = self.shadow.heard(turn.role, turn.label, turn.start_s, turn.end_s, turn.text, turn.confidence)
        log.info("shadow.turn", call_id=hostile(self.call_id), speaker=turn.role, chars=len(turn.text),
                 at_s=turn.start_s)
        if turn.role == "patient":
            self.turns.put_nowait((index, turn))

    def _escalations(self) -> list[Escalation]:
        out = getattr(self.engine, "out", None)
        return list(getattr(out, "escalations", []) or [])

    async def work(self) -> None:
        while True:
            index, turn = await self.turns.get()
            try:
                before = len(self._escalations())
                said = self.engine.caller_said
                reply = await said(turn.text, **heard_kwargs(said, turn.confidence))
                fresh = self._escalations()[before:]
                self.shadow.would_reply(reply, index, turn.end_s, fresh)
                for esc in fresh:  # what a live call would have paged for: the flag, never the words
                    log.warning("shadow.would_escalate", call_id=hostile(self.call_id), severity=esc.severity,
                                category=esc.category, flag=esc.detail)
            except Exception:  # noqa: BLE001  (one bad turn must not lose the call's record)
                log.exception("shadow.turn_failed", call_id=hostile(self.call_id))
                self.shadow.note("the conversation engine failed on a turn")
            finally:
                self.turns.task_done()


class ShadowRunner:
    """Runs a `ShadowCall` (appliance.telephony.siprec.call) to its end and stores its record."""

    def __init__(self, settings: Settings, engines: Any, pack: Pack, records: Any, llm: Any = None) -> None:
        self.settings = settings
        self.engines = engines
        self.pack = pack
        self.records = records
        self.llm = llm
        self.active = 0

    async def _engine(self, info: Any, access: Access) -> Any:
        from appliance.clinic.schedule import Scheduler
        from appliance.clinic.service import new_conversation
        from appliance.records.callstart import booking_calendar, caller_context

        caller, _patient = await caller_context(self.records, access, info)
        calendar = await booking_calendar(self.records, self.pack)  # a copy: a would-be booking takes no slot
        return new_conversation(self.pack, self.settings, caller=caller, scheduler=Scheduler(self.pack.clinic, calendar),
                                llm=self.llm)

    async def __call__(self, call: Any) -> None:
        from appliance.records.callstart import safe_info
        from appliance.records.summary import build_summary

        structlog.contextvars.bind_contextvars(shadow=True)  # this task's lines: the engine's too
        info = safe_info(call.info)
        access = Access(actor="system:shadow", reason="shadow call", call_id=info.call_id)
        started, started_at = call.clock.answered_at or time.monotonic(), iso(datetime.now(UTC))
        engine = await self._engine(info, access)
        shadow = ShadowLog(new_call_key(), info.call_id, info.remote_number or None, started_at,
                           [{"label": s.label, "role": s.role} for s in call.streams],
                           info.extra.get("roles_by", "first-stream"))
        shadow.would_reply(engine.start(), None, 0.0, [])
        conversation = _Conversation(engine, shadow, info.call_id)
        self.active += 1
        log.info("shadow.started", call_id=hostile(info.call_id), caller=phone(info.remote_number),
                 roles=[s.role for s in call.streams], active=self.active)
        pool = CallPool(max_workers=3, thread_name_prefix=f"shadow-{info.call_id[:16]}")
        listeners = [StreamListener(s.role, s.label, s.frames, self.engines, self.settings.voice, pool, started,
                                    conversation.heard) for s in call.streams]
        tasks = [asyncio.create_task(x.run(), name=f"shadow-listen-{x.label}") for x in listeners]
        worker = asyncio.create_task(conversation.work(), name="shadow-conversation")
        reason = "ended"
        try:
            while not isinstance(ev := await call.recv(), HangUp):
                pass
            reason = ev.reason
            await asyncio.wait(tasks, timeout=DRAIN_S)  # the streams ended with the call: last turns
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(conversation.turns.join(), DRAIN_S)
        finally:
            for task in [*tasks, worker]:
                task.cancel()
            await asyncio.gather(*tasks, worker, return_exceptions=True)
            await asyncio.to_thread(pool.shutdown, wait=True, cancel_futures=True)
            self.active -= 1
        if any(x.failures for x in listeners):
            shadow.note("a speech model did not answer for part of the call (a worker restarting)")
        if sum(s.dropped for s in call.streams):
            shadow.note("audio was dropped: the listener fell behind")
        outcome = engine.ended(reason)
        intent = build_summary(outcome).intent
        await self._store(shadow, outcome, intent, reason, access)
        log.info("shadow.finished", call_id=hostile(info.call_id), reason=reason, outcome=outcome.outcome,
                 intent=intent, would_escalate=shadow.would_escalate, escalations=len(shadow.escalations),
                 turns=len(shadow.transcript), seconds=round(time.monotonic() - started, 1),
                 rtp_sends_refused=call.media.suppressed)

    async def _store(self, shadow: ShadowLog, outcome: Any, intent: str | None, reason: str, access: Access) -> None:
        if self.records is None:
            log.warning("shadow.not_stored", call_id=hostile(shadow.pbx_call_id), why="no record store")
            return
        record = shadow.document(outcome, intent)
        try:
            sid = await self.records.run(lambda r: store.save(
                r, access, shadow.call_key, shadow.pbx_call_id, shadow.caller_number, shadow.started_at, reason,
                outcome.outcome, intent, shadow.would_escalate, record))
        except Exception:  # noqa: BLE001  (a shadow record is not worth the edge; the log says it was lost)
            log.exception("shadow.store_failed", call_id=hostile(shadow.pbx_call_id))
            return
        log.info("shadow.stored", call_id=hostile(shadow.pbx_call_id), shadow_id=sid)
