"""One phone call, end to end: the clinic's conversation, spoken by the voice pipeline, kept
in the encrypted record store.

The SIP edge calls `CallRunner` with each answered call's media. The runner builds the
conversation from the approved protocol pack, records the call as it starts, records every
escalation the moment the conversation raises it (not at hang-up: staff are told at once),
runs the voice session to the end of the call, then stores the outcome and its summary.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

from appliance.calls import CallMedia
from appliance.clinic.context import CallerContext
from appliance.clinic.pack import Pack
from appliance.config import Settings
from appliance.conversation import (
    Conversation,
    ConversationOutcome,
    Reply,
    Say,
)
from appliance.live.briefs import transfer_brief
from appliance.live.recorded import RecordedConversation
from appliance.live.registry import LiveCalls
from appliance.logs import get_logger, hostile
from appliance.records.audit import Access
from appliance.records.base import iso
from appliance.records.callstart import caller_context, safe_info, store_booking
from appliance.records.callwriter import CallWriter
from appliance.records.desk import RecordsDesk, store_appointment_changes
from appliance.records.ids import CallRef
from appliance.records.service import AsyncRecords
from appliance.voice.engines import Engines

log = get_logger(__name__)


class CallRunner:
    """The SIP edge's call handler."""

    def __init__(self, settings: Settings, engines: Engines, pack: Pack, records: AsyncRecords | None,
                 scheduler: Any, llm: Any = None, live: LiveCalls | None = None) -> None:
        self.settings = settings
        self.engines = engines
        self.pack = pack
        self.records = records
        self.scheduler = scheduler
        self.llm = llm
        self.active = 0
        self.live = live or LiveCalls()  # calls in progress by call key (the pager connects patients)
        self.after_call: Any = None  # awaited with (info, outcome) as a call ends: the front desk's call-backs
        from appliance.golive.gate import is_demo

        self.demo = is_demo(pack)  # demo content answers test calls only (appliance.golive)

    async def __call__(self, media: CallMedia) -> None:
        from appliance.clinic.service import new_conversation
        from appliance.golive.calls import call_policy
        from appliance.golive.gate import admits, not_in_service
        from appliance.golive.pilot import PilotConversation
        from appliance.voice.session import VoiceSession

        if not admits(self.settings, self.demo, media.info):
            await not_in_service(media, self.engines.tts, self.settings.site.front_desk_extension)
            return
        info = safe_info(media.info)  # what the PBX sent, as bounded valid UTF-8: storable
        access = Access(actor="system:call", reason="call", call_id=info.call_id)
        caller, patient_id = await caller_context(self.records, access, info)
        desk = RecordsDesk(self.records, access, patient_id, self.pack.clinic.timezone) if self.records else None
        engine = new_conversation(self.pack, self.settings, caller=caller, scheduler=self.scheduler, llm=self.llm,
                                  desk=desk)
        policy = await call_policy(self.settings, self.records)  # the pilot and supervised period, as they stand
        inner: Conversation = PilotConversation(engine, policy.pilot, info.call_id) if policy.pilot.active else engine
        entry = self.live.open(media)
        writer: CallWriter | None = None
        if self.records is not None:  # the call's own row, keyed by the appliance (a Call-ID may be reused)
            ref = CallRef.of(info.call_id, info.direction, info.remote_number, key=entry.key,
                             started_at=iso(datetime.now(UTC)), patient_id=patient_id, line=entry.line)
            writer = CallWriter(self.records, ref, access)
        conversation = RecordedConversation(inner, self.records, access, self.pack, live=entry, writer=writer)
        started = time.monotonic()
        self.active += 1
        log.info("call.started", call_id=hostile(info.call_id), direction=info.direction, active=self.active)
        if writer is not None:
            await writer.start()
        session = VoiceSession(media, conversation, self.engines, self.settings, brief=transfer_brief,
                               observer=entry)
        outcome: ConversationOutcome | None = None
        try:
            outcome = await session.run()
        finally:
            self.active -= 1
            self.live.close(entry, getattr(session, "hangup_reason", None) or "ended")
            if outcome is None:  # the session failed: still close the record with what the engine knows
                outcome = conversation.ended("error")
            reason = getattr(session, "hangup_reason", None) or "ended"
            if self.records is not None and writer is not None:
                post = Access(actor="system:post-call", reason="post-call", call_id=info.call_id)
                await writer.finish(post, outcome, reason)
                held = await self._golive_after(post, writer.ref.key, engine, outcome, policy)
                if outcome.booking and not held:
                    await store_booking(self.records, post, writer.ref.key, outcome, self.pack)
                changes = outcome.slots.get("appointment_changes") or []
                if changes and not held:  # supervised: staff see them in the call's summary and act
                    await store_appointment_changes(self.records, post, writer.ref.key, changes,
                                                    self.pack.clinic.timezone, turn=len(outcome.turns) - 1)
            log.info("call.finished", call_id=hostile(info.call_id), outcome=outcome.outcome, reason=reason,
                     turns=len(outcome.turns), escalations=len(outcome.escalations),
                     seconds=round(time.monotonic() - started, 1))
            if self.after_call is not None:  # must not raise (appliance.scheduler.desk_runner)
                await self.after_call(info, outcome)


    async def _golive_after(self, access: Access, key: str, engine: Any, outcome: ConversationOutcome,
                            policy: Any) -> bool:
        """The call's workflow noted; in the supervised period its booking held for review."""
        from appliance.golive.calls import after_call

        if self.records is None:  # no record store: nothing to note or hold
            return False
        try:
            return await after_call(self.records, access, key, engine, outcome, policy, self.pack.clinic.timezone)
        except Exception:  # noqa: BLE001  (the call's record is stored; a held booking must not be lost silently)
            log.exception("golive.after_call_failed", call_id=hostile(access.call_id or ""))
            return bool(policy.supervised)  # supervised: never released without review


class ShadowConversation(RecordedConversation):
    """A test call's conversation: the approved engine itself, with every turn, reply and
    escalation reported to the page instead of the record store (shadow mode: nothing a test
    call says is kept as a patient record, and nobody is paged)."""

    def __init__(self, inner: Conversation, report: Callable[[dict[str, Any]], None], call_id: str) -> None:
        super().__init__(inner, None, Access(actor="system:test-call", reason="test-call", call_id=call_id))
        self.report = report

    def _said(self, says: tuple[Say, ...] | list[Say]) -> None:
        for say in says:
            self.report({"type": "agent", "text": say.text, "approved": say.provenance is not None})

    async def _escalate(self, reply: Reply) -> Reply:
        """The reply and the escalations it raised go to the page, never to the store or a pager."""
        self._said(reply.says)
        live = self._live()
        fresh = live.escalations[self._stored:] if live else []
        for esc in fresh:
            self.report({"type": "escalation", "severity": esc.severity, "category": esc.category, "paged": False})
        self._stored += len(fresh)
        return reply

    def start(self) -> Reply:
        reply = super().start()
        self._said(reply.says)
        return reply

    async def caller_said(self, text: str, confidence: float | None = None, also_heard: str | None = None) -> Reply:
        self.report({"type": "caller", "text": text})
        return await super().caller_said(text, confidence, also_heard)

    async def caller_pressed(self, digit: str) -> Reply:
        self.report({"type": "caller", "text": f"(pressed {digit})"})
        return await super().caller_pressed(digit)

    async def caller_said_stream(self, text: str, confidence: float | None = None,
                                 also_heard: str | None = None) -> AsyncIterator[Say | Reply]:
        self.report({"type": "caller", "text": text})
        async for item in super().caller_said_stream(text, confidence, also_heard):
            if isinstance(item, Say):
                self._said([item])
            yield item


class TestCallRunner:
    """Browser test calls: the approved pack, the conversation engine and the voice pipeline of
    a phone call, in shadow mode. Bookings go to a scheduler of their own (a test takes no real
    slot), transfers and pages are not placed, and nothing is written to patients' records."""

    __test__ = False  # not a pytest class

    def __init__(self, settings: Settings, engines: Engines, pack: Pack, llm: Any = None) -> None:
        from appliance.clinic.schedule import InMemoryBookingStore, Scheduler

        self.settings = settings
        self.engines = engines
        self.pack = pack
        self.llm = llm
        self.scheduler = Scheduler(pack.clinic, InMemoryBookingStore())

    async def __call__(self, media: Any) -> ConversationOutcome:
        """Run one test call (`media`: a `WebRtcMedia`) to its end and report the outcome to the page."""
        from appliance.clinic.service import new_conversation
        from appliance.voice.session import VoiceSession

        inner = new_conversation(self.pack, self.settings, caller=CallerContext(phone=None), scheduler=self.scheduler,
                                 llm=self.llm)
        conversation = ShadowConversation(inner, media.report, media.info.call_id)
        session = VoiceSession(media, conversation, self.engines, self.settings, brief=transfer_brief)
        outcome = await session.run()
        media.report({"type": "ended", "outcome": outcome.outcome, "reason": session.hangup_reason,
                      "escalations": len(outcome.escalations)})
        return outcome
