"""Returning callers: aftercare concerns, approved answers, touch-up and series bookings."""

from __future__ import annotations

from datetime import date
from typing import Any

from appliance.clinic.nlu import intent_of, treatments_in
from appliance.clinic.parsers import parse_date, yes_no
from appliance.clinic.rebooking import follow_up
from appliance.clinic.schema import Line, Workflow
from appliance.conversation import Escalation, Say

_CONCERN_WORDS = ("concern", "worried", "problem", "reaction", "symptom", "issue", "wrong", "hurt", "pain")


class ReturningFlow:
    """Mixin for ClinicConversation."""

    s: Any
    pack: Any
    out: Any
    caller: Any
    today: date
    assist: Any
    tasks: list

    # ---- routing ----

    async def on_new_or_returning(self, text: str) -> list[Say] | None:
        intent = intent_of(text)
        words = text.lower().split()
        if intent is None and ("new" in words or "first" in words):
            intent = "new_patient"
        if intent in (None, "question") and treatments_in(self.pack, text):
            intent = "new_patient"  # "I want Botox", "do you do IPL?": a booking enquiry; the screen runs either way
        if intent is None and self.assist.use("caller"):
            intent = await self.assist.choose("caller", ("new_patient", "returning", "other"),
                                              "Are you a new patient or have you been before?", text)
        if intent == "returning" and self._only_cue(text):
            self.s.patient_type = "returning"
            self.out.slots["patient_type"] = "returning"
            self.s.state = "returning_reason"
            return [self.line("ask_returning_reason")]
        if intent in (None, "other"):
            return None
        if intent == "new_patient":
            self.s.patient_type = "new"
        return await self.route_intent(text, intent)

    def _only_cue(self, text: str) -> bool:
        return intent_of(text) in ("returning", None) and not treatments_in(self.pack, text)

    async def on_returning_reason(self, text: str) -> list[Say] | None:
        intent = intent_of(text)
        if intent is None and treatments_in(self.pack, text):
            intent = "book"
        if intent is None and self.assist.use("reason"):
            intent = await self.assist.choose("reason", ("aftercare", "touch_up", "book", "message", "other"),
                                              "Is this about a recent treatment, a touch-up, or a new booking?", text)
        if intent in (None, "other"):
            return None
        return await self.route_intent(text, intent)

    async def route_intent(self, text: str, intent: str | None) -> list[Say] | None:
        self.s.patient_type = self.s.patient_type or ("returning" if intent in ("aftercare", "touch_up") else "new")
        self.out.slots["patient_type"] = self.s.patient_type
        if intent:
            self.out.slots.setdefault("reasons", []).append(intent)
        if intent == "message":
            return self.start_message()
        if intent == "goodbye":
            return self.goodbye()
        if intent == "aftercare":
            return self.start_aftercare(text, "concern")
        if intent == "touch_up":
            return self.start_aftercare(text, "touch_up")
        if intent in ("book", "new_patient", "returning"):
            if self.s.concern_raised:
                self.s.state = "anything_else"
                return [self.line("concern_first"), self.line("anything_else")]
            if self.s.state == "intake" or self.s.pending is not None:
                return None
            return self.start_intake(text)
        return None

    # ---- aftercare ----

    def _context_workflow(self, text: str) -> Workflow | None:
        ref = self.caller.procedure
        if ref:
            if ref in self.pack.workflows:
                return self.pack.workflows[ref]
            wf = self.pack.workflow_of(ref)
            if wf:
                return wf
            for t in self.pack.menu.treatments:  # a family or product name
                if ref.lower() in (t.family, t.name.lower(), *[s.lower() for s in t.synonyms]):
                    return self.pack.workflows[t.workflow]
        found = treatments_in(self.pack, text)
        return self.pack.workflows[found[0].workflow] if found else None

    def start_aftercare(self, text: str, purpose: str) -> list[Say]:
        self.s.after_context = purpose
        self.s.workflow = self.s.workflow or self._context_workflow(text)
        self.s.treated_on = self.s.treated_on or self.caller.treated_on
        if self.s.treated_on is None:
            when = parse_date(text, self.today)
            self.s.treated_on = when if isinstance(when, date) else None
        if self.s.workflow is None or self.s.treated_on is None:
            self.s.state = "aftercare_context"
            return [self.line("ask_aftercare_context")]
        return self._aftercare_ready(text)

    def _aftercare_ready(self, text: str) -> list[Say]:
        wf = self.s.workflow
        self.out.slots["procedure"] = wf.id if wf else None
        if self.s.treated_on:
            self.out.slots["treated_on"] = self.s.treated_on.isoformat()
            self.out.slots["days_since_treatment"] = (self.today - self.s.treated_on).days
        if self.s.after_context == "touch_up":
            return self._touch_up()
        if any(w in text.lower() for w in _CONCERN_WORDS):
            self.s.state = "concern"
            return [self.line("ask_concern")]
        if wf is None:
            self.s.state = "concern"
            return [self.line("ask_concern")]
        self.s.state = "concern_check"
        return [self.item(self.concern_question(wf))]

    def concern_question(self, wf: Workflow) -> Line:
        return next((q for q in wf.questions if q.id.endswith("q-concern")), wf.questions[0])

    async def on_aftercare_context(self, text: str) -> list[Say] | None:
        wf = self._context_workflow(text)
        when = parse_date(text, self.today)
        self.s.workflow = self.s.workflow or wf
        if isinstance(when, date):
            self.s.treated_on = when
        if self.s.workflow is None and self.s.treated_on is None and self.s.retries < 1:
            return None
        return self._aftercare_ready(text)

    async def on_concern_check(self, text: str) -> list[Say] | None:
        answer = yes_no(text)
        if answer == "no" and len(text.split()) <= 4:
            self.s.state = "anything_else"
            return [self.line("anything_else")]
        if answer in ("yes", "unsure") and len(text.split()) <= 4:
            self.s.state = "concern"
            return [self.line("ask_concern")]
        return await self.on_concern(text)  # the caller described it straight away

    async def on_concern(self, text: str) -> list[Say] | None:
        """A concern with no red-flag phrase: never reassure; the clinician reviews it."""
        wf = self.s.workflow
        index = len(self.out.turns) - 1
        self.s.concern_raised = True
        self.out.slots["concern"] = text[:500]
        categories = tuple(sorted({f.category for f, _ in self.pack.all_red_flags()}))
        signal = None
        if self.assist.use("category"):
            signal = await self.assist.choose("category", categories + ("none",), "What is the patient's concern?", text)
        if signal and signal != "none":
            hit = next(((f, w) for f, w in self.pack.all_red_flags() if f.category == signal
                        and (wf is None or w in (None, wf.id))), None)
            if hit and hit[0].severity != "routine":
                from appliance.clinic.redflags import Hit

                self.out.slots["llm_signal"] = signal
                return self.escalate(Hit(hit[0], hit[1], "language-model"), index)
        hours = wf.response_time.routine_hours if wf else 24
        self.out.escalations.append(Escalation("routine", "patient-concern", index, "no red-flag phrase"))
        self.tasks.append(_task("call-back", reason="patient-concern", within_hours=hours))
        self.s.state = "anything_else"
        return [self.line("concern_noted", hours=hours), self.line("anything_else")]

    # ---- touch-up / series ----

    def _touch_up(self) -> list[Say]:
        wf = self.s.workflow
        if self.s.concern_raised:
            self.s.state = "anything_else"
            return [self.line("concern_first"), self.line("anything_else")]
        if wf is None:
            return self.start_message()
        window = follow_up(wf, self.s.treated_on, self.today, self.caller.session)
        self.s.follow_up = window
        self.s.booking_kind = window.kind
        name = next((t.name for t in self.pack.menu.treatments if t.workflow == wf.id), wf.procedure)
        if window.line == "touch_up_intro":
            tu = wf.rebooking.touch_up
            says = [self.line("touch_up_intro", treatment=name, from_day=tu.from_day, to_day=tu.to_day)]
        elif window.line == "series_next":
            from datetime import datetime, time

            from appliance.clinic.flow_booking import spoken_time

            says = [self.line("series_next", treatment=name,
                              when=spoken_time(datetime.combine(window.earliest, time(9))).split(" at ")[0])]
        else:
            says = [self.line("touch_up_too_late")]
        return says + self.collect_contact()


def _task(kind: str, **detail: object) -> Any:
    from appliance.clinic.payments import StaffTask

    return StaffTask(kind, dict(detail))
