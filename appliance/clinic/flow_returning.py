"""Routing and returning callers: the opening turn, new or returning, aftercare concerns, touch-up
and series bookings."""

from __future__ import annotations

from datetime import date, datetime, time

from appliance.clinic.call_context import CallContext
from appliance.clinic.flow_booking import BookingFlow, spoken_time
from appliance.clinic.flow_intake import IntakeFlow
from appliance.clinic.nlu import intent_of, treatments_in
from appliance.clinic.parsers import parse_date, yes_no
from appliance.clinic.payments import StaffTask
from appliance.clinic.rebooking import follow_up
from appliance.clinic.redflags import Hit
from appliance.clinic.schema import Line, Workflow
from appliance.clinic.states import State
from appliance.clinic.words import words
from appliance.conversation import Escalation, Say


class ReturningFlow:
    """What the caller wants, and the returning patient's path; a new patient goes to the intake,
    a booking to the booking flow's contact details."""

    def __init__(self, ctx: CallContext, intake: IntakeFlow, booking: BookingFlow) -> None:
        self.ctx = ctx
        self.intake = intake
        self.booking = booking

    # ---- routing ----

    async def on_greeting(self, text: str) -> list[Say] | None:
        """The caller spoke first: route what they said; ask new-or-returning only when it is unsettled."""
        if self.ctx.caller.known_patient:
            says = await self.on_returning_reason(text)
            if says is None:
                self.ctx.s.state = State.RETURNING_REASON
                return [self.ctx.line("ask_returning_reason")]
            return says
        says = await self.on_new_or_returning(text)
        if says is None:
            self.ctx.s.state = State.NEW_OR_RETURNING
            return [self.ctx.line("ask_new_or_returning")]
        return says

    async def on_new_or_returning(self, text: str) -> list[Say] | None:
        ctx = self.ctx
        intent = intent_of(text)
        said = text.lower().split()
        if intent is None and ("new" in said or "first" in said):
            intent = "new_patient"
        if intent in (None, "question") and treatments_in(ctx.pack, text):
            intent = "new_patient"  # "I want Botox", "do you do IPL?": a booking enquiry; the screen runs either way
        if intent is None and ctx.assist.use("caller"):
            intent = await ctx.assist.choose("caller", ("new_patient", "returning", "other"),
                                             "Are you a new patient or have you been before?", text)
        if intent == "returning" and self._only_cue(text):
            ctx.s.patient_type = "returning"
            ctx.out.slots["patient_type"] = "returning"
            ctx.s.state = State.RETURNING_REASON
            return [ctx.line("ask_returning_reason")]
        if intent is None or intent == "other":
            return None
        if intent == "new_patient":
            ctx.s.patient_type = "new"
        return await self.route_intent(text, intent)

    def _only_cue(self, text: str) -> bool:
        return intent_of(text) in ("returning", None) and not treatments_in(self.ctx.pack, text)

    async def on_returning_reason(self, text: str) -> list[Say] | None:
        intent = intent_of(text)
        if intent is None and treatments_in(self.ctx.pack, text):
            intent = "book"
        if intent is None and self.ctx.assist.use("reason"):
            intent = await self.ctx.assist.choose("reason", ("aftercare", "touch_up", "book", "message", "other"),
                                                  "Is this about a recent treatment, a touch-up, or a new booking?",
                                                  text)
        if intent is None or intent == "other":
            return None
        return await self.route_intent(text, intent)

    async def route_intent(self, text: str, intent: str | None) -> list[Say] | None:
        ctx, s = self.ctx, self.ctx.s
        s.patient_type = s.patient_type or ("returning" if intent in ("aftercare", "touch_up") else "new")
        ctx.out.slots["patient_type"] = s.patient_type
        if intent:
            ctx.out.slots.setdefault("reasons", []).append(intent)
        if intent == "message":
            return ctx.start_message()
        if intent == "goodbye":
            return ctx.goodbye()
        if intent == "aftercare":
            return self.start_aftercare(text, "concern")
        if intent == "touch_up":
            return self.start_aftercare(text, "touch_up")
        if intent in ("book", "new_patient", "returning"):
            if s.concern_raised:
                s.state = State.ANYTHING_ELSE
                return [ctx.line("concern_first"), ctx.line("anything_else")]
            if s.state == State.INTAKE or s.pending is not None:
                return None
            return self.intake.start_intake(text)
        return None

    # ---- aftercare ----

    def _context_workflow(self, text: str) -> Workflow | None:
        pack = self.ctx.pack
        ref = self.ctx.caller.procedure
        if ref:
            if ref in pack.workflows:
                return pack.workflows[ref]
            wf = pack.workflow_of(ref)
            if wf:
                return wf
            for t in pack.menu.treatments:  # a family or product name
                if ref.lower() in (t.family, t.name.lower(), *[s.lower() for s in t.synonyms]):
                    return pack.workflows[t.workflow]
        found = treatments_in(pack, text)
        return pack.workflows[found[0].workflow] if found else None

    def start_aftercare(self, text: str, purpose: str) -> list[Say]:
        s = self.ctx.s
        s.after_context = purpose
        s.workflow = s.workflow or self._context_workflow(text)
        s.treated_on = s.treated_on or self.ctx.caller.treated_on
        if s.treated_on is None:
            when = parse_date(text, self.ctx.today)
            s.treated_on = when if isinstance(when, date) else None
        if s.workflow is None or s.treated_on is None:
            s.state = State.AFTERCARE_CONTEXT
            return [self.ctx.line("ask_aftercare_context")]
        return self._aftercare_ready(text)

    def _aftercare_ready(self, text: str) -> list[Say]:
        ctx, s = self.ctx, self.ctx.s
        wf = s.workflow
        ctx.out.slots["procedure"] = wf.id if wf else None
        if s.treated_on:
            ctx.out.slots["treated_on"] = s.treated_on.isoformat()
            ctx.out.slots["days_since_treatment"] = (ctx.today - s.treated_on).days
        if s.after_context == "touch_up":
            return self._touch_up()
        if any(w in text.lower() for w in words().concern_cues):
            s.state = State.CONCERN
            return [ctx.line("ask_concern")]
        if wf is None:
            s.state = State.CONCERN
            return [ctx.line("ask_concern")]
        s.state = State.CONCERN_CHECK
        return [ctx.item(self.concern_question(wf))]

    def concern_question(self, wf: Workflow) -> Line:
        return next((q for q in wf.questions if q.id.endswith("q-concern")), wf.questions[0])

    async def on_aftercare_context(self, text: str) -> list[Say] | None:
        s = self.ctx.s
        wf = self._context_workflow(text)
        when = parse_date(text, self.ctx.today)
        s.workflow = s.workflow or wf
        if isinstance(when, date):
            s.treated_on = when
        if s.workflow is None and s.treated_on is None and s.retries < 1:
            return None
        return self._aftercare_ready(text)

    async def on_concern_check(self, text: str) -> list[Say] | None:
        answer = yes_no(text)
        if answer == "no" and len(text.split()) <= 4:
            self.ctx.s.state = State.ANYTHING_ELSE
            return [self.ctx.line("anything_else")]
        if answer in ("yes", "unsure") and len(text.split()) <= 4:
            self.ctx.s.state = State.CONCERN
            return [self.ctx.line("ask_concern")]
        return await self.on_concern(text)  # the caller described it straight away

    async def on_concern(self, text: str) -> list[Say] | None:
        """A concern with no red-flag phrase: never reassure; the clinician reviews it."""
        ctx = self.ctx
        wf = ctx.s.workflow
        index = len(ctx.out.turns) - 1
        ctx.s.concern_raised = True
        ctx.out.slots["concern"] = text[:500]
        categories = tuple(sorted({f.category for f, _ in ctx.pack.all_red_flags()}))
        signal = None
        if ctx.assist.use("category"):
            signal = await ctx.assist.choose("category", categories + ("none",), "What is the patient's concern?", text)
        if signal and signal != "none":
            hit = next(((f, w) for f, w in ctx.pack.all_red_flags() if f.category == signal
                        and (wf is None or w in (None, wf.id))), None)
            if hit and hit[0].severity != "routine":
                ctx.out.slots["llm_signal"] = signal
                return ctx.escalate(Hit(hit[0], hit[1], "language-model"), index)
        hours = wf.response_time.routine_hours if wf else 24
        ctx.out.escalations.append(Escalation("routine", "patient-concern", index, "no red-flag phrase"))
        ctx.tasks.append(StaffTask("call-back", {"reason": "patient-concern", "within_hours": hours}))
        ctx.s.state = State.ANYTHING_ELSE
        return [ctx.line("concern_noted", hours=hours), ctx.line("anything_else")]

    # ---- touch-up / series ----

    def _touch_up(self) -> list[Say]:
        ctx, s = self.ctx, self.ctx.s
        wf = s.workflow
        if s.concern_raised:
            s.state = State.ANYTHING_ELSE
            return [ctx.line("concern_first"), ctx.line("anything_else")]
        if wf is None:
            return ctx.start_message()
        window = follow_up(wf, s.treated_on, ctx.today, ctx.caller.session)
        s.follow_up = window
        s.booking_kind = window.kind
        name = next((t.name for t in ctx.pack.menu.treatments if t.workflow == wf.id), wf.procedure)
        tu = wf.rebooking.touch_up
        if window.line == "touch_up_intro" and tu is not None:
            says = [ctx.line("touch_up_intro", treatment=name, from_day=tu.from_day, to_day=tu.to_day)]
        elif window.line == "series_next":
            says = [ctx.line("series_next", treatment=name,
                             when=spoken_time(datetime.combine(window.earliest, time(9))).split(" at ")[0])]
        else:
            says = [ctx.line("touch_up_too_late")]
        return says + self.booking.collect_contact()
