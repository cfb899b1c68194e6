"""Every turn, whatever was asked: fill every slot it holds, and act on intents that apply at
any step (a price question, "speak to someone", "stop calling", "wrong number", a complaint
about a result, a request that carries a symptom). Runs after the red-flag check."""

from __future__ import annotations

import re

from appliance.clinic.call_context import CallContext
from appliance.clinic.dates import DateReading
from appliance.clinic.flow_appointments import AppointmentsFlow
from appliance.clinic.flow_dialogue import DialogueFlow
from appliance.clinic.flow_intake import IntakeFlow
from appliance.clinic.flow_returning import ReturningFlow
from appliance.clinic.parsers import normalize, yes_no
from appliance.clinic.payments import StaffTask
from appliance.clinic.schema import Treatment
from appliance.clinic.states import ROUTING_STATES, State
from appliance.clinic.understand import SAFETY_SLOTS, Reading, TurnContext, read_turn
from appliance.conversation import Escalation, Say
from appliance.logs import get_logger

log = get_logger(__name__)

_REQUESTS = ("book", "touch_up", "price", "new_patient", "returning", "cancel", "reschedule", "confirm",
             "appointment", None)
_APPOINTMENT = ("cancel", "reschedule", "confirm", "appointment")
_RANK = {"no": 0, "never": 0, "date": 1, "unsure": 2, "declined": 2, "yes": 3}
_TRACKED = ("treatment", "areas", "prior_treatments", "budget", "name", "phone", "preferred", "symptoms")
_STATE_SLOT = {State.ASK_NAME: "name", State.ASK_PHONE: "phone"}


class TurnFlow:
    """Reads each turn (`CallContext.reading`) and applies it; the intents that apply at any step go
    to the flow that handles them (intake, returning, appointments, dialogue)."""

    def __init__(self, ctx: CallContext, intake: IntakeFlow, returning: ReturningFlow,
                 appointments: AppointmentsFlow, dialogue: DialogueFlow) -> None:
        self.ctx = ctx
        self.intake = intake
        self.returning = returning
        self.appointments = appointments
        self.dialogue = dialogue

    # ---- reading ----

    def read(self, text: str) -> Reading:
        ctx, s = self.ctx, self.ctx.s
        pending = s.pending.slot if s.pending is not None else None
        turn = TurnContext(today=ctx.today, state=s.state, pending=pending or _STATE_SLOT.get(s.state),
                           family=self.intake.family(), known=bool(ctx.caller.known_patient))
        ctx.reading = reading = read_turn(ctx.pack, text, turn)
        ctx.read_at = len(ctx.out.turns)
        s.turn_intent = reading.intent
        log.debug("clinic.turn_read", state=s.state, intent=reading.intent,
                  slots=sorted(reading.slots))  # slot names only, never the caller's words
        return reading

    def absorb(self) -> list[Say]:
        """Fill every slot the turn holds, except the pending question's (its handler answers it)."""
        ctx, s = self.ctx, self.ctx.s
        r, slots = ctx.reading, ctx.out.slots
        pending = s.pending.slot if s.pending is not None else None
        says: list[Say] = []
        before = dict(slots)
        for key in _TRACKED:
            if key not in r.slots or (key == pending and key not in ("treatment", "areas")):
                continue
            if key == "treatment" and "treatment" not in slots:
                t = ctx.pack.treatment(r.slots["treatment"])
                if t is not None:
                    self.intake.set_treatment(t)
            elif key == "areas" and not slots.get("areas"):
                slots["areas"] = r.slots["areas"]
            elif key == "prior_treatments" and key not in slots:
                slots[key] = r.slots[key]
            elif key == "name" and s.state != State.MESSAGE:
                slots["name"] = r.slots["name"]
            elif key == "phone" and s.state != State.MESSAGE:
                slots["phone"] = r.slots["phone"]
                s.phone_confirmed = True
            elif key in ("budget", "preferred", "symptoms"):
                slots[key] = r.slots[key]
        if "last_neuromodulator" in r.slots and pending != "last_neuromodulator":
            says += self.take("last_neuromodulator", r.slots["last_neuromodulator"],
                              r.details.get("last_neuromodulator_reading"))
        for slot in SAFETY_SLOTS:
            if slot in r.slots and slot != pending:
                says += self.take(slot, r.slots[slot])
        s.absorbed = slots != before
        return says

    def take(self, slot: str, answer: str, when: DateReading | None = None) -> list[Say]:
        """A screen answer from any turn: applied now when the question is relevant, kept for later
        when relevance depends on what is not known yet, and never weakened by a later answer."""
        ctx, s = self.ctx, self.ctx.s
        detail = ctx.reading.details.get(slot)
        if detail is not None and not isinstance(detail, DateReading):
            ctx.out.slots[f"{slot}_detail"] = detail
        before = s.screen_answers.get(slot) or s.deferred.get(slot, (None, None))[0]
        if before is not None and _RANK.get(answer, 2) <= _RANK.get(before, 2):
            return []
        q = next((q for q in ctx.pack.screen.questions if q.slot == slot), None)
        if q is None:
            ctx.out.slots[slot] = answer
            return []
        relevant = self.intake.relevant(q)
        if relevant is None:
            s.deferred[slot] = (answer, when)
            ctx.out.slots[slot] = _slot_value(answer, when)
            return []
        if not relevant:
            ctx.out.slots[slot] = _slot_value(answer, when)
            return []
        return self.intake.apply(q, answer, when=when)

    # ---- intents at any step ----

    async def anywhere(self, text: str) -> list[Say] | None:
        """Intents that apply whatever was asked; None lets the current step handle the turn."""
        ctx, s = self.ctx, self.ctx.s
        intent, state = ctx.reading.intent, s.state
        if intent == "wrong_number" and state in ROUTING_STATES:
            s.state = State.ENDED
            return [ctx.line_or("wrong_number", "goodbye")]
        if intent == "stop_calling":
            ctx.tasks.append(StaffTask("opt-out", {"phone": ctx.out.slots.get("phone") or ctx.caller.phone}))
            ctx.out.slots["opt_out"] = True
            s.state = State.ENDED
            return [ctx.line_or("opt_out_ack", "goodbye")]
        if intent == "goodbye" and state in (State.OFFER_BOOKING, State.OFFER_SLOT, State.GREETING,
                                             State.NEW_OR_RETURNING) and not _declines_offer(state, text):
            return ctx.goodbye()
        if intent == "message" and state != State.MESSAGE:
            return ctx.start_message()
        if intent == "complaint" and state not in (State.MESSAGE, State.CONCERN):
            return self.complaint()
        symptoms = ctx.reading.slots.get("symptoms")
        if symptoms and not s.concern_raised and state not in (State.CONCERN, State.CONCERN_CHECK, State.MESSAGE) and (
                state in ROUTING_STATES or (intent in _REQUESTS and intent is not None)):
            s.pending = None
            s.state = State.CONCERN
            return await self.returning.on_concern(text)
        if intent is not None and intent in _APPOINTMENT and state in ROUTING_STATES:
            return await self.appointments.start_appointment(intent)
        if intent == "price" and state not in (State.MESSAGE, State.CONCERN, State.PRICE_TREATMENT):
            if state == State.INTAKE and s.pending is not None and s.pending.kind in ("yes_no", "date") \
                    and self.intake.parses_as_answer(text):
                answered = await self.intake.on_intake(text)  # "no, but how much will this cost me?"
                return self.price_now() + (answered or [])
            return self.price()
        return None

    def complaint(self) -> list[Say]:
        """Unhappy with a result: staff take it (service recovery); no selling for the rest of the call."""
        ctx, s = self.ctx, self.ctx.s
        index = ctx.last_caller_turn()
        hours = s.workflow.response_time.routine_hours if s.workflow else 24
        s.concern_raised = True
        s.pending = None
        ctx.out.slots["complaint"] = True
        ctx.out.escalations.append(Escalation("routine", "result-complaint", index, "service recovery"))
        ctx.tasks.append(StaffTask("service-recovery", {"turn": index, "within_hours": hours}))
        s.state = State.ANYTHING_ELSE
        return [ctx.line_or("complaint_noted", "concern_noted", hours=hours), ctx.line("anything_else")]

    # ---- prices ----

    def priced(self) -> Treatment | None:
        """The treatment a price question is about: the one named in this turn ("and how much is
        lip filler?" after a Botox quote), else the call's."""
        named = self.ctx.reading.slots.get("treatment")
        return (self.ctx.pack.treatment(named) if named else None) or self.intake.treatment()

    def price_now(self) -> list[Say]:
        t = self.priced()
        s = self.ctx.s
        if s.concern_raised or t is None or s.booking_kind != "treatment":
            return []
        s.quoted = True
        return self.quote_lines(t)

    def price(self) -> list[Say]:
        """The menu's unit-range quote, at any step; then the step's own question again."""
        ctx, s = self.ctx, self.ctx.s
        if s.concern_raised:
            return [ctx.line("concern_first")] + self.dialogue.current_prompt()
        t = self.priced()
        if s.booking_kind != "treatment":
            price = ctx.pack.menu.consult.price
            says = [ctx.line("quote_consult", price="free of charge" if price == 0 else ctx.money(price))]
        elif t is None:
            if not ctx.pack.dialogue.price_ask_treatment:
                return [self.pack_question("treatment")]
            s.price_return = s.state
            s.state = State.PRICE_TREATMENT
            return [ctx.line("price_ask_treatment")]
        else:
            says = self.quote_lines(t)
        s.quoted = True
        return says + self._after_price()

    def quote_lines(self, t: Treatment) -> list[Say]:
        ctx = self.ctx
        asked = [a for a in (ctx.reading.slots.get("areas") or ctx.out.slots.get("areas") or []) if a in t.doses]
        if not asked and len(t.doses) == 1:
            asked = list(t.doses)
        if asked:
            return [self.intake.quote(t, a) for a in asked]
        unit = {"units": "unit", "syringe": "syringe", "session": "session"}[t.unit]
        say = ctx.line_or("price_unit", "quote_consult", treatment=t.name, price=ctx.money(t.price_per_unit),
                          unit_one=unit)
        return [Say(say.text, say.provenance, cacheable=False)]

    def _after_price(self) -> list[Say]:
        if self.ctx.s.state in ROUTING_STATES:
            self.ctx.s.state = State.ANYTHING_ELSE
            return [self.ctx.line("anything_else")]
        return self.dialogue.current_prompt()

    def price_treatment_named(self) -> list[Say] | None:
        """The answer to "which treatment?" (asked for a price): back to the step the price question
        was asked at, with the quote; None when the turn names none: that step takes the turn."""
        s = self.ctx.s
        s.state = s.price_return or State.GREETING
        t = self.intake.treatment()
        if t is None:
            return None
        s.quoted = True
        return self.quote_lines(t) + self._after_price()

    def pack_question(self, slot: str) -> Say:
        q = next(q for q in self.ctx.pack.screen.questions if q.slot == slot)
        return Say(q.ask, self.ctx.pack.prov(q.id), cacheable=True)


def _slot_value(answer: str, when: DateReading | None) -> str:
    return when.point.isoformat() if when is not None else answer


def _declines_offer(state: State, text: str) -> bool:
    """"No thanks" to a booking offer declines the offer (the step answers it); "bye" ends the call."""
    return state in (State.OFFER_BOOKING, State.OFFER_SLOT) and yes_no(text) in ("no", "declined") \
        and not re.search(r"\b(bye|goodbye)\b", normalize(text))
