"""The post-call summary: built deterministically from a call's slots, events and turns.

`build_summary` is pure (no clock, no I/O): the same outcome always gives the same summary.
`refine_summary` may ask the local language model for intent and sentiment; its answer is
only taken when it is one of the allowed values, never for a call that raised a clinical
escalation (that stays a clinical concern), and the summary records which source decided.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from appliance.conversation import ConversationOutcome, LanguageModel
from appliance.logs import get_logger
from appliance.records.redact import redact

log = get_logger(__name__)

INTENTS = ("clinical-concern", "booking", "reschedule", "cancel", "pricing", "aftercare", "general-inquiry")
SENTIMENTS = ("negative", "neutral", "positive")
URGENCIES = ("emergency", "urgent", "routine")

_INTENT_WORDS: list[tuple[str, re.Pattern[str]]] = [
    ("cancel", re.compile(r"\bcancel", re.I)),
    ("reschedule", re.compile(r"\b(reschedul|move my appointment|change my appointment|different (day|time))", re.I)),
    ("pricing", re.compile(r"\b(how much|price|pricing|cost|quote|per unit|per syringe|deposit)\b", re.I)),
    ("aftercare", re.compile(r"\b(aftercare|after my (treatment|injection|filler|botox|peel)|swelling|bruis|"
                             r"since my (treatment|appointment))", re.I)),
    ("booking", re.compile(r"\b(book|appointment|schedule|consult|come in|availability|available)\b", re.I)),
]
_NEGATIVE = re.compile(r"\b(worried|scared|afraid|pain|painful|hurts?|angry|upset|terrible|awful|disappointed|"
                       r"unhappy|frustrated|annoyed|concerned|bad|horrible|ridiculous|not happy|anxious)\b", re.I)
_POSITIVE = re.compile(r"\b(thanks|thank you|great|perfect|wonderful|love|happy|excellent|awesome|amazing|"
                       r"fantastic|lovely|appreciate)\b", re.I)

_SLOT_KEYS = {
    "name": ("name", "caller_name", "patient_name", "full_name"),
    "callback_number": ("callback_number", "callback", "phone", "phone_number", "caller_number"),
    "reason": ("reason", "reason_for_call", "concern"),
    "urgency": ("urgency",),
}
_PROCEDURE_KEYS = ("procedure", "treatment", "service")


@dataclass(frozen=True)
class CallSummary:
    intent: str
    sentiment: str
    urgency: str
    lead_score: int
    escalated: bool
    slots: dict[str, Any]
    procedure: str | None
    outcome: str
    next_step: str
    escalations: list[dict[str, Any]] = field(default_factory=list)
    booking: dict[str, Any] | None = None
    pack: str | None = None
    decided_by: str = "rules"  # "rules" or "rules+llm"
    said: list[str] = field(default_factory=list)  # approved lines heard in full, by pack item id, in order
    concern: str | None = None  # what the caller reported as a concern (symptoms, or the concern's reason)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _first(slots: dict[str, Any], keys: tuple[str, ...]) -> Any:
    for k in keys:
        v = slots.get(k)
        if v not in (None, ""):
            return v
    return None


def _caller_text(outcome: ConversationOutcome) -> str:
    return "\n".join(t.text for t in outcome.turns if t.speaker == "caller")


def classify_intent(outcome: ConversationOutcome) -> str:
    if outcome.escalations:
        return "clinical-concern"
    declared = outcome.slots.get("intent")
    if declared in INTENTS:
        return str(declared)
    if outcome.booking:
        return "booking"
    text = _caller_text(outcome)
    for intent, pattern in _INTENT_WORDS:
        if pattern.search(text):
            return intent
    return "general-inquiry"


def classify_sentiment(outcome: ConversationOutcome) -> str:
    text = _caller_text(outcome)
    score = len(_POSITIVE.findall(text)) - len(_NEGATIVE.findall(text))
    return "positive" if score > 0 else "negative" if score < 0 else "neutral"


def classify_urgency(outcome: ConversationOutcome) -> str:
    severities = {e.severity for e in outcome.escalations}
    for level in URGENCIES:
        if level in severities:
            return level
    declared = str(outcome.slots.get("urgency") or "").lower()
    return declared if declared in URGENCIES else "routine"


def lead_score(outcome: ConversationOutcome, slots: dict[str, Any], procedure: str | None, intent: str,
               sentiment: str) -> int:
    """0-100: how ready the caller is to book. Booked 30, procedure 15, name 15, callback 15,
    screen complete 10, booking/pricing intent 10, positive 5; contraindication flags -20."""
    score = 30 if outcome.booking else 0
    score += 15 if procedure else 0
    score += 15 if slots.get("name") else 0
    score += 15 if slots.get("callback_number") else 0
    score += 10 if outcome.screen.get("complete") else 0
    score += 10 if intent in ("booking", "pricing") else 0
    score += 5 if sentiment == "positive" else 0
    score -= 20 if outcome.screen.get("flags") else 0
    return max(0, min(100, score))


def next_step(outcome: ConversationOutcome, urgency: str, intent: str, slots: dict[str, Any], procedure: str | None) -> str:
    if outcome.escalations:
        cats = ", ".join(sorted({e.category for e in outcome.escalations}))
        if urgency == "emergency":
            return f"Injector/NP: call the patient back immediately ({cats})"
        if urgency == "urgent":
            return f"Clinician: call the patient back today ({cats})"
        return f"Clinician: review the concern ({cats})"
    if outcome.screen.get("flags"):
        return "Clinician: review the screening flags before any treatment is booked"
    if outcome.booking:
        return "Front desk: confirm the booking and the deposit"
    if intent == "cancel":
        return "Front desk: confirm the cancellation and offer another slot"
    if intent == "reschedule":
        return "Front desk: call back to reschedule"
    if slots.get("callback_number"):
        what = f" about {procedure}" if procedure else ""
        return f"Front desk: call back{what}"
    return "No action needed"


HEARD_IN_FULL = 0.95  # a line cut by barge-in before this fraction was not delivered


def lines_heard(outcome: ConversationOutcome) -> list[str]:
    """The pack item ids (`PACK@VERSION#ID` -> `ID`) of the agent's approved lines the caller
    heard in full, each once, in the order first said (the documentation checklist's evidence
    of which instructions were delivered)."""
    ids: list[str] = []
    for t in outcome.turns:
        if t.speaker == "agent" and t.provenance and "#" in t.provenance and t.heard_fraction >= HEARD_IN_FULL:
            item = t.provenance.split("#", 1)[1]
            if item not in ids:
                ids.append(item)
    return ids


def reported_concern(outcome: ConversationOutcome) -> str | None:
    """The concern the caller reported: the symptoms the engine heard, else, when the call raised
    a concern (an escalation or a noted concern), its reason or category."""
    symptoms = [str(x) for x in outcome.slots.get("symptoms") or [] if x]
    if symptoms:
        return ", ".join(symptoms)
    concerns = [e.category for e in outcome.escalations if e.category != "clinical-question"]
    if concerns or outcome.outcome == "concern-noted":
        return str(outcome.slots.get("concern") or outcome.slots.get("reason") or ", ".join(concerns) or "concern noted")
    return None


def build_summary(outcome: ConversationOutcome) -> CallSummary:
    slots = {name: _first(outcome.slots, keys) for name, keys in _SLOT_KEYS.items()}
    procedure = _first(outcome.slots, _PROCEDURE_KEYS) or (outcome.booking or {}).get("procedure")
    intent = classify_intent(outcome)
    sentiment = classify_sentiment(outcome)
    urgency = classify_urgency(outcome)
    slots["urgency"] = urgency if outcome.escalations else (slots["urgency"] or urgency)
    return CallSummary(
        intent=intent, sentiment=sentiment, urgency=urgency,
        lead_score=lead_score(outcome, slots, procedure, intent, sentiment),
        escalated=bool(outcome.escalations), slots=slots, procedure=procedure, outcome=outcome.outcome,
        next_step=next_step(outcome, urgency, intent, slots, procedure),
        escalations=[{"severity": e.severity, "category": e.category, "turn": e.turn} for e in outcome.escalations],
        booking=outcome.booking, pack=outcome.pack, said=lines_heard(outcome), concern=reported_concern(outcome),
    )


_SCHEMA = {
    "type": "object",
    "properties": {"intent": {"type": "string", "enum": list(INTENTS[1:])},
                   "sentiment": {"type": "string", "enum": list(SENTIMENTS)}},
    "required": ["intent", "sentiment"],
}
_SYSTEM = ("You label phone calls to an aesthetic clinic. Read the caller's words and answer with the caller's "
           "main intent and overall sentiment.")


async def refine_summary(summary: CallSummary, outcome: ConversationOutcome, llm: LanguageModel | None,
                         timeout_s: float = 20.0) -> CallSummary:
    """Let the language model refine intent and sentiment; keep the rules' answer on any doubt."""
    if llm is None or summary.escalated:
        return summary
    names = [str(summary.slots["name"])] if summary.slots.get("name") else []
    text = redact(_caller_text(outcome), names)[-2000:]
    if not text.strip():
        return summary
    try:
        answer = await asyncio.wait_for(llm.complete_json(_SYSTEM, text, _SCHEMA, max_tokens=32), timeout_s)
    except Exception as e:  # noqa: BLE001 (the model is an optional refinement: the rules' summary stands)
        log.warning("summary.llm_failed", error=type(e).__name__)
        return summary
    intent, sentiment = answer.get("intent"), answer.get("sentiment")
    if intent not in INTENTS[1:] or sentiment not in SENTIMENTS:
        return summary
    if outcome.booking and intent != "booking":
        intent = summary.intent  # a booked call is a booking, whatever the model says
    refined = replace(summary, intent=intent, sentiment=sentiment, decided_by="rules+llm")
    slots = refined.slots
    return replace(refined, lead_score=lead_score(outcome, slots, refined.procedure, intent, sentiment),
                   next_step=next_step(outcome, refined.urgency, intent, slots, refined.procedure))
