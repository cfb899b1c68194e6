"""From an answered outbound call to the attempt's recorded result; the production handler.

Each placed aftercare call is kept in the record store like an inbound one, so the staff
console shows it: a `calls` row (direction outbound, linked to the patient) when the patient
answers, every escalation the moment the conversation raises it (`RecordedConversation`, the
same wrapper inbound calls use), and at hang-up the turns, the summary and the outcome. Like an
inbound call, the record and the live-call entry are named by the appliance's own call key
(never the PBX's Call-ID, which may repeat), and the writes go through `CallWriter` (retried;
an escalation the store cannot take is journaled). The attempt's result carries the call's row
id to the contact, with the answers to the check-in's questions (`slots["checkin_answers"]`), which
the scheduler keeps on the contact (`aftercare_contacts.answers`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from appliance.clinic.outbound import OutboundAftercareCall, OutboundContext
from appliance.clinic.outbound_lines import OutboundLines
from appliance.clinic.pack import Pack
from appliance.conversation import Conversation, ConversationOutcome
from appliance.live.briefs import transfer_brief
from appliance.live.recorded import RecordedConversation
from appliance.live.registry import LiveCalls
from appliance.logs import get_logger, hostile
from appliance.records.audit import Access
from appliance.records.base import iso
from appliance.records.calls import call_by_key
from appliance.records.callwriter import CallWriter
from appliance.records.ids import CallRef
from appliance.records.service import AsyncRecords
from appliance.scheduler.store import FLAGS, AttemptResult, Claim

log = get_logger(__name__)

# Runs the conversation on the call's media until hang-up: (media, conversation) -> (outcome, reason).
# The handlers pass the call's own media and a `RecordedConversation` whose `live` is the call's
# live-call entry: the voice session tells that entry of the transfers it starts.
SessionRunner = Callable[[Any, Conversation], Awaitable[tuple[ConversationOutcome, str]]]


def result_of(outcome: ConversationOutcome, call_row_id: int | None = None) -> AttemptResult:
    out = outcome.slots.get("outbound") or {}
    answers = {str(k): str(v) for k, v in (outcome.slots.get("checkin_answers") or {}).items()}
    return AttemptResult("answered", str(out.get("disposition") or "hung-up"), {k: bool(out.get(k)) for k in FLAGS},
                         call_row_id, answers)


def context_of(claim: Claim, written: str | None = None, earlier_concern: bool = False) -> OutboundContext:
    return OutboundContext(kind=claim.kind, day=claim.day, name=claim.name or "", dob=date.fromisoformat(claim.dob or ""),
                           workflow=claim.workflow, treated_on=claim.treated_on, phone=claim.phone,
                           product=claim.product, area=claim.area, session=claim.session, item=claim.item,
                           written=written, earlier_concern=earlier_concern)


def conversation_for(pack: Pack, lines: OutboundLines, claim: Claim, written: str | None = None,
                     earlier_concern: bool = False, at: datetime | None = None, **kw: Any) -> OutboundAftercareCall:
    """The call's conversation; its clock is the clinic-local time of `at` (default: now)."""
    now = (at or datetime.now(UTC)).astimezone(ZoneInfo(pack.clinic.timezone)).replace(tzinfo=None)
    return OutboundAftercareCall(pack, lines, context_of(claim, written, earlier_concern), now=now, **kw)


async def raised_before(records: AsyncRecords | None, claim: Claim, access: Access) -> bool:
    """A concern, complaint or escalation earlier in the treatment's follow-up (the last check-in
    then asks no satisfaction question). Unknown (no store, a failed read): True, the safe side."""
    if records is None:
        return True
    from appliance.messaging.reviews import followup_raised

    try:
        return await records.run(lambda r: followup_raised(r, access, claim.plan_id))
    except Exception:  # noqa: BLE001 - the call goes on without the question
        log.exception("outbound.followup_lookup_failed")
        return True


async def record_followup(records: AsyncRecords | None, pack: Pack, claim: Claim, outcome: ConversationOutcome,
                          channels: tuple[str, ...], access: Access) -> None:
    """The satisfaction answer and a review the patient said they left, on the treatment's plan;
    the review request when the rule allows it (appliance/messaging/reviews.py)."""
    slots = outcome.slots
    if records is None or ("satisfaction" not in slots and not slots.get("review_done")):
        return
    from appliance.messaging.reviews import record_followup as keep

    raised = bool(outcome.escalations or slots.get("complaint") or (slots.get("outbound") or {}).get("concern"))
    try:
        done = await records.run(lambda r: keep(r, access, pack, claim.plan_id, slots, raised=raised,
                                                channels=channels))
    except Exception:  # noqa: BLE001 - the call itself is recorded; staff see the answer in its transcript
        log.exception("outbound.followup_record_failed", plan=claim.plan_id)
        return
    log.info("outbound.followup_recorded", plan=claim.plan_id, satisfaction=done.satisfaction is not None,
             review_requested=done.review_requested is not None, review_done=done.review_done)


async def written_channel(records: AsyncRecords | None, plan_id: int) -> str | None:
    """The channel the plan's written instructions went out on (the day-1 call asks if they arrived)."""
    if records is None:
        return None
    from appliance.messaging.store import written_sent

    try:
        return await records.run(lambda r: written_sent(r, plan_id))
    except Exception:  # noqa: BLE001 - the call goes on without the question
        log.exception("outbound.written_lookup_failed")
        return None


def voice_session(engines: Any, settings: Any) -> SessionRunner:
    """The voice pipeline (Whisper, the clinic conversation, Piper) on the call's media; a recorded
    conversation's live-call entry observes the call's transfers."""

    async def run(media: Any, conversation: Conversation) -> tuple[ConversationOutcome, str]:
        from appliance.voice.session import VoiceSession

        observer = conversation.live if isinstance(conversation, RecordedConversation) else None
        session = VoiceSession(media, conversation, engines, settings, brief=transfer_brief, observer=observer)
        try:
            outcome = await session.run()
        except Exception:  # noqa: BLE001 - the patient was reached: keep what the conversation knows
            log.exception("outbound.session_failed", call_id=hostile(media.info.call_id))
            return conversation.ended("error"), "error"
        return outcome, getattr(session, "hangup_reason", None) or "ended"

    return run


class OutboundCallHandler:
    """`CallHandler` for the scheduler: run the outbound conversation on the answered call and keep
    the call in the record store.

    `records`: the service's record store (one writer thread for the appliance). Without it, the
    handler opens the database at `settings.db_path` itself on the first call and closes it in
    `aclose()` (the scheduler calls it on stop). `clock`: the time the conversation runs at (the
    scheduler's clock; default: now).
    """

    def __init__(self, pack: Pack, lines: OutboundLines, run_session: SessionRunner, *,
                 records: AsyncRecords | None = None, settings: Any = None, llm: Any = None,
                 live: LiveCalls | None = None, channels: tuple[str, ...] | None = None,
                 clock: Callable[[], datetime] | None = None, **kw: Any) -> None:
        self.clock = clock
        self.pack, self.lines, self.run_session = pack, lines, run_session
        # The clinic's message channels ([messages]): a review request goes out on one of them.
        self.channels = channels if channels is not None else (settings.messages.channels() if settings else ())
        self.records, self.settings, self.llm, self.kw = records, settings, llm, kw
        # The service's live-call registry (shared with inbound calls): an answered aftercare
        # call gets a line, shows on the live-calls page, and a page for its escalation can
        # connect the clinician to the patient still on the line.
        self.live = live or LiveCalls()
        self._own: AsyncRecords | None = None
        self._lock = asyncio.Lock()

    async def _store(self) -> AsyncRecords | None:
        if self.records is not None or self.settings is None:
            return self.records
        async with self._lock:
            if self._own is None:
                from appliance.records.rotate import resolve_key

                key = await asyncio.to_thread(resolve_key, self.settings.db_path, self.settings.db_key_file)
                own = AsyncRecords(self.settings.db_path, key, recording_enabled=self.settings.database.recording)
                try:
                    await own.open()
                except BaseException:
                    await own.close()
                    raise
                self._own = own
        return self._own

    async def aclose(self) -> None:
        if self._own is not None:
            own, self._own = self._own, None
            await own.close()

    async def __call__(self, claim: Claim, media: Any) -> AttemptResult:
        call_id = media.info.call_id
        access = Access(actor="system:outbound-call", reason="aftercare-call", call_id=call_id)
        records = await self._store()
        entry = self.live.open(media)  # the call's key names its live entry and its record alike
        writer: CallWriter | None = None
        if records is not None:
            ref = CallRef.of(call_id, "outbound", media.info.remote_number or None, key=entry.key,
                             started_at=iso(datetime.now(UTC)), patient_id=claim.patient_id, line=entry.line)
            writer = CallWriter(records, ref, access)
            await writer.start()  # a failure is logged; later writes create the row
        written = await written_channel(records, claim.plan_id) if claim.kind == "check-in" else None
        raised = await raised_before(records, claim, access) if claim.kind == "check-in" else False
        at = self.clock() if self.clock is not None else None
        inner = conversation_for(self.pack, self.lines, claim, written, raised, at, llm=self.llm, **self.kw)
        conversation = RecordedConversation(inner, records, access, self.pack, live=entry, writer=writer)
        reason = "error"
        try:
            outcome, reason = await self.run_session(media, conversation)
        finally:
            self.live.close(entry, reason)
        row_id: int | None = None
        if writer is not None:
            post = Access(actor="system:post-call", reason="post-call", call_id=call_id)
            await writer.finish(post, outcome, reason)  # retried; logged, never raised
            row_id = writer.row
            if row_id is None:  # the row was made after the start failed
                row_id = await self._row_of(writer)
            await record_followup(records, self.pack, claim, outcome, self.channels, post)
        log.info("outbound.call_finished", call_id=hostile(call_id), outcome=outcome.outcome, reason=reason,
                 turns=len(outcome.turns), escalations=len(outcome.escalations))
        return result_of(outcome, row_id)

    @staticmethod
    async def _row_of(writer: CallWriter) -> int | None:
        try:
            return await writer.records.run(lambda r: call_by_key(r.conn, writer.ref.key))
        except Exception:  # noqa: BLE001 - the contact's outcome is still recorded by the scheduler
            log.exception("outbound.record_lookup_failed", call_id=hostile(writer.ref.pbx_call_id))
            return None


def voice_handler(pack: Pack, lines: OutboundLines, engines: Any, settings: Any, *,
                  records: AsyncRecords | None = None, live: LiveCalls | None = None, **kw: Any) -> OutboundCallHandler:
    """The production handler: the voice pipeline speaks the outbound conversation on the answered
    call; the call, its escalations and its summary go to the record store (`records`, or the
    database in `settings` opened by the handler); the call is in `live` while it lasts."""
    return OutboundCallHandler(pack, lines, voice_session(engines, settings), records=records, settings=settings,
                               live=live, **kw)
