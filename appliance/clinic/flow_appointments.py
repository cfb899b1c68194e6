"""Existing appointments by phone: confirm, cancel (the pack's cancellation policy) or move.

The caller is identified by caller ID (one patient's number) or by full name and date of birth,
and hears no more of the appointment than its day and time. The change is kept in the outcome
(`out.slots["appointment_changes"]`) and written to the record store when the call is saved,
as a booking is. Without a desk, a policy or the lines, the request becomes a message for staff.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any

from appliance.clinic.appointments import Upcoming, cancel_terms
from appliance.clinic.errors import SlotTaken
from appliance.clinic.flow_booking import MAX_OFFERS, spoken_time
from appliance.clinic.parsers import normalize, parse_date, person_name, refused, yes_no
from appliance.clinic.payments import StaffTask
from appliance.conversation import Say
from appliance.logs import get_logger

log = get_logger(__name__)

APPOINTMENT_INTENTS = ("cancel", "reschedule", "confirm", "appointment")
_DATE_START = re.compile(r"\b(born|date of birth|birthday|birth date|dob|d o b|and my|my birthday|"
                         r"january|february|march|april|may|june|july|august|september|october|november|"
                         r"december|jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|nov|dec)\b|\d", re.I)
_MOVE = re.compile(r"\b(move|reschedule|change|another (?:time|day)|different (?:time|day)|later|earlier)\b")
_CANCEL = re.compile(r"\bcancel")
_CONFIRM = re.compile(r"\b(confirm|keep it|keep the|that's fine|still coming|i'll be there|i will be there)\b")


def name_in(text: str) -> str | None:
    """The name in "Dana Lee, March 3rd 1985" or "my name is Dana Lee and I was born ...": the
    words before the date of birth."""
    head = _DATE_START.split(text, maxsplit=1)[0]
    return person_name(head.strip(" ,.;-")) if head.strip(" ,.;-") else None


def dob_in(text: str, today: date) -> date | None:
    found = parse_date(text.replace(",", " "), today, past=True)  # "April 12, 1985": the comma cuts the year
    return found if isinstance(found, date) and found.year < today.year else None


class AppointmentsFlow:
    """Mixin for ClinicConversation."""

    s: Any
    pack: Any
    out: Any
    now: datetime
    today: date
    caller: Any
    desk: Any
    scheduler: Any
    tasks: list[StaffTask]

    def _appt_ready(self) -> bool:
        d = self.pack.dialogue
        return self.desk is not None and all(getattr(d, k) for k in (
            "appt_identify", "appt_ask_dob", "appt_ask_name", "appt_not_found", "appt_found", "appt_confirmed",
            "appt_cancel_check", "appt_cancel_check_late", "appt_cancelled", "appt_cancelled_refund",
            "appt_cancelled_kept", "appt_kept", "appt_move_intro", "appt_moved"))

    async def start_appointment(self, op: str) -> list[Say]:
        """`op`: cancel | reschedule | confirm | appointment (the caller is asked which)."""
        self.out.slots.setdefault("reasons", []).append(f"appointment-{op}")
        if not self._appt_ready() or (op == "cancel" and self.pack.clinic.cancellation is None):
            return self.start_message()  # staff handle it from the message
        self.s.appt_op = op
        self.s.pending = None
        if self.caller.known_patient:
            found = await self.desk.for_caller()
            if found:
                return self._appt_found(found)
        self.s.state = "appt_identify"
        return [self.line("appt_identify")]

    async def on_appt_identify(self, text: str) -> list[Say] | None:
        if refused(text):
            return [self.line("declined_ack")] + self.start_message()
        dob = dob_in(text, self.today)
        name = name_in(text) or (person_name(text) if dob is None else None)  # "May Chen": a name, not a month
        if name:
            self.s.appt_name = name
        if dob:
            self.s.appt_dob = dob
        if not (name or dob):
            return None  # one re-ask (reprompt), then a message
        if self.s.appt_name is None:
            return [self.line("appt_ask_name")]
        if self.s.appt_dob is None:
            return [self.line("appt_ask_dob")]
        found = await self.desk.for_identity(self.s.appt_name, self.s.appt_dob)
        log.info("clinic.appointment_lookup", found=len(found))  # how many, never who
        if not found:
            return [self.line("appt_not_found")] + self.start_message()
        self.out.slots.setdefault("name", self.s.appt_name)
        return self._appt_found(found)

    def _appt_found(self, found: list[Upcoming]) -> list[Say]:
        appt = min(found, key=lambda a: a.start)  # the next one
        self.s.appt = appt
        when = spoken_time(appt.start)
        op = self.s.appt_op
        if op == "confirm":
            return self._appt_confirm()
        if op == "cancel":
            return self._appt_cancel_check()
        if op == "reschedule":
            return [self.line("appt_move_intro", when=when)] + self._appt_offer()
        self.s.state = "appt_what"
        return [self.line("appt_found", when=when)]

    async def on_appt_what(self, text: str) -> list[Say] | None:
        t = normalize(text)
        if _CANCEL.search(t):
            return self._appt_cancel_check()
        if _MOVE.search(t):
            return [self.line("appt_move_intro", when=spoken_time(self.s.appt.start))] + self._appt_offer()
        if _CONFIRM.search(t) or yes_no(text) == "yes":
            return self._appt_confirm()
        if yes_no(text) == "no":
            return self._appt_keep()
        return None

    def _appt_confirm(self) -> list[Say]:
        appt = self.s.appt
        self._change("confirm", appt)
        self.s.state = "anything_else"
        return [self.line("appt_confirmed", when=spoken_time(appt.start)), *self.before_visit(appt),
                self.line("anything_else")]

    def before_visit(self, appt: Upcoming) -> list[Say]:
        """The treatment's approved before-visit instructions ("arrive without makeup"), if any."""
        wf = self.pack.workflows.get(appt.treatment or "") or (
            self.pack.workflow_of(appt.treatment) if appt.treatment else None)
        if wf is None or not wf.before_visit or not self.pack.dialogue.before_visit_intro:
            return []
        self.out.slots["before_visit_read"] = [x.id for x in wf.before_visit]
        return [self.line("before_visit_intro"), *(self.item(x) for x in wf.before_visit)]

    def _appt_keep(self) -> list[Say]:
        self.s.state = "anything_else"
        return [self.line("appt_kept", when=spoken_time(self.s.appt.start)), self.line("anything_else")]

    def _appt_cancel_check(self) -> list[Say]:
        appt, policy = self.s.appt, self.pack.clinic.cancellation
        if policy is None:
            return self.start_message()
        terms = cancel_terms(policy, appt, self.now)
        self.s.state = "appt_cancel_check"
        if terms.late and terms.deposit == "kept":
            return [self.line("appt_cancel_check_late", when=spoken_time(appt.start), hours=policy.notice_hours)]
        return [self.line("appt_cancel_check", when=spoken_time(appt.start))]

    async def on_appt_cancel_check(self, text: str) -> list[Say] | None:
        t = normalize(text)
        if _MOVE.search(t) and not _CANCEL.search(t):
            return [self.line("appt_move_intro", when=spoken_time(self.s.appt.start))] + self._appt_offer()
        answer = yes_no(text)
        if answer == "yes" or (_CANCEL.search(t) and answer != "no"):
            return self._appt_cancel()
        if answer in ("no", "declined"):
            return self._appt_keep()
        return None

    def _appt_cancel(self) -> list[Say]:
        appt, policy = self.s.appt, self.pack.clinic.cancellation
        terms = cancel_terms(policy, appt, self.now)
        self._change("cancel", appt, late=terms.late, deposit=terms.deposit)
        key = {"none": "appt_cancelled", "refunded": "appt_cancelled_refund", "kept": "appt_cancelled_kept"}
        self.s.state = "anything_else"
        return [self.line(key[terms.deposit], when=spoken_time(appt.start)), self.line("anything_else")]

    def _appt_family(self) -> tuple[str | None, int]:
        appt = self.s.appt
        t = self.pack.treatment(appt.treatment) if appt.treatment else None
        if t is None and appt.treatment in self.pack.workflows:
            return self.pack.workflows[appt.treatment].family, appt.minutes
        return (t.family if t else None), appt.minutes

    def _appt_offer(self) -> list[Say]:
        family, minutes = self._appt_family()
        offers = self.scheduler.find(family, minutes, self.now, count=MAX_OFFERS + 1, provider=self.s.appt.provider)
        self.s.slots_offered = [o for o in offers if o.start != self.s.appt.start][:MAX_OFFERS]
        self.s.slot_index = 0
        if not self.s.slots_offered:
            return self._appt_no_slot()
        self.s.state = "appt_offer"
        return [self.slot_line("offer_slot", self.s.slots_offered[0])]

    def _appt_no_slot(self) -> list[Say]:
        self.tasks.append(StaffTask("call-back", {"reason": "reschedule-no-slot", "appointment": self.s.appt.id}))
        self.s.state = "anything_else"
        return [self.line("no_slots"), self.line("anything_else")]

    async def on_appt_offer(self, text: str) -> list[Say] | None:
        answer = yes_no(text)
        if answer in ("no", "declined", "unsure"):
            self.s.slot_index += 1
            if self.s.slot_index >= len(self.s.slots_offered):
                return self._appt_no_slot()
            return [self.slot_line("slot_declined", self.s.slots_offered[self.s.slot_index])]
        if answer != "yes":
            return None
        slot, appt = self.s.slots_offered[self.s.slot_index], self.s.appt
        try:
            held = self.scheduler.book(slot, "move", appt.treatment, self.out.slots.get("name"),
                                       self.out.slots.get("phone") or self.caller.phone)
        except SlotTaken:
            self.s.slot_index += 1
            if self.s.slot_index >= len(self.s.slots_offered):
                return self._appt_no_slot()
            return [self.slot_line("slot_declined", self.s.slots_offered[self.s.slot_index])]
        provider = self.scheduler.provider(held.provider_id)
        self._change("move", appt, start=held.start.isoformat(timespec="minutes"), minutes=held.minutes,
                     provider=provider.id)
        self.s.state = "anything_else"
        return [self.line("appt_moved", when=spoken_time(held.start), provider=provider.name),
                *self.before_visit(appt), self.line("anything_else")]

    def appt_prompt(self) -> list[Say]:
        """The step's question again (after a re-ask or a fact)."""
        state, appt = self.s.state, self.s.appt
        if state == "appt_identify":
            key = "appt_identify" if not (self.s.appt_name or self.s.appt_dob) else (
                "appt_ask_dob" if self.s.appt_name else "appt_ask_name")
            return [self.line(key)]
        if state == "appt_what":
            return [self.line("appt_found", when=spoken_time(appt.start))]
        if state == "appt_cancel_check":
            return self._appt_cancel_check()
        if state == "appt_offer" and self.s.slots_offered:
            return [self.slot_line("offer_slot", self.s.slots_offered[self.s.slot_index])]
        return []

    def _change(self, op: str, appt: Upcoming, **detail: object) -> None:
        self.out.slots.setdefault("appointment_changes", []).append({"op": op, "appointment_id": appt.id, **detail})
        log.info("clinic.appointment_change", op=op, pack=self.pack.ref)
