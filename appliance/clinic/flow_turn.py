"""Every turn, whatever was asked: fill every slot it holds, and act on intents that apply at
any step (a price question, "speak to someone", "stop calling", "wrong number", a complaint
about a result, a request that carries a symptom). Runs after the red-flag check."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from appliance.clinic.dates import DateReading
from appliance.clinic.payments import StaffTask
from appliance.clinic.understand import SAFETY_SLOTS, Reading, TurnContext, read_turn
from appliance.conversation import Escalation, Say
from appliance.logs import get_logger

log = get_logger(__name__)

_ROUTING = ("greeting", "new_or_returning", "returning_reason", "how_help", "anything_else")
_REQUESTS = ("book", "touch_up", "price", "new_patient", "returning", "cancel", "reschedule", "confirm",
             "appointment", None)
_APPOINTMENT = ("cancel", "reschedule", "confirm", "appointment")
_RANK = {"no": 0, "never": 0, "date": 1, "unsure": 2, "declined": 2, "yes": 3}
_TRACKED = ("treatment", "areas", "prior_treatments", "budget", "name", "phone", "preferred", "symptoms")


class TurnFlow:
    """Mixin for ClinicConversation: reads each turn (`self.reading`) and applies it."""

    s: Any
    pack: Any
    out: Any
    today: date
    caller: Any
    tasks: list
    reading: Reading
    read_at: int = -1

    # ---- reading ----

    def read(self, text: str) -> Reading:
        pending = self.s.pending.slot if self.s.pending is not None else None
        state_slot = {"ask_name": "name", "ask_phone": "phone"}.get(self.s.state)
        ctx = TurnContext(today=self.today, state=self.s.state, pending=pending or state_slot,
                          family=self._family(), known=bool(self.caller.known_patient))
        self.reading = read_turn(self.pack, text, ctx)
        self.read_at = len(self.out.turns)
        self.s.turn_intent = self.reading.intent
        log.debug("clinic.turn_read", state=self.s.state, intent=self.reading.intent,
                 slots=sorted(self.reading.slots))  # slot names only, never the caller's words
        return self.reading

    def absorb(self) -> list[Say]:
        """Fill every slot the turn holds, except the pending question's (its handler answers it)."""
        r, slots = self.reading, self.out.slots
        pending = self.s.pending.slot if self.s.pending is not None else None
        says: list[Say] = []
        before = dict(slots)
        for key in _TRACKED:
            if key not in r.slots or (key == pending and key not in ("treatment", "areas")):
                continue
            if key == "treatment" and "treatment" not in slots:
                self._set_treatment(self.pack.treatment(r.slots["treatment"]))
            elif key == "areas" and not slots.get("areas"):
                slots["areas"] = r.slots["areas"]
            elif key == "prior_treatments" and key not in slots:
                slots[key] = r.slots[key]
            elif key == "name" and self.s.state != "message":
                slots["name"] = r.slots["name"]
            elif key == "phone" and self.s.state != "message":
                slots["phone"] = r.slots["phone"]
                self.s.phone_confirmed = True
            elif key in ("budget", "preferred", "symptoms"):
                slots[key] = r.slots[key]
        if "last_neuromodulator" in r.slots and pending != "last_neuromodulator":
            says += self.take("last_neuromodulator", r.slots["last_neuromodulator"],
                              r.details.get("last_neuromodulator_reading"))
        for slot in SAFETY_SLOTS:
            if slot in r.slots and slot != pending:
                says += self.take(slot, r.slots[slot])
        self.s.absorbed = slots != before
        return says

    def take(self, slot: str, answer: str, when: DateReading | None = None) -> list[Say]:
        """A screen answer from any turn: applied now when the question is relevant, kept for later
        when relevance depends on what is not known yet, and never weakened by a later answer."""
        detail = self.reading.details.get(slot) if getattr(self, "reading", None) else None
        if detail is not None and not isinstance(detail, DateReading):
            self.out.slots[f"{slot}_detail"] = detail
        before = self.s.screen_answers.get(slot) or self.s.deferred.get(slot, (None, None))[0]
        if before is not None and _RANK.get(answer, 2) <= _RANK.get(before, 2):
            return []
        q = next((q for q in self.pack.screen.questions if q.slot == slot), None)
        if q is None:
            self.out.slots[slot] = answer
            return []
        relevant = self._relevant(q)
        if relevant is None:
            self.s.deferred[slot] = (answer, when)
            self.out.slots[slot] = self._slot_value(answer, when)
            return []
        if not relevant:
            self.out.slots[slot] = self._slot_value(answer, when)
            return []
        return self._apply(q, answer, when=when)

    @staticmethod
    def _slot_value(answer: str, when: DateReading | None) -> str:
        return when.point.isoformat() if when is not None else answer

    # ---- intents at any step ----

    async def anywhere(self, text: str) -> list[Say] | None:
        """Intents that apply whatever was asked; None lets the current step handle the turn."""
        intent, state = self.reading.intent, self.s.state
        if intent == "wrong_number" and state in _ROUTING:
            self.s.state = "ended"
            return [self._line_or("wrong_number", "goodbye")]
        if intent == "stop_calling":
            self.tasks.append(StaffTask("opt-out", {"phone": self.out.slots.get("phone") or self.caller.phone}))
            self.out.slots["opt_out"] = True
            self.s.state = "ended"
            return [self._line_or("opt_out_ack", "goodbye")]
        if intent == "goodbye" and state in ("offer_booking", "offer_slot", "greeting", "new_or_returning") \
                and not _declines_offer(state, text):
            return self.goodbye()
        if intent == "message" and state != "message":
            return self.start_message()
        if intent == "complaint" and state not in ("message", "concern"):
            return self.complaint()
        symptoms = self.reading.slots.get("symptoms")
        if symptoms and not self.s.concern_raised and state not in ("concern", "concern_check", "message") and (
                state in _ROUTING or (intent in _REQUESTS and intent is not None)):
            self.s.pending = None
            self.s.state = "concern"
            return await self.on_concern(text)
        if intent in _APPOINTMENT and state in _ROUTING:
            return await self.start_appointment(intent)
        if intent == "price" and state not in ("message", "concern", "price_treatment"):
            if state == "intake" and self.s.pending is not None and self.s.pending.kind in ("yes_no", "date") \
                    and self.parses_as_answer(text):
                answered = await self.on_intake(text)  # "no, but how much will this cost me?"
                return self.price_now() + (answered or [])
            return self.price()
        return None

    def _line_or(self, key: str, fallback: str, **values: object) -> Say:
        return self.line(key if getattr(self.pack.dialogue, key, None) else fallback, **values)

    def complaint(self) -> list[Say]:
        """Unhappy with a result: staff take it (service recovery); no selling for the rest of the call."""
        index = max(i for i, t in enumerate(self.out.turns) if t.speaker == "caller")
        hours = self.s.workflow.response_time.routine_hours if self.s.workflow else 24
        self.s.concern_raised = True
        self.s.pending = None
        self.out.slots["complaint"] = True
        self.out.escalations.append(Escalation("routine", "result-complaint", index, "service recovery"))
        self.tasks.append(StaffTask("service-recovery", {"turn": index, "within_hours": hours}))
        self.s.state = "anything_else"
        return [self._line_or("complaint_noted", "concern_noted", hours=hours), self.line("anything_else")]

    def priced(self) -> Any:
        """The treatment a price question is about: the one named in this turn ("and how much is
        lip filler?" after a Botox quote), else the call's."""
        named = self.reading.slots.get("treatment")
        return (self.pack.treatment(named) if named else None) or self.treatment()

    def price_now(self) -> list[Say]:
        t = self.priced()
        if self.s.concern_raised or t is None or self.s.booking_kind != "treatment":
            return []
        self.s.quoted = True
        return self.quote_lines(t)

    def price(self) -> list[Say]:
        """The menu's unit-range quote, at any step; then the step's own question again."""
        if self.s.concern_raised:
            return [self.line("concern_first")] + self.current_prompt()
        t = self.priced()
        if self.s.booking_kind != "treatment":
            price = self.pack.menu.consult.price
            says = [self.line("quote_consult", price="free of charge" if price == 0 else self.money(price))]
        elif t is None:
            if not getattr(self.pack.dialogue, "price_ask_treatment", None):
                return [self.pack_question("treatment")]
            self.s.price_return = self.s.state
            self.s.state = "price_treatment"
            return [self.line("price_ask_treatment")]
        else:
            says = self.quote_lines(t)
        self.s.quoted = True
        return says + self._after_price()

    def quote_lines(self, t: Any) -> list[Say]:
        asked = [a for a in (self.reading.slots.get("areas") or self.out.slots.get("areas") or []) if a in t.doses]
        if not asked and len(t.doses) == 1:
            asked = list(t.doses)
        if asked:
            return [self._quote(t, a) for a in asked]
        unit = {"units": "unit", "syringe": "syringe", "session": "session"}[t.unit]
        say = self._line_or("price_unit", "quote_consult", treatment=t.name, price=self.money(t.price_per_unit),
                            unit_one=unit)
        return [Say(say.text, say.provenance, cacheable=False)]

    def _after_price(self) -> list[Say]:
        if self.s.state in _ROUTING:
            self.s.state = "anything_else"
            return [self.line("anything_else")]
        return self.current_prompt()

    async def on_price_treatment(self, text: str) -> list[Say] | None:
        back = getattr(self.s, "price_return", None) or "greeting"
        self.s.state = back
        t = self.treatment()
        if t is None:
            handler = getattr(self, f"on_{back}", None)
            return await handler(text) if handler else None
        self.s.quoted = True
        return self.quote_lines(t) + self._after_price()

    def pack_question(self, slot: str) -> Say:
        q = next(q for q in self.pack.screen.questions if q.slot == slot)
        return Say(q.ask, self.pack.prov(q.id), cacheable=True)

    # ---- the opening turn ----

    async def on_greeting(self, text: str) -> list[Say] | None:
        """The caller spoke first: route what they said; ask new-or-returning only when it is unsettled."""
        if self.caller.known_patient:
            says = await self.on_returning_reason(text)
            if says is None:
                self.s.state = "returning_reason"
                return [self.line("ask_returning_reason")]
            return says
        says = await self.on_new_or_returning(text)
        if says is None:
            self.s.state = "new_or_returning"
            return [self.line("ask_new_or_returning")]
        return says


def _declines_offer(state: str, text: str) -> bool:
    """"No thanks" to a booking offer declines the offer (the step answers it); "bye" ends the call."""
    from appliance.clinic.parsers import normalize, yes_no

    return state in ("offer_booking", "offer_slot") and yes_no(text) in ("no", "declined") \
        and not re.search(r"\b(bye|goodbye)\b", normalize(text))
