"""The red-flag step at the top of every caller turn, in every state of every call.

1. Aftercare recognition: "I had X yesterday" sets the call's procedure and date (context).
2. Every red flag of the pack (general and every workflow's) against the turn (`safety.check`).
   A hit escalates; a fuzzy-only hit heard with low ASR confidence first gets the pack's one
   confirmation question (`dialogue.confirm_symptom`), and anything but a clear "no" escalates.
   A clear "no" re-asks the question the call was on (the "no" answers the confirmation, not it).
   The second listen (`also_heard`: the same audio heard again, by Whisper with the symptom words
   in its prompt and by a second recogniser, when the first hearing was unsure) is read when the
   turn itself raised nothing, or less than it: its hit is never taken on trust but gets the
   confirmation question; a "no" to it leaves the turn's own hit standing, escalated as before.
   A confirmation the caller never answers (they hang up) is escalated for staff (`call_ended`).
3. No hit, but an aftercare cue while the call is still routing (or a concern mid-flow): the
   call switches into the returning / aftercare path with that procedure and date.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from appliance.clinic import safety
from appliance.clinic.aftercare_cue import AftercareCue, aftercare_cue
from appliance.clinic.call_context import CallContext
from appliance.clinic.flow_facts import FactsFlow
from appliance.clinic.flow_returning import ReturningFlow
from appliance.clinic.nlu import intent_of, is_question
from appliance.clinic.parsers import yes_no
from appliance.clinic.redflags import SEVERITY_RANK, Hit
from appliance.clinic.schema import RedFlag
from appliance.clinic.states import State
from appliance.clinic.targets import symptom_text
from appliance.conversation import Escalation, Say
from appliance.logs import get_logger

log = get_logger(__name__)

_ROUTING = frozenset({State.GREETING, State.NEW_OR_RETURNING, State.RETURNING_REASON, State.HOW_HELP,
                      State.ANYTHING_ELSE, State.AFTERCARE_CONTEXT})
_NO_SWITCH = frozenset({State.ESCALATED, State.ENDED, State.CONCERN, State.CONCERN_CHECK, State.MESSAGE})
_AFTERCARE = frozenset({State.AFTERCARE_CONTEXT, State.CONCERN, State.CONCERN_CHECK, State.RETURNING_REASON})
_DEFAULT_WORSENING = RedFlag(id="rf-worsening", category="worsening-symptom", severity="urgent",
                             action="transfer_np", phrases=["worsening symptom"])


class SafetyStep:
    """The red-flag step; a recognised aftercare call goes to the returning flow (after the
    approved answers to any clinic facts the turn asks, from the facts flow)."""

    def __init__(self, ctx: CallContext, returning: ReturningFlow, facts: FactsFlow,
                 reask: Callable[[], list[Say]]) -> None:
        self.ctx = ctx
        self.returning = returning
        self.facts = facts
        self.reask = reask  # the question the call was on, asked again after a "no" to the confirmation
        self.pending: Hit | None = None  # a low-confidence hit awaiting the confirmation answer
        self.floor: Hit | None = None  # the turn's own hit under a worse pending one: a "no" escalates it
        policy = ctx.pack.screen.worsening
        if policy is not None:
            self.worsening = RedFlag(id=policy.id, category=policy.category, severity=policy.severity,
                                     action=policy.action, phrases=["worsening symptom"], line=policy.line)
            self.by_family: dict[str, str] = {family: severity for family, severity in policy.by_family.items()}
        else:
            self.worsening, self.by_family = _DEFAULT_WORSENING, {}

    def verdict(self, text: str, confidence: float | None = None) -> safety.Verdict:
        ctx = self.ctx
        wf = ctx.s.workflow
        if safety.only_a_name(text):
            return safety.Verdict()  # "My name is Rosa White.": a surname, not a blanching lip
        # "IPL for sun spots", "Blue Cross": what a treatment is for, and a name with a colour, are not symptoms;
        # nor, before any treatment is known, "dark circles under my eyes" (a look to treat, not a vision change)
        text = symptom_text(ctx.pack, text, treated=self._treated())
        return safety.check(ctx.pack.all_red_flags(), text, workflow=wf.id if wf else None,
                            family=wf.family if wf else None, worsening=self.worsening,
                            worsening_by_family=self.by_family, confidence=confidence)

    def _treated(self) -> bool:
        """A treatment of the caller's is known: on record, or told in this call (an aftercare cue, a concern)."""
        ctx, s = self.ctx, self.ctx.s
        return bool(s.treated_on is not None or ctx.caller.procedure or ctx.out.slots.get("aftercare_cue")
                    or s.concern_raised or s.state in _AFTERCARE)

    def note_context(self, text: str, symptom: bool = False) -> AftercareCue | None:
        """Procedure and date from the caller's words, when the call does not know them yet. A new
        patient's booking is not aftercare, unless the turn reports a symptom (`symptom`)."""
        ctx = self.ctx
        reading = ctx.reading
        new_patient = reading.intent == "new_patient"
        symptom = symptom or bool(reading.slots.get("symptoms"))
        cue = aftercare_cue(ctx.pack, text, ctx.today, new_patient=new_patient, symptom=symptom)
        if cue is None:
            return None
        if ctx.s.workflow is None and cue.workflow is not None:
            ctx.s.workflow = cue.workflow
        if ctx.s.treated_on is None and cue.treated_on is not None:
            ctx.s.treated_on = cue.treated_on
        ctx.out.slots["aftercare_cue"] = True
        return cue

    def step(self, text: str, index: int, confidence: float | None = None,
             also_heard: str | None = None) -> list[Say] | None:
        ctx = self.ctx
        state_before = ctx.s.state
        routing = ctx.s.state not in (State.ESCALATED, State.ENDED)
        cue = self.note_context(text) if routing else None
        v = self.verdict(text, confidence)
        if v.top is not None and cue is None and routing and self.note_context(text, symptom=True) is not None:
            v = self.verdict(text, confidence)  # a red flag: the procedure named in the turn orders the hits
        says = self.flagged(v, text, index, also_heard)
        if says is not None:
            return says
        if cue is not None and self._switch(state_before, text):
            return self._to_aftercare(text)
        return None

    def flagged(self, v: safety.Verdict, text: str, index: int, also_heard: str | None = None,
                reask: Callable[[], list[Say]] | None = None) -> list[Say] | None:
        """What the turn's red flags say: the answer to a pending confirmation, the escalation of a
        hit, the confirmation question (an unsure hit, or the second listen's); None: no red flag.
        `reask`: the caller's own step question (default: the engine's current prompt)."""
        ctx = self.ctx
        if self.pending is not None:
            pending, self.pending = self.pending, None
            floor, self.floor = self.floor, None
            if v.top is not None:
                return ctx.escalate(_worst(v.top, pending), index)
            if yes_no(text) == "no":
                log.info("clinic.symptom_not_confirmed", flag=pending.flag.id)
                if floor is not None:  # what the caller's own words raised stands
                    return ctx.escalate(floor, index)
                return (reask or self.reask)() or [ctx.line("how_help")]
            return ctx.escalate(pending, index)  # yes, or unclear: recall first
        asks = bool(ctx.pack.dialogue.confirm_symptom)
        again = self.verdict(also_heard).top if also_heard else None
        if again is not None:
            again = replace(again, method=f"second listen, {again.method}")  # staff see which hearing it was
        if v.top is not None:
            worse = again if again is not None and _rank(again) > _rank(v.top) else None
            if asks and v.confirm:
                return self._confirm(worse or v.top, "unsure")
            if asks and worse is not None:  # "My tongue is swollen." heard as a routine "swole one"
                return self._confirm(worse, "second_listen_worse", floor=v.top)
            return ctx.escalate(worse or v.top, index)  # no confirmation line in the pack: recall first
        if again is not None:
            if asks:
                return self._confirm(again, "second_listen")
            return ctx.escalate(again, index)  # no confirmation line in the pack: recall first
        return None

    def _confirm(self, hit: Hit, why: str, floor: Hit | None = None) -> list[Say]:
        self.pending, self.floor = hit, floor
        log.info("clinic.symptom_confirm", flag=hit.flag.id, method=hit.method, why=why)
        return [self.ctx.line("confirm_symptom")]

    def call_ended(self, index: int) -> None:
        """The caller hung up: a confirmation question they never answered is escalated for staff
        (recall first; they were not asked to speak to anyone, so it is a record and a page, not a
        transfer), with the turn's own hit beside it when there was one."""
        ctx = self.ctx
        hits = [h for h in (self.pending, self.floor) if h is not None]
        self.pending = self.floor = None
        for hit in hits:
            flag = hit.flag
            ctx.out.escalations.append(Escalation(flag.severity, flag.category, index, flag.id,
                                                  f"confirmation not answered; {hit.evidence}"))
            ctx.s.concern_raised = True
            log.info("clinic.escalation", severity=flag.severity, category=flag.category, flag=flag.id,
                     method="unanswered-confirmation", pack=ctx.pack.ref)

    def _switch(self, state: State, text: str) -> bool:
        if self.ctx.s.concern_raised or state in _NO_SWITCH:
            return False
        reading = self.ctx.reading
        if reading.facts:  # clinic facts are answered first; the rest of the turn decides
            text = reading.rest or ""
            if not text:
                return False
        if is_question(text):
            return False  # "I had laser last week. Can I shave?": the approved answer first (context is noted)
        if reading.intent in ("touch_up", "price") and not reading.slots.get("symptoms"):
            return False  # "I got Botox two weeks ago, can I book a touch-up": routed with the context noted
        if state in _ROUTING:
            return True
        return intent_of(text) == "aftercare"  # "actually, since my filler ..." mid-booking

    def _to_aftercare(self, text: str) -> list[Say]:
        ctx = self.ctx
        ctx.s.pending = None
        ctx.s.patient_type = "returning"
        ctx.out.slots["patient_type"] = "returning"
        ctx.out.slots.setdefault("reasons", []).append("aftercare")
        log.info("clinic.aftercare_recognised", procedure=ctx.s.workflow.id if ctx.s.workflow else None)
        return self.facts.fact_says() + self.returning.start_aftercare(text, "concern")  # "... where are you?": the address first


def _rank(hit: Hit) -> int:
    return SEVERITY_RANK[hit.flag.severity]


def _worst(a: Hit, b: Hit) -> Hit:
    return a if _rank(a) >= _rank(b) else b
