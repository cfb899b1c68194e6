"""The red-flag step at the top of every caller turn, in every state of every call.

1. Aftercare recognition: "I had X yesterday" sets the call's procedure and date (context).
2. Every red flag of the pack (general and every workflow's) against the turn (`safety.check`).
   A hit escalates; a fuzzy-only hit heard with low ASR confidence first gets the pack's one
   confirmation question (`dialogue.confirm_symptom`), and anything but a clear "no" escalates.
3. No hit, but an aftercare cue while the call is still routing (or a concern mid-flow): the
   call switches into the returning / aftercare path with that procedure and date.
"""

from __future__ import annotations

from typing import Any

from appliance.clinic import safety
from appliance.clinic.aftercare_cue import AftercareCue, aftercare_cue
from appliance.clinic.parsers import yes_no
from appliance.clinic.redflags import SEVERITY_RANK, Hit
from appliance.clinic.schema import RedFlag
from appliance.clinic.targets import without_targets
from appliance.conversation import Say
from appliance.logs import get_logger

log = get_logger(__name__)

_ROUTING = {"greeting", "new_or_returning", "returning_reason", "how_help", "anything_else", "aftercare_context"}
_DEFAULT_WORSENING = RedFlag(id="rf-worsening", category="worsening-symptom", severity="urgent",
                             action="transfer_np", phrases=["worsening symptom"])


class SafetyStep:
    def __init__(self, engine: Any) -> None:
        self.e = engine
        self.pending: Hit | None = None  # a low-confidence hit awaiting the confirmation answer
        policy = getattr(engine.pack.screen, "worsening", None)
        if policy is not None:
            self.worsening = RedFlag(id=policy.id, category=policy.category, severity=policy.severity,
                                     action=policy.action, phrases=["worsening symptom"], line=policy.line)
            self.by_family: dict[str, str] = dict(policy.by_family)
        else:
            self.worsening, self.by_family = _DEFAULT_WORSENING, {}

    def verdict(self, text: str, confidence: float | None = None) -> safety.Verdict:
        e = self.e
        wf = e.s.workflow
        text = without_targets(e.pack, text)  # "IPL for sun spots": what a treatment is for is not a symptom
        return safety.check(e.pack.all_red_flags(), text, workflow=wf.id if wf else None,
                            family=wf.family if wf else None, worsening=self.worsening,
                            worsening_by_family=self.by_family, confidence=confidence)

    def note_context(self, text: str, symptom: bool = False) -> AftercareCue | None:
        """Procedure and date from the caller's words, when the call does not know them yet. A new
        patient's booking is not aftercare, unless the turn reports a symptom (`symptom`)."""
        e = self.e
        reading = getattr(e, "reading", None)
        new_patient = reading is not None and reading.intent == "new_patient"
        symptom = symptom or bool(reading is not None and reading.slots.get("symptoms"))
        cue = aftercare_cue(e.pack, text, e.today, new_patient=new_patient, symptom=symptom)
        if cue is None:
            return None
        if e.s.workflow is None and cue.workflow is not None:
            e.s.workflow = cue.workflow
        if e.s.treated_on is None and cue.treated_on is not None:
            e.s.treated_on = cue.treated_on
        e.out.slots["aftercare_cue"] = True
        return cue

    def step(self, text: str, index: int, confidence: float | None = None) -> list[Say] | None:
        e = self.e
        state_before = e.s.state
        routing = e.s.state not in ("escalated", "ended")
        cue = self.note_context(text) if routing else None
        v = self.verdict(text, confidence)
        if v.top is not None and cue is None and routing and self.note_context(text, symptom=True) is not None:
            v = self.verdict(text, confidence)  # a red flag: the procedure named in the turn orders the hits
        if self.pending is not None:
            pending, self.pending = self.pending, None
            if v.top is not None:
                return e.escalate(_worst(v.top, pending), index)
            if yes_no(text) == "no":
                log.info("clinic.symptom_not_confirmed", flag=pending.flag.id)
                return None
            return e.escalate(pending, index)  # yes, or unclear: recall first
        if v.top is not None:
            confirm_line = getattr(e.pack.dialogue, "confirm_symptom", None)
            if v.confirm and confirm_line:
                self.pending = v.top
                log.info("clinic.symptom_confirm", flag=v.top.flag.id, method=v.top.method)
                return [e.line("confirm_symptom")]
            return e.escalate(v.top, index)
        if cue is not None and self._switch(state_before, text):
            return self._to_aftercare(text)
        return None

    def _switch(self, state: str, text: str) -> bool:
        from appliance.clinic.nlu import is_question

        if self.e.s.concern_raised or state in ("escalated", "ended", "concern", "concern_check", "message"):
            return False
        reading = getattr(self.e, "reading", None)
        if reading is not None and reading.facts:  # clinic facts are answered first; the rest of the turn decides
            text = reading.rest or ""
            if not text:
                return False
        if is_question(text):
            return False  # "I had laser last week. Can I shave?": the approved answer first (context is noted)
        if reading is not None and reading.intent in ("touch_up", "price") and not reading.slots.get("symptoms"):
            return False  # "I got Botox two weeks ago, can I book a touch-up": routed with the context noted
        if state in _ROUTING:
            return True
        from appliance.clinic.nlu import intent_of

        return intent_of(text) == "aftercare"  # "actually, since my filler ..." mid-booking

    def _to_aftercare(self, text: str) -> list[Say]:
        e = self.e
        e.s.pending = None
        e.s.patient_type = "returning"
        e.out.slots["patient_type"] = "returning"
        e.out.slots.setdefault("reasons", []).append("aftercare")
        log.info("clinic.aftercare_recognised", procedure=e.s.workflow.id if e.s.workflow else None)
        return e.fact_says() + e.start_aftercare(text, "concern")  # "... where are you?": the address first


def _worst(a: Hit, b: Hit) -> Hit:
    return a if SEVERITY_RANK[a.flag.severity] >= SEVERITY_RANK[b.flag.severity] else b
