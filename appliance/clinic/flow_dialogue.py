"""The conversation's own steps, whatever the call is about: the step's question again (a prompt,
a re-ask, then another strategy), questions about approved topics and out-of-protocol clinical
questions, a message for staff, "anything else?", and the turns after an escalation."""

from __future__ import annotations

from appliance.clinic import guard
from appliance.clinic.call_context import CallContext
from appliance.clinic.expect import YES_NO_STATES
from appliance.clinic.flow_appointments import AppointmentsFlow
from appliance.clinic.flow_booking import BookingFlow
from appliance.clinic.flow_intake import IntakeFlow
from appliance.clinic.flow_returning import ReturningFlow
from appliance.clinic.nlu import intent_of, is_question, topic_in, treatments_in
from appliance.clinic.parsers import yes_no
from appliance.clinic.payments import StaffTask
from appliance.clinic.schema import DialogueKey, Topic, Workflow
from appliance.clinic.states import APPOINTMENT_STATES, State
from appliance.clinic.targets import without_targets
from appliance.conversation import Escalation, Say

# the step's question, asked again, for the steps whose question is one dialogue line
_PROMPTS: dict[State, DialogueKey] = {
    State.NEW_OR_RETURNING: "ask_new_or_returning", State.RETURNING_REASON: "ask_returning_reason",
    State.AFTERCARE_CONTEXT: "ask_aftercare_context", State.CONCERN: "ask_concern", State.ASK_NAME: "ask_name",
    State.ASK_PHONE: "ask_phone", State.MESSAGE: "ask_message", State.ANYTHING_ELSE: "anything_else",
}


class DialogueFlow:
    """Prompts and re-asks (each step's question comes from the flow that owns the step), topic
    questions, messages, "anything else?" (routed by `ReturningFlow.route_intent`)."""

    def __init__(self, ctx: CallContext, intake: IntakeFlow, booking: BookingFlow, appointments: AppointmentsFlow,
                 returning: ReturningFlow) -> None:
        self.ctx = ctx
        self.intake = intake
        self.booking = booking
        self.appointments = appointments
        self.returning = returning

    # ---- the step's question ----

    def current_prompt(self) -> list[Say]:
        ctx, s = self.ctx, self.ctx.s
        if s.pending is not None:
            return [Say(s.pending.ask, ctx.pack.prov(s.pending.id), cacheable=True)]
        if s.state == State.GREETING:
            return [ctx.line("ask_new_or_returning" if not ctx.caller.known_patient else "ask_returning_reason")]
        if s.state in _PROMPTS:
            return [ctx.line(_PROMPTS[s.state])]
        if s.state in APPOINTMENT_STATES:
            return self.appointments.appt_prompt()
        if s.state == State.OFFER_SLOT and s.slots_offered:
            return [self.booking.slot_line("offer_slot", s.slots_offered[s.slot_index])]
        if s.state == State.CONFIRM_PHONE:
            return [ctx.line("confirm_phone", phone=(ctx.out.slots.get("phone") or "")[-4:])]
        if s.state == State.OFFER_BOOKING:
            return [ctx.line("offer_booking", kind=self.intake.booking_label())]
        if s.state == State.CONCERN_CHECK and s.workflow:
            return [ctx.item(self.returning.concern_question(s.workflow))]
        return []

    def reprompt(self) -> list[Say]:
        s = self.ctx.s
        says = [self.ctx.line("reprompt")] + self.current_prompt()
        if s.state in YES_NO_STATES or (s.pending and s.pending.kind == "yes_no"):
            says.append(self.ctx.line("dtmf_yes_no"))
        return says

    async def not_understood(self, text: str) -> list[Say]:
        """At most one re-ask per question, then another strategy: an unclear screen answer takes the
        pack's outcome for it (never "no"); elsewhere the caller can leave a message."""
        s = self.ctx.s
        s.retries += 1
        if s.state == State.INTAKE and s.retries >= 2:
            return self.intake.intake_gave_up()
        if s.retries >= 2 and s.state != State.ASK_NAME:
            s.retries = 0
            return self.ctx.start_message()
        return self.reprompt()

    # ---- questions ----

    def noted_returning(self, text: str) -> None:
        """"I'm a returning patient ... can I ...?": the question is answered, and the next prompt
        does not ask again whether they are new."""
        s = self.ctx.s
        if s.state in (State.NEW_OR_RETURNING, State.GREETING) and intent_of(text) == "returning":
            s.patient_type = "returning"
            self.ctx.out.slots["patient_type"] = "returning"
            s.state = State.RETURNING_REASON

    def _topics(self, text: str = "") -> list[Topic]:
        """The approved topics in context: the call's procedure, the treatment being booked, and
        any treatment the caller names in this question ("can I shave between laser sessions?")."""
        pack = self.ctx.pack
        wfs: list[Workflow | None] = [self.ctx.s.workflow] if self.ctx.s.workflow else []
        treatment = self.ctx.out.slots.get("treatment")
        if treatment and pack.workflow_of(treatment):
            wfs.append(pack.workflow_of(treatment))
        wfs += [pack.workflows[t.workflow] for t in treatments_in(pack, text) if t.workflow in pack.workflows]
        seen: set[str] = set()
        topics: list[Topic] = []
        for wf in wfs:
            for t in wf.topics if wf else ():
                if t.id not in seen:
                    seen.add(t.id)
                    topics.append(t)
        return topics

    def question(self, text: str) -> list[Say] | None:
        """An approved topic's answer, or an out-of-protocol clinical question noted; None: not a
        question this step answers (a request such as "can I book ...?" is the step's)."""
        ctx = self.ctx
        reading = ctx.reading
        if intent_of(text) in ("book", "touch_up", "message", "goodbye") or (
                reading.intent in ("book", "touch_up", "new_patient")):
            return None  # "can I book ...?", "any openings for filler?" are requests, routed by the current step
        text = without_targets(ctx.pack, text)  # "IPL for sun spots?" asks what the clinic offers, not about sun
        topic = topic_in(self._topics(text), text)
        if topic is not None:
            says = [Say(topic.answer, ctx.pack.prov(topic.id), cacheable=True)]
            if topic.reads_instructions and ctx.s.workflow:
                says += [ctx.item(x) for x in ctx.s.workflow.immediate_instructions]
            ctx.out.slots.setdefault("topics_answered", []).append(topic.id)
            return says
        if any(not treatments_in(ctx.pack, term) for term in guard.clinical_terms(text)):
            return self.clinical_question()  # "do you do Botox?" names a treatment: a sales question
        return None

    def clinical_question(self) -> list[Say]:
        """A clinical question the pack does not answer: no advice, a message for the clinician."""
        ctx = self.ctx
        rt = ctx.response_time()
        index = ctx.last_caller_turn()
        ctx.out.escalations.append(Escalation("routine", "clinical-question", index, "outside the approved protocol"))
        ctx.tasks.append(StaffTask("call-back", {"reason": "clinical-question", "turn": index}))
        return [ctx.line("clinical_question_noted", hours=rt.routine_hours)]

    # ---- open steps ----

    async def on_message(self, text: str) -> list[Say] | None:
        ctx = self.ctx
        ctx.out.slots["message"] = text[:500]
        ctx.tasks.append(StaffTask("message", {"turn": len(ctx.out.turns) - 1}))
        ctx.s.message_taken = True
        ctx.s.state = State.ANYTHING_ELSE
        return [ctx.line("message_taken"), ctx.line("anything_else")]

    async def on_anything_else(self, text: str) -> list[Say] | None:
        intent = intent_of(text)
        if intent == "goodbye" or (intent is None and yes_no(text) == "no"):
            return self.ctx.goodbye()
        if intent is None and yes_no(text) == "yes":
            self.ctx.s.state = State.RETURNING_REASON if self.ctx.s.patient_type == "returning" else State.HOW_HELP
            return [self.ctx.line("how_help")]
        return await self.returning.route_intent(text, intent)

    async def on_how_help(self, text: str) -> list[Say] | None:
        return await self.returning.route_intent(text, intent_of(text))

    async def after_escalation(self, text: str) -> list[Say] | None:
        """After a red flag: nothing is booked or sold; questions still get their approved answers."""
        intent = intent_of(text)
        if intent == "goodbye":
            return self.ctx.goodbye()
        if intent in ("book", "touch_up"):
            return [self.ctx.line("concern_first")]
        if is_question(text):
            says = self.question(text)
            if says is not None:
                return says
        return [self.ctx.line("escalated_hold")]
