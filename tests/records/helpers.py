"""Scripted call data shared by the record tests."""

from __future__ import annotations

from appliance.conversation import ConversationOutcome, Escalation, Turn
from tests.records.conftest import PHI


def booking_call() -> ConversationOutcome:
    return ConversationOutcome(
        turns=[
            Turn("agent", "Thank you for calling Demo Aesthetics, how can I help?", "demo@1#greeting"),
            Turn("caller", f"Hi, my name is {PHI['name']}, I'd like to book lip filler. How much is it?"),
            Turn("agent", "A syringe of lip filler is quoted in the consult. What number can we reach you on?"),
            Turn("caller", f"It's {PHI['phone']}. Thank you, that's great!"),
        ],
        screen={"complete": True, "flags": [], "answers": {"pregnant": "no", "anticoagulants": "no"}},
        booking={"procedure": "lip filler", "provider": "np-1", "slot": "2026-12-01T15:00:00+00:00"},
        slots={"name": PHI["name"], "callback_number": PHI["phone"], "reason": "lip filler consult",
               "procedure": "lip filler"},
        outcome="booked",
        pack="demo@1",
    )


def concern_call() -> ConversationOutcome:
    return ConversationOutcome(
        turns=[
            Turn("agent", "Thank you for calling, how can I help?"),
            Turn("caller", f"This is {PHI['name']}, {PHI['said']} and I'm really worried, it hurts."),
            Turn("agent", "I'm connecting you with our injector now.", "demo@1#escalate"),
        ],
        escalations=[Escalation("urgent", "filler-swelling", 1, "swelling after filler")],
        slots={"name": PHI["name"], "phone": PHI["phone"], "reason": "swelling after filler"},
        outcome="escalated",
        pack="demo@1",
    )
