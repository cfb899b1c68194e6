"""From an answered front-desk call to the contact's result; the production handler.

A reminder runs the pack's reminder conversation (`appliance.clinic.reminder.reminder_call`:
identity by name and date of birth, then confirm / move / cancel); a call-back runs the clinic
conversation with the call-back greeting (`callback_call`), with the record store's desk so
the caller can manage their appointments. A concern follow-up runs `concern_follow_up_call`
(identity, then better / the same / worse; anything but "better" is escalated again, on this
call, and paged like every escalation). Like an aftercare call, the call is an outbound
`calls` row (turns, summary, escalations stored as they are raised), and after it the
appointment changes and any booking are written as for an inbound call (not in the supervised
period: staff see them in the summary).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from appliance.clinic.clinic_clock import clinic_now
from appliance.clinic.context import CallerContext
from appliance.clinic.pack import Pack
from appliance.conversation import Conversation
from appliance.live.recorded import RecordedConversation
from appliance.live.registry import LiveCalls
from appliance.logs import get_logger, hostile
from appliance.records.audit import Access
from appliance.records.base import iso
from appliance.records.callstart import store_booking
from appliance.records.callwriter import CallWriter
from appliance.records.desk import RecordsDesk, store_appointment_changes, upcoming_of
from appliance.records.ids import CallRef
from appliance.records.service import AsyncRecords
from appliance.scheduler.calls import OutboundCallHandler, SessionRunner, voice_session
from appliance.scheduler.desk_plan import disposition_of, follow_up_disposition, said_something
from appliance.scheduler.desk_store import DeskClaim, DeskResult

log = get_logger(__name__)


class DeskCallHandler:
    """`CallHandler` of the desk runner. `scheduler`: the booking scheduler the inbound calls use
    (the slot calendar), so a move or a booking on this call never takes a slot twice."""

    def __init__(self, pack: Pack, lines: Any, run_session: SessionRunner, *, records: AsyncRecords, scheduler: Any,
                 settings: Any = None, llm: Any = None, live: LiveCalls | None = None) -> None:
        self.pack, self.lines, self.run_session = pack, lines, run_session
        self.records, self.scheduler, self.settings, self.llm = records, scheduler, settings, llm
        self.live = live or LiveCalls()

    def conversation(self, claim: DeskClaim, access: Access) -> Conversation:
        from appliance.clinic.reminder import callback_call, reminder_call

        tz = self.pack.clinic.timezone
        now = clinic_now(self.pack)
        if claim.kind == "concern_follow_up":
            from appliance.clinic.concern_call import concern_follow_up_call

            esc = claim.escalation or {}
            raised = datetime.fromisoformat(esc["raised_at"]).astimezone(ZoneInfo(tz)).date() \
                if esc.get("raised_at") else now.date()
            return concern_follow_up_call(self.pack, self.lines, escalation_id=int(esc.get("id") or 0), raised_on=raised,
                                          name=claim.name or "", dob=date.fromisoformat(claim.dob) if claim.dob else None,
                                          phone=claim.phone, now=now, scheduler=self.scheduler, llm=self.llm)
        if claim.kind == "reminder":
            appt = upcoming_of(claim.appointment or {}, ZoneInfo(tz))
            return reminder_call(self.pack, self.lines, appt=appt, name=claim.name or "",
                                 dob=date.fromisoformat(claim.dob) if claim.dob else None, phone=claim.phone, now=now,
                                 scheduler=self.scheduler, llm=self.llm)
        caller = CallerContext(phone=claim.phone, known_patient=claim.patient_id is not None)
        return callback_call(self.pack, caller=caller, now=now, scheduler=self.scheduler, llm=self.llm,
                             desk=RecordsDesk(self.records, access, claim.patient_id, tz))

    async def _supervised(self) -> bool:
        if self.settings is None:
            return False
        from appliance.golive.calls import call_policy

        try:
            return bool((await call_policy(self.settings, self.records)).supervised)
        except Exception:  # noqa: BLE001 - unknown: never write without review
            log.exception("desk.policy_failed")
            return True

    async def __call__(self, claim: DeskClaim, media: Any) -> DeskResult:
        call_id = media.info.call_id
        access = Access(actor="system:desk-call", reason=f"{claim.kind}-call", call_id=call_id)
        entry = self.live.open(media)
        ref = CallRef.of(call_id, "outbound", media.info.remote_number or None, key=entry.key,
                         started_at=iso(datetime.now(UTC)), patient_id=claim.patient_id, line=entry.line)
        writer = CallWriter(self.records, ref, access)
        await writer.start()
        conversation = RecordedConversation(self.conversation(claim, access), self.records, access, self.pack,
                                            live=entry, writer=writer)
        reason = "error"
        try:
            outcome, reason = await self.run_session(media, conversation)
        finally:
            self.live.close(entry, reason)
        post = Access(actor="system:post-call", reason="post-call", call_id=call_id)
        await writer.finish(post, outcome, reason)
        row_id = writer.row if writer.row is not None else await OutboundCallHandler._row_of(writer)  # noqa: SLF001
        if not await self._supervised():
            tz = self.pack.clinic.timezone
            try:
                if outcome.booking:
                    await store_booking(self.records, post, writer.ref.key, outcome, self.pack)
                changes = outcome.slots.get("appointment_changes") or []
                if changes:
                    await store_appointment_changes(self.records, post, writer.ref.key, changes, tz,
                                                    turn=len(outcome.turns) - 1)
            except Exception:  # noqa: BLE001 - the call is stored; the contact's result still counts
                log.exception("desk.post_call_failed", call_id=hostile(call_id))
        disposition = follow_up_disposition(outcome.slots) if claim.kind == "concern_follow_up" else \
            disposition_of(outcome.slots, talked=said_something(outcome.turns), booked=bool(outcome.booking))
        out = outcome.slots.get("outbound") or {}
        log.info("desk.call_finished", call_id=hostile(call_id), kind=claim.kind, disposition=disposition,
                 reason=reason, turns=len(outcome.turns), escalations=len(outcome.escalations))
        return DeskResult("answered", disposition, row_id, opted_out=bool(out.get("opted_out")))


def desk_voice_handler(pack: Pack, lines: Any, engines: Any, settings: Any, *, records: AsyncRecords, scheduler: Any,
                       live: LiveCalls | None = None, llm: Any = None) -> DeskCallHandler:
    """The production handler: the voice pipeline on the answered call, the record store's calls."""
    return DeskCallHandler(pack, lines, voice_session(engines, settings), records=records, scheduler=scheduler,
                           settings=settings, llm=llm, live=live)

