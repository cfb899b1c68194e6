"""The post-call summary of scripted calls: deterministic fields, an optional model refinement."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from appliance.conversation import ConversationOutcome, Turn
from appliance.records.summary import build_summary, refine_summary
from tests.records.conftest import PHI
from tests.records.helpers import booking_call, concern_call


class ScriptedModel:
    """A LanguageModel that answers from a script (pure-logic test of the refinement rules)."""

    def __init__(self, answer: dict[str, Any] | Exception) -> None:
        self.answer = answer
        self.prompts: list[str] = []

    async def complete_json(self, system: str, user: str, schema: dict[str, Any], max_tokens: int = 128) -> dict[str, Any]:
        self.prompts.append(user)
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer

    async def stream(self, system: str, user: str, max_tokens: int = 96) -> AsyncIterator[str]:
        yield ""


def test_booking_call_summary_fields() -> None:
    s = build_summary(booking_call())
    assert s.intent == "booking"
    assert s.sentiment == "positive"
    assert s.urgency == "routine"
    assert s.escalated is False
    assert s.slots == {"name": PHI["name"], "callback_number": PHI["phone"], "reason": "lip filler consult",
                       "urgency": "routine"}
    assert s.procedure == "lip filler"
    assert s.outcome == "booked"
    assert s.lead_score == 100  # booked, procedure, name, callback, screen, booking intent, positive
    assert s.next_step == "Front desk: confirm the booking and the deposit"
    assert s.pack == "demo@1" and s.decided_by == "rules"
    assert set(s.to_dict()) >= {"intent", "sentiment", "urgency", "lead_score", "escalated", "slots", "procedure",
                                "outcome", "next_step"}


def test_concern_call_summary_is_an_escalation() -> None:
    s = build_summary(concern_call())
    assert s.intent == "clinical-concern"
    assert s.sentiment == "negative"
    assert s.urgency == "urgent" and s.slots["urgency"] == "urgent"
    assert s.escalated is True
    assert s.slots["callback_number"] == PHI["phone"]  # from the "phone" slot alias
    assert s.escalations == [{"severity": "urgent", "category": "filler-swelling", "turn": 1}]
    assert s.next_step == "Clinician: call the patient back today (filler-swelling)"
    assert s.lead_score == 30  # name and callback only


def test_summary_is_deterministic() -> None:
    assert build_summary(booking_call()) == build_summary(booking_call())


def test_intent_from_words_and_empty_call() -> None:
    pricing = ConversationOutcome(turns=[Turn("caller", "How much does botox cost per unit?")], outcome="answered")
    assert build_summary(pricing).intent == "pricing"
    cancel = ConversationOutcome(turns=[Turn("caller", "I need to cancel my appointment")])
    assert build_summary(cancel).intent == "cancel"
    empty = build_summary(ConversationOutcome())
    assert (empty.intent, empty.sentiment, empty.urgency, empty.lead_score) == ("general-inquiry", "neutral", "routine", 0)
    assert empty.next_step == "No action needed"


def test_screen_flags_lower_the_score_and_ask_for_review() -> None:
    outcome = booking_call()
    outcome.booking = None
    outcome.screen = {"complete": True, "flags": ["pregnant"]}
    s = build_summary(outcome)
    assert s.next_step.startswith("Clinician: review the screening flags")
    assert s.lead_score == 100 - 30 - 20


async def test_model_refines_sentiment_and_intent_from_a_redacted_transcript() -> None:
    outcome = ConversationOutcome(turns=[Turn("caller", f"Hello, my name is {PHI['name']}, call me on {PHI['phone']}. "
                                                        "I'm thinking about something for my forehead lines.")],
                                  slots={"name": PHI["name"]})
    base = build_summary(outcome)
    assert base.intent == "general-inquiry"
    model = ScriptedModel({"intent": "pricing", "sentiment": "positive"})
    s = await refine_summary(base, outcome, model)
    assert (s.intent, s.sentiment, s.decided_by) == ("pricing", "positive", "rules+llm")
    assert s.lead_score == base.lead_score + 10 + 5
    assert PHI["name"] not in model.prompts[0] and PHI["phone"] not in model.prompts[0]


async def test_model_never_overrides_an_escalation_or_gives_invalid_values() -> None:
    outcome = concern_call()
    model = ScriptedModel({"intent": "booking", "sentiment": "positive"})
    assert await refine_summary(build_summary(outcome), outcome, model) == build_summary(outcome)
    assert model.prompts == []
    plain = ConversationOutcome(turns=[Turn("caller", "hello there")])
    for answer in ({"intent": "world-domination", "sentiment": "positive"}, {"intent": "booking"}, RuntimeError("x")):
        assert await refine_summary(build_summary(plain), plain, ScriptedModel(answer)) == build_summary(plain)
