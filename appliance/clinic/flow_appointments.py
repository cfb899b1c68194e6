"""Existing appointments by phone: confirm, cancel (the pack's cancellation policy) or move.

The caller is identified by caller ID (one patient's number) or by full name and date of birth,
and hears no more of the appointment than its day and time. The change is kept in the outcome
(`out.slots["appointment_changes"]`) and written to the record store when the call is saved,
as a booking is. Without a desk, a policy or the lines, the request becomes a message for staff.
"""

from __future__ import annotations

import re
from datetime import date
from functools import lru_cache

from appliance.clinic.appointments import Upcoming, cancel_terms
from appliance.clinic.call_context import CallContext
from appliance.clinic.errors import SlotTaken
from appliance.clinic.flow_booking import MAX_OFFERS, BookingFlow, spoken_time
from appliance.clinic.lexicon import alternation
from appliance.clinic.parsers import MONTHS, normalize, parse_date, person_name, refused, yes_no
from appliance.clinic.payments import StaffTask
from appliance.clinic.schema import DialogueKey
from appliance.clinic.states import State, StateError
from appliance.clinic.words import find, words
from appliance.conversation import Say
from appliance.logs import get_logger

log = get_logger(__name__)

APPOINTMENT_INTENTS = ("cancel", "reschedule", "confirm", "appointment")
_APPT_LINES: tuple[DialogueKey, ...] = (
    "appt_identify", "appt_ask_dob", "appt_ask_name", "appt_not_found", "appt_found", "appt_confirmed",
    "appt_cancel_check", "appt_cancel_check_late", "appt_cancelled", "appt_cancelled_refund", "appt_cancelled_kept",
    "appt_kept", "appt_move_intro", "appt_moved")  # without every one of them, such requests become messages


@lru_cache(maxsize=4)
def _date_start(language: str = "en") -> re.Pattern[str]:
    """Where the date of birth begins: a lead word ("born"), a month name, or a digit."""
    leads = [*words(language).dob_leads, *(m for m in MONTHS if m != "marks")]  # "Dana Marks": a name
    return re.compile(r"\b(?:" + alternation(leads) + r")\b|\d", re.I)


def _says(key: str, t: str) -> bool:
    """The normalised turn holds one of the lexicon's `appointment_answers.<key>` words."""
    return find(getattr(words().appointment_answers, key), t) is not None


def name_in(text: str) -> str | None:
    """The name in "Dana Lee, March 3rd 1985" or "my name is Dana Lee and I was born ...": the
    words before the date of birth."""
    head = _date_start().split(text, maxsplit=1)[0]
    return person_name(head.strip(" ,.;-")) if head.strip(" ,.;-") else None


def dob_in(text: str, today: date) -> date | None:
    found = parse_date(text.replace(",", " "), today, past=True)  # "April 12, 1985": the comma cuts the year
    return found if isinstance(found, date) and found.year < today.year else None


class AppointmentsFlow:
    """Confirm, cancel or move a booked appointment; slot offers come from the booking flow."""

    def __init__(self, ctx: CallContext, booking: BookingFlow) -> None:
        self.ctx = ctx
        self.booking = booking

    def _appt(self) -> Upcoming:
        appt = self.ctx.s.appt
        if appt is None:
            raise StateError(f"{self.ctx.s.state}: no appointment was found yet")
        return appt

    def _appt_ready(self) -> bool:
        d = self.ctx.pack.dialogue
        return self.ctx.desk is not None and all(d.text(k) for k in _APPT_LINES)

    async def start_appointment(self, op: str) -> list[Say]:
        """`op`: cancel | reschedule | confirm | appointment (the caller is asked which)."""
        ctx = self.ctx
        ctx.out.slots.setdefault("reasons", []).append(f"appointment-{op}")
        if ctx.desk is None or not self._appt_ready() or (op == "cancel" and ctx.pack.clinic.cancellation is None):
            return ctx.start_message()  # staff handle it from the message
        ctx.s.appt_op = op
        ctx.s.pending = None
        if ctx.caller.known_patient:
            found = await ctx.desk.for_caller()
            if found:
                return self._appt_found(found)
        ctx.s.state = State.APPT_IDENTIFY
        return [ctx.line("appt_identify")]

    async def on_appt_identify(self, text: str) -> list[Say] | None:
        ctx, s = self.ctx, self.ctx.s
        if refused(text):
            return [ctx.line("declined_ack")] + ctx.start_message()
        dob = dob_in(text, ctx.today)
        name = name_in(text) or (person_name(text) if dob is None else None)  # "May Chen": a name, not a month
        if name:
            s.appt_name = name
        if dob:
            s.appt_dob = dob
        if not (name or dob):
            return None  # one re-ask (reprompt), then a message
        if s.appt_name is None:
            return [ctx.line("appt_ask_name")]
        if s.appt_dob is None:
            return [ctx.line("appt_ask_dob")]
        if ctx.desk is None:
            return ctx.start_message()
        found = await ctx.desk.for_identity(s.appt_name, s.appt_dob)
        log.info("clinic.appointment_lookup", found=len(found))  # how many, never who
        if not found:
            return [ctx.line("appt_not_found")] + ctx.start_message()
        ctx.out.slots.setdefault("name", s.appt_name)
        return self._appt_found(found)

    def _appt_found(self, found: list[Upcoming]) -> list[Say]:
        appt = min(found, key=lambda a: a.start)  # the next one
        self.ctx.s.appt = appt
        when = spoken_time(appt.start)
        op = self.ctx.s.appt_op
        if op == "confirm":
            return self._appt_confirm()
        if op == "cancel":
            return self._appt_cancel_check()
        if op == "reschedule":
            return [self.ctx.line("appt_move_intro", when=when)] + self._appt_offer()
        self.ctx.s.state = State.APPT_WHAT
        return [self.ctx.line("appt_found", when=when)]

    async def on_appt_what(self, text: str) -> list[Say] | None:
        t = normalize(text)
        if _says("cancel", t):
            return self._appt_cancel_check()
        if _says("move", t):
            return [self.ctx.line("appt_move_intro", when=spoken_time(self._appt().start))] + self._appt_offer()
        if _says("confirm", t) or yes_no(text) == "yes":
            return self._appt_confirm()
        if yes_no(text) == "no":
            return self._appt_keep()
        return None

    def _appt_confirm(self) -> list[Say]:
        appt = self._appt()
        self._change("confirm", appt)
        self.ctx.s.state = State.ANYTHING_ELSE
        return [self.ctx.line("appt_confirmed", when=spoken_time(appt.start)), *self.before_visit(appt),
                self.ctx.line("anything_else")]

    def before_visit(self, appt: Upcoming) -> list[Say]:
        """The treatment's approved before-visit instructions ("arrive without makeup"), if any."""
        pack = self.ctx.pack
        wf = pack.workflows.get(appt.treatment or "") or (pack.workflow_of(appt.treatment) if appt.treatment else None)
        if wf is None or not wf.before_visit or not pack.dialogue.before_visit_intro:
            return []
        self.ctx.out.slots["before_visit_read"] = [x.id for x in wf.before_visit]
        return [self.ctx.line("before_visit_intro"), *(self.ctx.item(x) for x in wf.before_visit)]

    def _appt_keep(self) -> list[Say]:
        self.ctx.s.state = State.ANYTHING_ELSE
        return [self.ctx.line("appt_kept", when=spoken_time(self._appt().start)), self.ctx.line("anything_else")]

    def _appt_cancel_check(self) -> list[Say]:
        appt, policy = self._appt(), self.ctx.pack.clinic.cancellation
        if policy is None:
            return self.ctx.start_message()
        terms = cancel_terms(policy, appt, self.ctx.now)
        self.ctx.s.state = State.APPT_CANCEL_CHECK
        if terms.late and terms.deposit == "kept":
            return [self.ctx.line("appt_cancel_check_late", when=spoken_time(appt.start), hours=policy.notice_hours)]
        return [self.ctx.line("appt_cancel_check", when=spoken_time(appt.start))]

    async def on_appt_cancel_check(self, text: str) -> list[Say] | None:
        t = normalize(text)
        if _says("move", t) and not _says("cancel", t):
            return [self.ctx.line("appt_move_intro", when=spoken_time(self._appt().start))] + self._appt_offer()
        answer = yes_no(text)
        if answer == "yes" or (_says("cancel", t) and answer != "no"):
            return self._appt_cancel()
        if answer in ("no", "declined"):
            return self._appt_keep()
        return None

    def _appt_cancel(self) -> list[Say]:
        appt, policy = self._appt(), self.ctx.pack.clinic.cancellation
        if policy is None:
            return self.ctx.start_message()
        terms = cancel_terms(policy, appt, self.ctx.now)
        self._change("cancel", appt, late=terms.late, deposit=terms.deposit)
        key: dict[str, DialogueKey] = {"none": "appt_cancelled", "refunded": "appt_cancelled_refund",
                                       "kept": "appt_cancelled_kept"}
        self.ctx.s.state = State.ANYTHING_ELSE
        return [self.ctx.line(key[terms.deposit], when=spoken_time(appt.start)), self.ctx.line("anything_else")]

    def _appt_family(self) -> tuple[str | None, int]:
        appt, pack = self._appt(), self.ctx.pack
        t = pack.treatment(appt.treatment) if appt.treatment else None
        if t is None and appt.treatment in pack.workflows:
            return pack.workflows[appt.treatment].family, appt.minutes
        return (t.family if t else None), appt.minutes

    def _appt_offer(self) -> list[Say]:
        s, appt = self.ctx.s, self._appt()
        family, minutes = self._appt_family()
        offers = self.booking.find_and_hold(family, minutes, count=MAX_OFFERS + 1, provider=appt.provider)
        s.slots_offered = [o for o in offers if o.start != appt.start][:MAX_OFFERS]
        s.slot_index = 0
        if not s.slots_offered:
            return self._appt_no_slot()
        s.state = State.APPT_OFFER
        return [self.booking.slot_line("offer_slot", s.slots_offered[0])]

    def _appt_no_slot(self) -> list[Say]:
        self.ctx.tasks.append(StaffTask("call-back", {"reason": "reschedule-no-slot", "appointment": self._appt().id}))
        self.ctx.s.state = State.ANYTHING_ELSE
        return [self.ctx.line("no_slots"), self.ctx.line("anything_else")]

    async def on_appt_offer(self, text: str) -> list[Say] | None:
        ctx, s = self.ctx, self.ctx.s
        answer = yes_no(text)
        if answer in ("no", "declined", "unsure"):
            s.slot_index += 1
            if s.slot_index >= len(s.slots_offered):
                return self._appt_no_slot()
            return [self.booking.slot_line("slot_declined", s.slots_offered[s.slot_index])]
        if answer != "yes":
            return None
        slot, appt = s.slots_offered[s.slot_index], self._appt()
        try:
            held = ctx.scheduler.book(slot, "move", appt.treatment, ctx.out.slots.get("name"),
                                      ctx.out.slots.get("phone") or ctx.caller.phone)
        except SlotTaken:
            s.slot_index += 1
            if s.slot_index >= len(s.slots_offered):
                return self._appt_no_slot()
            return [self.booking.slot_taken_line(s.slots_offered[s.slot_index])]
        ctx.scheduler.release(ctx.holder)
        provider = ctx.scheduler.provider(held.provider_id)
        self._change("move", appt, start=held.start.isoformat(timespec="minutes"), minutes=held.minutes,
                     provider=provider.id)
        s.state = State.ANYTHING_ELSE
        return [ctx.line("appt_moved", when=spoken_time(held.start), provider=provider.name),
                *self.before_visit(appt), ctx.line("anything_else")]

    def appt_prompt(self) -> list[Say]:
        """The step's question again (after a re-ask or a fact)."""
        ctx, s = self.ctx, self.ctx.s
        if s.state == State.APPT_IDENTIFY:
            key: DialogueKey = "appt_identify" if not (s.appt_name or s.appt_dob) else (
                "appt_ask_dob" if s.appt_name else "appt_ask_name")
            return [ctx.line(key)]
        if s.state == State.APPT_WHAT:
            return [ctx.line("appt_found", when=spoken_time(self._appt().start))]
        if s.state == State.APPT_CANCEL_CHECK:
            return self._appt_cancel_check()
        if s.state == State.APPT_OFFER and s.slots_offered:
            return [self.booking.slot_line("offer_slot", s.slots_offered[s.slot_index])]
        return []

    def _change(self, op: str, appt: Upcoming, **detail: object) -> None:
        self.ctx.out.slots.setdefault("appointment_changes", []).append({"op": op, "appointment_id": appt.id, **detail})
        log.info("clinic.appointment_change", op=op, pack=self.ctx.pack.ref)
