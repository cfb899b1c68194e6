"""Clinic facts at any step: the pack's approved answer (facts.yaml; the hours computed from
clinic.yaml), then the call goes on where it was. Runs after the red-flag check, never before.

A turn that only asks facts gets the answers and the step's own question once more (not a
"sorry, I didn't catch that", and not a failed attempt); at an open question, "anything else?".
A turn that also answers the step or asks something else gets both: the facts first, then the
step handles the rest of the turn (`Reading.rest`).
"""

from __future__ import annotations

from datetime import date
from typing import Any

from appliance.clinic.facts_schema import HOURS_TOPIC
from appliance.clinic.hours import hours_answer
from appliance.conversation import Say
from appliance.logs import get_logger

log = get_logger(__name__)
_OPEN = ("greeting", "how_help", "anything_else")  # "How can I help?" was asked: nothing is pending


class FactsFlow:
    """Mixin for ClinicConversation."""

    s: Any
    pack: Any
    out: Any
    today: date
    reading: Any
    read_at: int

    def fact_says(self) -> list[Say]:
        """The approved answers to the facts this turn asks for, in the order asked."""
        reading = getattr(self, "reading", None)
        if reading is None or not reading.facts or self.pack.facts is None or self.read_at != len(self.out.turns):
            return []
        says: list[Say] = []
        for fact_id in reading.facts:
            fact = self.pack.facts.by_id(fact_id)
            if fact is None:
                continue
            if fact.topic == HOURS_TOPIC:
                text = hours_answer(fact, self.pack.clinic, self.pack.clinic.name, self.today,
                                    self.out.turns[-1].text)
                says.append(Say(text, self.pack.prov(fact.id), cacheable=False))
            else:
                text = fact.answer.format(clinic=self.pack.clinic.name, phone=self.pack.clinic.phone or "")
                says.append(Say(text, self.pack.prov(fact.id), cacheable=True))
            self.out.slots.setdefault("facts_answered", []).append(fact.id)
            log.info("clinic.fact_answered", fact=fact.id, state=self.s.state)
        return says

    def after_facts(self) -> list[Say]:
        """After a turn that only asked facts: the pending question once, briefly; at an open
        question, whether there is anything else."""
        if self.s.state in _OPEN:
            self.s.state = "anything_else"
            return [self.line("anything_else")]
        return self.current_prompt()
