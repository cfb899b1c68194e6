"""Clinic facts at any step: the pack's approved answer (facts.yaml; the hours computed from
clinic.yaml), then the call goes on where it was. Runs after the red-flag check, never before.

A turn that only asks facts gets the answers and the step's own question once more (not a
"sorry, I didn't catch that", and not a failed attempt); at an open question, "anything else?".
A turn that also answers the step or asks something else gets both: the facts first, then the
step handles the rest of the turn (`Reading.rest`).
"""

from __future__ import annotations

from appliance.clinic.call_context import CallContext
from appliance.clinic.facts_schema import HOURS_TOPIC
from appliance.clinic.flow_dialogue import DialogueFlow
from appliance.clinic.hours import hours_answer
from appliance.clinic.states import State
from appliance.conversation import Say
from appliance.logs import get_logger

log = get_logger(__name__)
_OPEN = frozenset({State.GREETING, State.HOW_HELP, State.ANYTHING_ELSE})  # "How can I help?" was asked: nothing pending


class FactsFlow:
    """The clinic's approved facts; the step's question again comes from the dialogue flow."""

    def __init__(self, ctx: CallContext, dialogue: DialogueFlow) -> None:
        self.ctx = ctx
        self.dialogue = dialogue

    def fact_says(self) -> list[Say]:
        """The approved answers to the facts this turn asks for, in the order asked."""
        ctx = self.ctx
        reading, facts = ctx.reading, ctx.pack.facts
        if not reading.facts or facts is None or ctx.read_at != len(ctx.out.turns):
            return []
        clinic = ctx.pack.clinic
        says: list[Say] = []
        for fact_id in reading.facts:
            fact = facts.by_id(fact_id)
            if fact is None:
                continue
            if fact.topic == HOURS_TOPIC:
                text = hours_answer(fact, clinic, clinic.name, ctx.today, ctx.out.turns[-1].text)
                says.append(Say(text, ctx.pack.prov(fact.id), cacheable=False))
            else:
                text = fact.answer.format(clinic=clinic.name, phone=clinic.phone or "")
                says.append(Say(text, ctx.pack.prov(fact.id), cacheable=True))
            ctx.out.slots.setdefault("facts_answered", []).append(fact.id)
            log.info("clinic.fact_answered", fact=fact.id, state=ctx.s.state)
        return says

    def after_facts(self) -> list[Say]:
        """After a turn that only asked facts: the pending question once, briefly; at an open
        question, whether there is anything else."""
        if self.ctx.s.state in _OPEN:
            self.ctx.s.state = State.ANYTHING_ELSE
            return [self.ctx.line("anything_else")]
        return self.dialogue.current_prompt()
