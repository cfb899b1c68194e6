"""One phone call, end to end: the clinic's conversation, spoken by the voice pipeline, kept
in the encrypted record store.

The SIP edge calls `CallRunner` with each answered call's media. The runner builds the
conversation from the approved protocol pack, records the call as it starts, records every
escalation the moment the conversation raises it (not at hang-up: staff are told at once),
runs the voice session to the end of the call, then stores the outcome and its summary.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import inspect
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from appliance.calls import CallMedia
from appliance.clinic.context import CallerContext
from appliance.clinic.pack import Pack
from appliance.clinic.schema import ResponseTime
from appliance.config import Settings
from appliance.conversation import (
    Action,
    Conversation,
    ConversationOutcome,
    Escalation,
    Reply,
    Say,
    Turn,
    confidence_kwargs,
    reply_items,
)
from appliance.live.briefs import transfer_brief
from appliance.live.registry import LiveCall, LiveCalls
from appliance.logs import get_logger, hostile
from appliance.records.audit import Access
from appliance.records.base import iso
from appliance.records.callwriter import CallWriter
from appliance.records.desk import RecordsDesk, store_appointment_changes
from appliance.records.ids import CallRef, clean_call_id, clean_name, clean_number
from appliance.records.service import AsyncRecords
from appliance.records.store import Records
from appliance.voice.engines import Engines

log = get_logger(__name__)


def response_minutes(pack: Pack, esc: Escalation) -> float:
    """The protocol's response-time target for an escalation: the workflow whose red flag raised
    it, else the strictest target in the pack (general red flags, questions outside the pack)."""
    workflows = [pack.workflows[wf] for flag, wf in pack.all_red_flags() if wf and flag.id == esc.detail]
    targets = [wf.response_time for wf in workflows or pack.workflows.values()]
    by_severity: dict[str, Callable[[ResponseTime], int]] = {
        "emergency": lambda t: t.emergency_minutes, "urgent": lambda t: t.urgent_minutes,
        "routine": lambda t: t.routine_hours * 60}
    per = by_severity[esc.severity]
    return float(min(per(t) for t in targets))


LOOKUP_TIMEOUT_S = 1.0  # the caller is waiting for the greeting


async def caller_context(records: AsyncRecords | None, access: Access, info: Any) -> tuple[CallerContext, int | None]:
    """What the conversation may know before the greeting: an inbound caller ID that belongs to
    exactly one patient makes a known (returning) patient, and links the call to them. Nothing
    else from the record is used (the person on the line may not be that patient, so no name
    is spoken), and a slow or failed lookup answers the call as an unknown caller."""
    phone = info.remote_number or None
    if records is None or phone is None or info.direction != "inbound":
        return CallerContext(phone=phone), None
    try:
        pid = await asyncio.wait_for(records.run(Records.patient_for_number, access, phone), LOOKUP_TIMEOUT_S)
    except Exception:  # noqa: BLE001  (TimeoutError included: answer the call, log it)
        log.warning("call.caller_lookup_failed", call_id=hostile(info.call_id))
        return CallerContext(phone=phone), None
    return CallerContext(phone=phone, known_patient=pid is not None), pid


def safe_info(info: Any) -> Any:
    """The call's identifiers as the appliance keeps them: Call-ID, number and display name made
    valid UTF-8 and bounded (a PBX may send any bytes; they must never stop the record)."""
    return dataclasses.replace(info, call_id=clean_call_id(info.call_id),
                               remote_number=clean_number(info.remote_number) or "",
                               remote_name=clean_name(info.remote_name),
                               local_number=clean_number(info.local_number) or "")


async def store_booking(records: AsyncRecords, access: Access, call_id: str, outcome: ConversationOutcome,
                        pack: Pack) -> int | None:
    """The slot a call booked, as an appointment (with its patient and requested deposit)."""
    from zoneinfo import ZoneInfo

    from appliance.records.bookings import PhoneBooking

    b = outcome.booking or {}
    deposit = b.get("deposit") or {}
    booking = PhoneBooking(
        provider=str(b["provider"]), start=datetime.fromisoformat(b["start"]).replace(tzinfo=ZoneInfo(pack.clinic.timezone)),
        minutes=int(b["minutes"]), kind=str(b.get("kind") or "treatment"), procedure=b.get("treatment"),
        name=outcome.slots.get("name") or None, phone=outcome.slots.get("phone") or None,
        deposit_cents=int(deposit.get("amount") or 0) * 100, currency=str(deposit.get("currency") or "USD"))
    aid: int | None = await records.run(Records.record_phone_booking, access, call_id, booking)
    log.info("call.booking_stored", call_id=hostile(call_id), stored=aid is not None, kind=booking.kind)
    return aid


async def booking_calendar(records: AsyncRecords | None, pack: Pack) -> Any:
    """The slot calendar for calls, seeded with the live appointments in the record store (so a
    restart or a staff booking never lets a call offer a taken slot)."""
    from zoneinfo import ZoneInfo

    from appliance.clinic.schedule import Booking, InMemoryBookingStore

    if records is None:
        return InMemoryBookingStore()
    tz = ZoneInfo(pack.clinic.timezone)
    access = Access(actor="system:scheduler", reason="slot calendar")
    taken = await records.run(Records.booked_slots, access, datetime.now(UTC) - timedelta(days=1))
    return InMemoryBookingStore([
        Booking(id=f"appointment-{i}", kind="booked", treatment=None, provider_id=provider,
                start=start.astimezone(tz).replace(tzinfo=None), minutes=int((end - start).total_seconds() // 60))
        for i, (provider, start, end) in enumerate(taken)])


def fallback_line(pack: Pack) -> Say:
    """The pack's approved urgent line ("... I'm transferring you to them ..."), protected: what a
    caller hears when their escalation could not be stored and they are transferred instead."""
    from appliance.clinic.engine import _Fill

    minutes = min(w.response_time.urgent_minutes for w in pack.workflows.values()) if pack.workflows else 15
    text = pack.dialogue.escalate_urgent.format_map(_Fill({"clinic": pack.clinic.name, "minutes": str(minutes)}))
    return Say(text, pack.prov("dialogue.escalate_urgent"), interruptible=False, cacheable=True)


class RecordedConversation:
    """A Conversation that writes each escalation to the record store as soon as it is raised.

    The engine keeps its outcome up to date as the call goes (`outcome`, or `out` for the
    clinic engine); every escalation that appears there after a caller turn is stored at once,
    with the same turn index the final outcome carries (so the post-call save does not add it twice).
    """

    def __init__(self, inner: Conversation, records: AsyncRecords | None, access: Access,
                 pack: Pack | None = None, live: LiveCall | None = None, writer: CallWriter | None = None) -> None:
        self.inner = inner
        self.live = live  # the call's entry in the live-call registry: told of planned transfers here,
        # of the transfers under way by the voice session (its `observer`)
        self.pack = pack
        self.records = records
        self.access = access
        self.writer = writer  # the call's record, by the appliance's own key (None: by access.call_id)
        self._stored = 0
        self._fallback_done = False  # the caller was told and transferred because the store failed

    def _live(self) -> ConversationOutcome | None:
        live = getattr(self.inner, "out", None) or getattr(self.inner, "outcome", None)
        return live if isinstance(live, ConversationOutcome) else None

    async def _escalate(self, reply: Reply) -> Reply:
        if self.live is not None:  # before the escalation is stored: the pager must see the planned transfer
            self.live.saw_reply(reply)
        live = self._live()
        fresh: list[Escalation] = live.escalations[self._stored:] if live else []
        unstored = False
        for esc in fresh:
            log.warning("call.escalation", call_id=hostile(self.access.call_id), severity=esc.severity,
                        category=esc.category)
            minutes = response_minutes(self.pack, esc) if self.pack else None
            if self.writer is not None:
                unstored = not await self.writer.escalation(esc, minutes) or unstored
            elif self.records is not None:
                await self.records.run(Records.record_escalation, self.access, self.access.call_id or "", esc, minutes)
            self._stored += 1
        if live is None and any(a.kind == "escalate" for a in reply.actions):
            log.error("call.escalation_unrecorded", call_id=hostile(self.access.call_id),
                      note="conversation engine exposes no live outcome")
        if unstored:
            reply = self._told_and_transferred(reply, live)
        self._commit_turns(live)
        return reply

    def _commit_turns(self, live: ConversationOutcome | None) -> None:
        if self.writer is not None and live is not None:
            self.writer.turns(live.turns)

    def _told_and_transferred(self, reply: Reply, live: ConversationOutcome | None) -> Reply:
        """No one was told of an escalation (the store did not take it): the caller hears the
        pack's approved transfer line (protected) and is warm-transferred to the on-call injector,
        unless the reply transfers them already. Once per call (a failed transfer is not retried)."""
        if self._fallback_done or any(a.kind == "transfer" for a in reply.actions):
            self._fallback_done = True
            return reply
        self._fallback_done = True
        say = fallback_line(self.pack) if self.pack else None
        if say is None or self.pack is None:
            log.error("call.escalation_untold", call_id=hostile(self.access.call_id), note="no pack to transfer with")
            return reply
        if live is not None:
            live.turns.append(Turn("agent", say.text, say.provenance))
        target = self.pack.clinic.on_call[0].extension
        log.warning("call.escalation_fallback_transfer", call_id=hostile(self.access.call_id), target=target)
        return Reply(says=(*reply.says, say), actions=(*reply.actions, Action("transfer", target=target, attended=True)))

    def start(self) -> Reply:
        reply = self.inner.start()
        with contextlib.suppress(RuntimeError):  # no running loop: nothing to commit to
            asyncio.get_running_loop()
            self._commit_turns(self._live())
        return reply

    async def caller_said(self, text: str, confidence: float | None = None) -> Reply:
        said = self.inner.caller_said
        return await self._escalate(await said(text, **confidence_kwargs(said, confidence)))

    async def caller_pressed(self, digit: str) -> Reply:
        return await self._escalate(await self.inner.caller_pressed(digit))

    async def caller_said_stream(self, text: str, confidence: float | None = None) -> AsyncIterator[Say | Reply]:
        """Streamed replies pass straight through; the escalations they raised are stored as
        soon as the stream ends (before the reply's actions, such as a transfer, are carried out)."""
        last: Reply | None = None
        async for item in reply_items(self.inner, text, confidence):
            if isinstance(item, Reply):
                last = item
            else:
                yield item
        yield await self._escalate(last or Reply())

    async def transfer_failed(self, target: str, detail: str) -> Reply:
        """The caller hears what happens next (the engine's approved line) and the failure is
        kept with the call; an engine that cannot say so gets a logged error, never silence."""
        handler = getattr(self.inner, "transfer_failed", None)
        log.warning("call.transfer_failed", call_id=hostile(self.access.call_id), target=hostile(target),
                    detail=hostile(detail))
        if handler is None:
            log.error("call.transfer_failed_unhandled", call_id=hostile(self.access.call_id))
            return Reply()
        reply = handler(target, detail)
        if inspect.isawaitable(reply):
            reply = await reply
        self._fallback_done = True  # a transfer was tried: the engine's line says what happens next
        return await self._escalate(reply)

    async def model_failed(self, role: str) -> Reply:
        """A model failed under the call: the engine's fallback reply, its escalation stored at once."""
        handler = getattr(self.inner, "model_failed", None)
        log.error("call.model_failed", call_id=hostile(self.access.call_id), role=role)
        if handler is None:
            return Reply()
        reply = handler(role)
        if inspect.isawaitable(reply):
            reply = await reply
        return await self._escalate(reply)

    def agent_heard(self, fraction: float) -> None:
        self.inner.agent_heard(fraction)

    def ended(self, reason: str) -> ConversationOutcome:
        return self.inner.ended(reason)

    def __getattr__(self, name: str) -> Any:  # optional protocol extensions of the inner engine
        return getattr(self.inner, name)


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

    async def caller_said(self, text: str, confidence: float | None = None) -> Reply:
        self.report({"type": "caller", "text": text})
        return await super().caller_said(text, confidence)

    async def caller_pressed(self, digit: str) -> Reply:
        self.report({"type": "caller", "text": f"(pressed {digit})"})
        return await super().caller_pressed(digit)

    async def caller_said_stream(self, text: str, confidence: float | None = None) -> AsyncIterator[Say | Reply]:
        self.report({"type": "caller", "text": text})
        async for item in super().caller_said_stream(text, confidence):
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
