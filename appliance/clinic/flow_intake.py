"""New-patient intake: the pack's questions in order, screen outcomes, the quote."""

from __future__ import annotations

from datetime import date, timedelta

from appliance.clinic.call_context import CallContext
from appliance.clinic.dates import DateReading, read_date
from appliance.clinic.nlu import areas_in, treatments_in
from appliance.clinic.parsers import money_range, refused, yes_no
from appliance.clinic.schema import Question, ScreenOutcome, Treatment
from appliance.clinic.states import State
from appliance.clinic.understand import SAFETY_SLOTS, heard_for_no, safety_answer, treatments_answering
from appliance.conversation import Say

_RESTRICT = {"proceed": 0, "provider_review": 1, "consult_only": 1, "no_booking": 2}
_KIND_OF = {0: "treatment", 1: "consult", 2: "none"}


class IntakeFlow:
    """The screen and the quote; needs the call only (`CallContext`)."""

    def __init__(self, ctx: CallContext) -> None:
        self.ctx = ctx

    # ---- state ----

    def treatment(self) -> Treatment | None:
        tid = self.ctx.out.slots.get("treatment")
        return self.ctx.pack.treatment(tid) if tid else None

    def family(self) -> str | None:
        t = self.treatment()
        return t.family if t else None

    def relevant(self, q: Question) -> bool | None:
        """Whether the question's conditions hold: None while they depend on what is not known yet."""
        slots = self.ctx.out.slots
        fam = self.family()
        unknown = False
        if q.when_families:
            if fam is None:
                unknown = True
            elif fam not in q.when_families:
                return False
        if q.when_lower_face:
            if slots.get("areas") and isinstance(slots["areas"], list):
                lower = {a.id for a in self.ctx.pack.menu.areas if a.lower_face}
                if not lower & set(slots["areas"]):
                    return False
            else:
                unknown = True
        if q.when_yes and slots.get(q.when_yes) == "no":
            return False
        return None if unknown else True

    def _applies(self, q: Question) -> bool:
        slots = self.ctx.out.slots
        if q.slot in slots or q.slot in self.ctx.s.screen_answers:
            return False
        if self.relevant(q) is False:
            return False
        return not (not q.screen and self.ctx.s.booking_kind != "treatment" and q.slot not in ("treatment", "areas"))

    def screen_complete(self) -> bool:
        if self.ctx.s.patient_type != "new" and not self.ctx.s.screen_answers:
            return False
        return all(not self._applies(q) for q in self.ctx.pack.screen.questions if q.screen)

    def booking_label(self) -> str:
        t = self.treatment()
        if self.ctx.s.booking_kind == "consult" or t is None:
            return self.ctx.pack.menu.consult.name
        return t.name

    # ---- flow ----

    def start_intake(self, text: str) -> list[Say]:
        s = self.ctx.s
        s.patient_type = s.patient_type or "new"
        self.ctx.out.slots["patient_type"] = s.patient_type
        s.state = State.INTAKE
        says = [self.ctx.line("screen_intro")]
        says += self.volunteered(text)
        return says + self.next_question()

    def volunteered(self, text: str) -> list[Say]:
        """Slots the caller gave before being asked: the engine already read and applied the whole
        turn (`TurnFlow.absorb`), so only screen answers kept for later may apply now."""
        return self._release_deferred()

    def _release_deferred(self, final: bool = False) -> list[Say]:
        says: list[Say] = []
        for q in self.ctx.pack.screen.questions:
            if q.slot not in self.ctx.s.deferred:
                continue
            relevant = self.relevant(q)
            if relevant is None and not final:
                continue
            answer, when = self.ctx.s.deferred.pop(q.slot)
            if relevant is not False:  # still unknown at the end: apply it (conservative)
                self.ctx.out.slots.pop(q.slot, None)
                says += self.apply(q, answer, when=when)
        return says

    def set_treatment(self, t: Treatment) -> None:
        self.ctx.out.slots["treatment"] = t.id
        if len(t.doses) == 1 and "areas" not in self.ctx.out.slots:
            self.ctx.out.slots["areas"] = list(t.doses)

    def _areas_for(self, text: str) -> list[str]:
        return [a.id for a in areas_in(self.ctx.pack, text)]

    def next_question(self) -> list[Say]:
        says = self._release_deferred()
        for q in self.ctx.pack.screen.questions:
            if self._applies(q):
                self.ctx.s.pending = q
                self.ctx.s.state = State.INTAKE
                return says + [Say(q.ask, self.ctx.pack.prov(q.id), cacheable=True)]
        self.ctx.s.pending = None
        return says + self._release_deferred(final=True) + self.finish_intake()

    def parses_as_answer(self, text: str) -> bool:
        q = self.ctx.s.pending
        if q is None:
            return False
        if q.kind == "yes_no":
            return yes_no(text) is not None
        if q.kind == "date":
            return read_date(text, self.ctx.today, loose=True) is not None
        return q.kind in ("treatment", "areas") and bool(treatments_in(self.ctx.pack, text) or
                                                          areas_in(self.ctx.pack, text))

    def apply(self, q: Question, answer: str, when: DateReading | date | None = None) -> list[Say]:
        """Record an answer and apply the pack's outcome for it; returns the outcome's line. A date
        range is checked at its most recent end (the conservative reading)."""
        s, slots = self.ctx.s, self.ctx.out.slots
        s.screen_answers[q.slot] = answer
        if isinstance(when, DateReading):
            slots[q.slot] = when.point.isoformat()
            slots[f"{q.slot}_range"] = when.as_slot()
            when = when.latest
        else:
            slots[q.slot] = when.isoformat() if when else answer
        outcome: ScreenOutcome | None = None
        if answer == "yes":
            outcome = q.on_yes
        elif answer == "no":
            outcome = q.on_no
        elif answer in ("declined", "unsure"):
            outcome = q.on_declined
        elif when is not None and q.within_days and self.ctx.today - when < timedelta(days=q.within_days):
            outcome = q.on_within
        if outcome is None or outcome.outcome == "proceed":
            return [self.ctx.line("declined_ack")] if answer == "declined" and q.on_declined is None else []
        if outcome.flag and outcome.flag not in s.screen_flags:
            s.screen_flags.append(outcome.flag)
        rank = max(_RESTRICT[outcome.outcome], {"treatment": 0, "consult": 1, "none": 2}[s.booking_kind])
        s.booking_kind = _KIND_OF[rank]
        if outcome.line and outcome.line.id not in s.said_outcomes:
            s.said_outcomes.add(outcome.line.id)
            return [self.ctx.item(outcome.line)]
        return []

    async def on_intake(self, text: str) -> list[Say] | None:
        q = self.ctx.s.pending
        says = self.volunteered(text)
        if q is None or q.slot in self.ctx.s.screen_answers or q.slot in self.ctx.out.slots:
            return says + self.next_question()
        got = await self._answer(q, text)
        if got is None:
            if says:  # the turn settled something else; ask again
                return says + [Say(q.ask, self.ctx.pack.prov(q.id), cacheable=True)]
            return None
        self.ctx.s.retries = 0
        return says + got + self.next_question()

    async def _answer(self, q: Question, text: str) -> list[Say] | None:
        pack, slots, reading, assist = self.ctx.pack, self.ctx.out.slots, self.ctx.reading, self.ctx.assist
        if refused(text):
            return self._declined(q)
        if q.kind == "treatment":
            found = treatments_answering(pack, text)
            if not found and assist.use("treatment"):
                label = await assist.choose("treatment", tuple(t.id for t in pack.menu.treatments) + ("other",),
                                            q.ask, text)
                chosen = pack.treatment(label) if label and label != "other" else None
                found = [chosen] if chosen is not None else []
            if not found:
                return None
            self.set_treatment(found[0])
            areas = self._areas_for(text)
            if areas and "areas" not in slots:
                slots["areas"] = areas
            return []
        if q.kind == "areas":
            areas = self._areas_for(text)
            if not areas:
                return None
            slots["areas"] = areas
            return []
        if q.kind == "yes_no" and (q.screen or q.slot in SAFETY_SLOTS):
            # Safety slots: deterministic readings only; the language model is never asked.
            answer = safety_answer(text, reading, q.slot)
            return None if answer is None else self.apply(q, answer)
        if q.kind == "yes_no":
            answer = reading.slots.get(q.slot) or yes_no(text)
            if answer is None and not heard_for_no(text) and assist.use("prior"):
                answer = await assist.choose("answer", ("yes", "no", "unsure", "other"), q.ask, text)
            if answer is None or answer == "other":
                return None
            return self.apply(q, answer)
        if q.kind == "date":
            if reading.slots.get("last_neuromodulator") == "never" or reading.slots.get("prior_treatments") == "no":
                return self.apply(q, "never")
            when = reading.details.get(f"{q.slot}_reading") or read_date(text, self.ctx.today, loose=True)
            if when is None:
                said = yes_no(text)
                if said == "no" and not heard_for_no(text):
                    return self.apply(q, "never")
                return self.apply(q, "unsure") if said in ("unsure", "declined") else None
            return self.apply(q, "date", when=when)
        if q.kind == "budget":
            rng = money_range(text)
            if rng is None and self.ctx.s.retries < 1 and yes_no(text) is None and len(text.split()) < 3:
                return None
            slots["budget"] = {"low": rng[0], "high": rng[1]} if rng else text[:80]
            return []
        slots[q.slot] = text[:200]
        return []

    def _declined(self, q: Question) -> list[Say]:
        if q.screen:
            return self.apply(q, "declined") or [self.ctx.line("declined_ack")]
        self.ctx.out.slots[q.slot] = "declined"
        if q.slot == "treatment":
            s = self.ctx.s
            s.booking_kind = "consult" if s.booking_kind == "treatment" else s.booking_kind
        return [self.ctx.line("declined_ack")]

    def intake_gave_up(self) -> list[Say]:
        """Two failed attempts at the pending question: screen questions take the declined outcome."""
        q = self.ctx.s.pending
        self.ctx.s.retries = 0
        if q is None:
            return self.next_question()
        says: list[Say]
        if q.screen:
            says = self.apply(q, "unsure")
        else:
            self.ctx.out.slots[q.slot] = "unknown"
            if q.slot == "treatment" and self.ctx.s.booking_kind == "treatment":
                self.ctx.s.booking_kind = "consult"
            says = []
        return says + self.next_question()

    def finish_intake(self) -> list[Say]:
        ctx = self.ctx
        ctx.out.screen["complete"] = self.screen_complete()
        says: list[Say] = []
        if ctx.s.booking_kind == "none":
            return says + ctx.start_message()
        t = self.treatment()
        if ctx.s.booking_kind == "treatment" and t is not None and not ctx.s.quoted:
            for area_id in ctx.out.slots.get("areas", []):
                if area_id in t.doses:
                    says.append(self.quote(t, area_id))
        elif ctx.s.booking_kind == "consult" and not ctx.s.quoted:
            price = ctx.pack.menu.consult.price
            says.append(ctx.line("quote_consult", price="free of charge" if price == 0 else ctx.money(price)))
        if ctx.s.concern_raised:
            return says + [ctx.line("concern_first")]
        ctx.s.state = State.OFFER_BOOKING
        return says + [ctx.line("offer_booking", kind=self.booking_label())]

    def quote(self, t: Treatment, area_id: str) -> Say:
        ctx = self.ctx
        dose = t.doses[area_id]
        area = next(a for a in ctx.pack.menu.areas if a.id == area_id)
        single = dose.min == dose.max
        plural = not (single and dose.min == 1)
        unit = {"units": "units", "syringe": "syringes" if plural else "syringe",
                "session": "sessions" if plural else "session"}[t.unit]
        one = {"units": "unit", "syringe": "syringe", "session": "session"}[t.unit]
        say = ctx.line("quote_single" if single else "quote", area=area.name, treatment=t.name, low=f"{dose.min:g}",
                       high=f"{dose.max:g}", unit=unit, unit_one=one, price=ctx.money(t.price_per_unit),
                       total_low=ctx.money(dose.min * t.price_per_unit),
                       total_high=ctx.money(dose.max * t.price_per_unit))
        return Say(say.text, ctx.pack.prov(t.id), cacheable=True)
