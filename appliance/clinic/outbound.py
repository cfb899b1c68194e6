"""The outbound aftercare / recall call: `appliance.conversation.Conversation`, pure.

    opener -> name -> date of birth            (nothing about the patient is said before this)
       | answering machine / wrong person      -> the approved no-PHI message, end
       | identity not confirmed (two tries)    -> the approved no-PHI line, end
    verified -> the day-N script: intro, the check-in's purpose (its lines and topic answers, the
                instructions on the first check-in), its questions one by one -> "any concern?"
                (appliance/clinic/checkin.py)
       | concern / red flag                    -> the clinic engine's concern and red-flag flow
       | no concern                            -> confirm; on the last check-in, satisfaction 1-5
                                                  (appliance/clinic/satisfaction.py); remind the
                                                  review, then offer booking
    "please stop calling" at any point         -> acknowledged, recorded as an opt-out, end

Red flags are the clinic engine's (`redflags.detect` over the pack, `CallContext.escalate`),
checked on every caller turn before anything else. After verification the engine itself runs
the concern, escalation and booking steps; this class only adds what an outbound call needs:
its own steps (`OUTBOUND_STEPS`, one handler per state of `states.OUTBOUND_STATES`, checked at
import) and its closing lines (the engine's `closing`).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Final

from appliance.clinic.appointments import AppointmentDesk
from appliance.clinic.checkin import CheckInSteps
from appliance.clinic.context import CallerContext
from appliance.clinic.engine import ClinicConversation
from appliance.clinic.flow_booking import spoken_time
from appliance.clinic.outbound_lines import OutboundLines
from appliance.clinic.pack import Pack
from appliance.clinic.parsers import normalize, parse_date, person_name, yes_no
from appliance.clinic.rebooking import Window, recall_from
from appliance.clinic.redflags import mentioned
from appliance.clinic.satisfaction import SatisfactionSteps
from appliance.clinic.schedule import Scheduler
from appliance.clinic.schema import Line, OutboundKey, Workflow
from appliance.clinic.states import OUTBOUND_STATES, State, StateError, check_steps
from appliance.conversation import ConversationOutcome, LanguageModel, Reply, Say, Turn

_INTRO: dict[str, OutboundKey] = {"check-in": "intro_check_in", "review": "intro_review", "touch-up": "intro_touch_up",
                                  "recall": "intro_recall", "series": "intro_series"}
_BOOKING_KIND = {"review": "a review appointment", "touch-up": "a touch-up appointment",
                 "recall": "your next treatment", "series": "your next session"}


@dataclass(frozen=True)
class OutboundContext:
    """What the scheduler knows about the contact (from the plan and the patient record)."""

    kind: str  # check-in | review | touch-up | recall | series
    day: int
    name: str
    dob: date | None  # None: no date of birth on file (a patient who booked by phone): the full name alone
    workflow: str
    treated_on: date
    phone: str | None = None
    product: str | None = None
    area: str | None = None
    session: int | None = None
    item: str | None = None
    written: str | None = None  # the channel the written instructions went out on ('sms', 'email'), if any
    earlier_concern: bool = False  # a concern, complaint or escalation earlier in this treatment's follow-up


def _names(text: str) -> list[str]:
    return re.findall(r"[a-z]+", normalize(text))


def name_matches(said: str, expected: str) -> bool:
    """First and last name both said (in any order, case and punctuation aside)."""
    want = _names(expected)
    got = set(_names(said))
    return len(want) >= 1 and want[0] in got and want[-1] in got


def _said_any(text: str, phrases: list[str]) -> bool:
    return any(mentioned(text, p) for p in phrases)


class OutboundAftercareCall:
    """`appliance.conversation.Conversation`: one outbound aftercare / recall contact. The clinic
    engine (`e`, with the outbound closing lines) runs inside it; its own steps come first."""

    def __init__(self, pack: Pack, lines: OutboundLines, contact: OutboundContext, *, now: datetime,
                 scheduler: Scheduler | None = None, llm: LanguageModel | None = None) -> None:
        self.pack, self.lines, self.c, self.now = pack, lines, contact, now
        self.wf: Workflow | None = pack.workflows[contact.workflow]
        caller = CallerContext(phone=contact.phone, known_patient=True, name=contact.name, procedure=contact.workflow,
                               product=contact.product, area=contact.area, treated_on=contact.treated_on,
                               session=contact.session)
        self._open(caller, scheduler=scheduler, llm=llm)

    def _open(self, caller: CallerContext, *, scheduler: Scheduler | None, llm: LanguageModel | None,
              desk: AppointmentDesk | None = None) -> None:
        """The clinic engine inside the call, at the identity check."""
        self.e = ClinicConversation(self.pack, now=self.now, caller=caller, scheduler=scheduler, llm=llm, desk=desk,
                                    closing=self.say)
        self.e.s.state = State.IDENTIFY_NAME
        self.e.s.patient_type = "returning"
        self.tries = 0
        self.verified = False
        self.delivered = False
        self.disposition: str | None = None
        self.checkin = CheckInSteps(self.e, self.wf, self.c)
        self.satisfaction = SatisfactionSteps(self.e, self.lines, self.c, self.wf, self.checkin, self.after_no_concern)

    @property
    def out(self) -> ConversationOutcome:
        """The live outcome (escalations as they are raised), as the clinic engine exposes it."""
        return self.e.out

    @property
    def asking(self) -> Line | None:
        """The check-in question being asked (its answer is kept in the outcome)."""
        return self.checkin.asking

    def workflow(self) -> Workflow:
        """The contact's workflow (a call about a treatment always has one)."""
        if self.wf is None:
            raise StateError(f"{type(self).__name__}: this call is not about one workflow")
        return self.wf

    # ---- speaking ----

    def say(self, key: OutboundKey, **values: object) -> Say:
        text = str(self.lines.text(key))
        fill = {"clinic": self.pack.clinic.name, "phone": self.pack.clinic.phone or "", **values}
        return Say(text.format(**{k: str(v) for k, v in fill.items()}), provenance=self.pack.prov(f"outbound.{key}"),
                   cacheable=not values)

    def _end(self, key: OutboundKey, disposition: str) -> Reply:
        self.disposition = disposition
        return self.e.reply([self.say(key)], end=True)

    def _treatment_name(self) -> str:
        wf = self.workflow()
        return self.c.product or next((t.name for t in self.pack.menu.treatments if t.workflow == wf.id), wf.procedure)

    @staticmethod
    def _day(d: date) -> str:
        return spoken_time(datetime.combine(d, time(9))).split(" at ")[0]

    # ---- Conversation ----

    def start(self) -> Reply:
        return self.e.reply([self.say("opener"), self.say("ask_name")])

    async def caller_pressed(self, digit: str) -> Reply:
        s = self.e.s
        if s.state in OUTBOUND_STATES:
            self.e.out.turns.append(Turn("caller", f"[pressed {str(digit)[:1]}]"))
            if s.state == State.SATISFACTION:
                return self.satisfaction.on_key(str(digit)[:1])
            asking = s.state in (State.CHECKIN_QUESTION, State.CONCERN_CHECK)
            if asking and str(digit)[:1] in ("1", "2"):
                self.e.out.turns.pop()
                return await self.caller_said("yes" if digit == "1" else "no")
            return self.e.reply([self.say("identity_retry")]) if not asking else Reply()
        return await self.e.caller_pressed(digit)

    async def caller_said(self, text: str, confidence: float | None = None, also_heard: str | None = None) -> Reply:
        """`confidence`, `also_heard`: as `ClinicConversation.caller_said`."""
        text = " ".join(str(text).split())[:1000]
        if self.e.s.state == State.ENDED:
            self.e.out.turns.append(Turn("caller", text))
            return Reply()
        if text and _said_any(text, self.lines.opt_out_phrases) and not self.e.safety.verdict(text).hits:
            self.e.out.turns.append(Turn("caller", text))
            self.e.out.slots["opted_out"] = True
            return self._end("opt_out_ack", "opted-out")
        turn = len(self.e.out.turns)
        reply = await self._turn(text, confidence, also_heard)
        if self.verified and self.satisfaction.note_review_done(text):  # "I left a review": kept for the record
            return self.satisfaction.thank_for_review(reply, turn + 1)
        return reply

    async def _turn(self, text: str, confidence: float | None, also_heard: str | None) -> Reply:
        e, ctx = self.e, self.e.ctx
        step = OUTBOUND_STEPS.get(ctx.s.state)
        if step is None:
            return await e.caller_said(text, confidence, also_heard)  # the engine's flows (red flags first, then the step)
        index = len(ctx.out.turns)
        ctx.out.turns.append(Turn("caller", text))
        if self.verified:
            ctx.s.workflow = self.wf
        raised = len(ctx.out.escalations)
        # every flag of the pack, before identity too (an unsure hit is confirmed first; "no" asks this step again)
        says = e.safety.flagged(e.safety.verdict(text, confidence), text, index, also_heard, reask=self._ask_again)
        if says is not None:
            if len(ctx.out.escalations) > raised and self.checkin.asking is not None:
                self.checkin.keep_answer(text, read=False)  # said in answer to a check-in question: kept with the escalation
            return ctx.reply(says)
        full = text
        ctx.lead = []
        e.flows.turn.read(text)
        facts = e.flows.facts.fact_says()  # clinic facts (no patient information): the approved answers first
        if facts and not ctx.reading.rest:
            return ctx.reply(facts + self._ask_again())  # then the same question again, not a failed try
        if facts:
            ctx.lead, text = facts, ctx.reading.rest or ""
        if not self.verified:
            if _said_any(text, self.lines.answering_machine_phrases):
                ctx.out.slots["message_left"] = True
                return self._end("voicemail", "voicemail")
            if _said_any(text, self.lines.wrong_person_phrases):
                return self._end("wrong_person", "wrong-person")
        return await step(self, text, full)

    def _ask_again(self) -> list[Say]:
        state = self.e.s.state
        if state == State.IDENTIFY_NAME:
            return [self.say("ask_name")]
        if state == State.IDENTIFY_DOB:
            return [self.say("ask_dob")]
        if state == State.WRITTEN_CHECK:
            return [self.say("written_check")]
        if state == State.CHECKIN_QUESTION:
            return self.checkin.ask_current()
        if state == State.SATISFACTION:
            return [self.satisfaction.line("ask")]
        return [self.e.ctx.item(self.e.flows.returning.concern_question(self.workflow()))]

    def transfer_failed(self, target: str, detail: str) -> Reply:
        """The warm transfer to the clinician did not connect: the patient hears the approved line
        (who calls back, and when) and staff get a further escalation, as on an inbound call."""
        return self.e.transfer_failed(target, detail)

    def model_failed(self, role: str) -> Reply:
        """A model failed under the call: as on an inbound call (fallback line, escalation, a person)."""
        return self.e.model_failed(role)

    def agent_heard(self, fraction: float) -> None:
        self.e.agent_heard(fraction)

    def ended(self, reason: str) -> ConversationOutcome:
        out = self.e.ended(reason)
        escalated = bool(out.escalations)
        # A caller who reported a red flag before their identity was confirmed is in the clinician's
        # hands (escalated, paged): the check-in is not placed again as if nobody had answered.
        disposition = self.disposition or ("completed" if self.verified else "escalated" if escalated else "hung-up")
        flags = {"reached": self.verified, "delivered": self.delivered,
                 "concern": bool(self.e.s.concern_raised or escalated), "escalated": escalated,
                 "booked": out.booking is not None, "opted_out": disposition == "opted-out",
                 "message_left": disposition == "voicemail"}
        out.slots["outbound"] = {"kind": self.c.kind, "day": self.c.day, "disposition": disposition, **flags}
        if disposition in ("voicemail", "wrong-person", "identity-failed", "opted-out") and not escalated:
            out.outcome = disposition
        return out

    # ---- identity ----

    def _retry_or_fail(self) -> Reply:
        self.tries += 1
        if self.tries >= 2:
            return self._end("identity_failed", "identity-failed")
        return self.e.reply([self.say("identity_retry")])

    async def on_name(self, text: str) -> Reply:
        said = person_name(text) or text
        if not name_matches(said, self.c.name):
            return self._retry_or_fail()
        self.tries = 0
        self.e.s.state = State.IDENTIFY_DOB
        return self.e.reply([self.say("ask_dob")])

    async def on_dob(self, text: str) -> Reply:
        # Speech recognition writes "April 12, 1985": the comma would cut the year off.
        said = parse_date(text.replace(",", " "), self.now.date(), past=True)
        if said != self.c.dob:
            return self._retry_or_fail()
        self.verified = True
        return self.e.reply(self._script())

    # ---- the day-N script ----

    def _script(self) -> list[Say]:
        e, wf, c = self.e, self.workflow(), self.c
        e.s.workflow = wf
        e.s.treated_on = c.treated_on
        e.out.slots.update({"procedure": wf.id, "treated_on": c.treated_on.isoformat(),
                            "days_since_treatment": (self.now.date() - c.treated_on).days})
        values: dict[str, object] = {"treatment": self._treatment_name(), "date": self._day(c.treated_on)}
        if c.kind == "recall":
            values["when"] = self._day(recall_from(wf, c.treated_on, self.now.date()))
        if c.kind == "series" and wf.rebooking.series:
            values["when"] = self._day(max(self.now.date(), c.treated_on + timedelta(days=wf.rebooking.series.interval_days)))
        says = [self.say(_INTRO[c.kind], **values)]
        first_check_in = c.kind == "check-in" and c.day == min(ci.day for ci in wf.check_ins if ci.day >= 1)
        if first_check_in and c.written and self.lines.written_check:  # sent in writing: did it arrive?
            e.s.state = State.WRITTEN_CHECK
            return says + [self.say("written_check")]
        return says + self._instructions(first_check_in)

    def _instructions(self, first_check_in: bool) -> list[Say]:
        """The check-in's purpose, the instructions on the first check-in, then its questions and
        the concern question (`CheckInSteps`)."""
        ctx, wf = self.e.ctx, self.workflow()
        says = self.checkin.purpose_says()
        if first_check_in:  # (an instruction line the check-in already said is not said twice)
            said = {s.provenance for s in says}
            says += [self.say("instructions_intro")] + [ctx.item(x) for x in wf.immediate_instructions
                                                         if self.pack.prov(x.id) not in said]
        self.delivered = True
        return says + self.checkin.next_question()

    async def on_written(self, text: str) -> Reply:
        """Whether the written instructions reached the patient (kept in the outcome); the
        reminder is read either way, then the concern question."""
        self.e.out.slots["written_received"] = yes_no(text) or "unclear"
        return self.e.reply(self._instructions(True))

    async def on_concern_check(self, text: str, full: str | None = None) -> Reply:
        self.checkin.keep_concern_answer(text)
        answer = yes_no(text)
        if answer == "no" and len(text.split()) <= 6:
            return self.e.reply(self._no_concern())
        self.e.out.turns.pop()  # the engine records the turn itself
        return await self.e.caller_said(full or text)  # yes / a description: the engine's concern flow

    def _no_concern(self) -> list[Say]:
        says = [self.say("no_concern")]
        if self.satisfaction.asks():  # the last check-in, nothing raised: 1 to 5 first
            return says + self.satisfaction.ask()
        return says + self.after_no_concern()

    def after_no_concern(self) -> list[Say]:
        """The review window, then the booking offer."""
        e, wf, c, today = self.e, self.workflow(), self.c, self.now.date()
        says: list[Say] = []
        rw = wf.review_window
        review_from, review_to = c.treated_on + timedelta(days=rw.from_day), c.treated_on + timedelta(days=rw.to_day)
        if review_to >= today and c.kind in ("check-in", "review", "touch-up"):
            says.append(self.say("review_reminder", from_date=self._day(max(today, review_from)),
                                 to_date=self._day(review_to)))
        window = self._window(review_from, review_to)
        e.s.follow_up = window
        e.s.booking_kind = window.kind
        e.s.state = State.OFFER_BOOKING
        return says + [self.say("offer_booking", kind=_BOOKING_KIND[window.kind])]

    def _window(self, review_from: date, review_to: date) -> Window:
        wf, c, today = self.workflow(), self.c, self.now.date()
        tu = wf.rebooking.touch_up
        if c.kind in ("check-in", "touch-up") and tu is not None:
            end = c.treated_on + timedelta(days=tu.to_day)
            if end >= today:
                return Window("touch-up", max(today, c.treated_on + timedelta(days=tu.from_day)), end, "touch_up_intro")
        if c.kind == "recall":
            return Window("recall", recall_from(wf, c.treated_on, today), None, "touch_up_too_late")
        if c.kind == "series" and wf.rebooking.series:
            start = c.treated_on + timedelta(days=wf.rebooking.series.interval_days)
            return Window("series", max(today, start), None, "series_next")
        return Window("review", max(today, review_from), max(today, review_to), "touch_up_too_late")


# An outbound call's own step: (the call, the turn's rest after any clinic facts, the whole turn) -> the reply.
OutboundStep = Callable[[OutboundAftercareCall, str, str], Awaitable[Reply]]

OUTBOUND_STEPS: Final[Mapping[State, OutboundStep]] = {
    State.IDENTIFY_NAME: lambda call, text, full: call.on_name(text),
    State.IDENTIFY_DOB: lambda call, text, full: call.on_dob(text),
    State.WRITTEN_CHECK: lambda call, text, full: call.on_written(text),
    State.CHECKIN_QUESTION: lambda call, text, full: call.checkin.on_answer(text, full),
    State.SATISFACTION: lambda call, text, full: call.satisfaction.on_answer(text, full),
    State.CONCERN_CHECK: lambda call, text, full: call.on_concern_check(text, full),
}
check_steps(OUTBOUND_STEPS, OUTBOUND_STATES, "outbound.OUTBOUND_STEPS")
