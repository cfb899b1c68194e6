"""The concern follow-up call: `appliance.conversation.Conversation`, pure (the clock is passed in).

Staff resolved an escalation about a patient's concern; `after_hours` later (the pack's
`outbound.yaml` `concern_follow_up`) the front desk calls the patient:

    opener -> name -> date of birth (the name alone when none is on file)   nothing said before it
       | answering machine / wrong person / identity not confirmed           the no-PHI lines, end
    verified -> intro ("following up on the concern you told us about on {date}") -> ask
       better (or 1)                          -> `better`: recorded, nothing offered or sold, end
       the same (2) / worse (3)               -> a new escalation (urgent), `same_or_worse`, end
       unclear                                -> asked once more; unclear again is escalated too
    a red flag on any turn                    -> the clinic engine's red-flag path (emergency line,
                                                 transfer, escalation), as on every call

The appliance never decides a concern is normal: anything but a clear "better" goes back to staff.
"""

from __future__ import annotations

import re
from datetime import date, datetime

from appliance.clinic.concern_schema import ConcernFollowUp, FollowUpKey
from appliance.clinic.context import CallerContext
from appliance.clinic.errors import PackError
from appliance.clinic.flow_booking import spoken_time
from appliance.clinic.outbound import OutboundAftercareCall, OutboundContext, _said_any, name_matches
from appliance.clinic.pack import Pack
from appliance.clinic.parsers import normalize, person_name
from appliance.clinic.satisfaction import followup_words
from appliance.clinic.schedule import Scheduler
from appliance.clinic.schema import OutboundLines
from appliance.clinic.states import State
from appliance.conversation import Action, ConversationOutcome, Escalation, LanguageModel, Reply, Say, Turn

ASK = State.FOLLOW_UP_ASK  # this call's own step (states.py): the better / same / worse question
CATEGORY = "concern-follow-up"  # the escalation a same-or-worse answer raises
_KEYS = {"1": "better", "2": "same", "3": "worse"}


def _has(text: str, phrases: list[str]) -> bool:
    return any(re.search(rf"\b{re.escape(p.lower())}\b", text) for p in phrases)


def answer_of(text: str) -> str | None:
    """`better`, `same`, `worse`, or None (unclear). Worse and same win over better ("a bit better
    but still swollen" is not better): only a clear "better" closes the concern."""
    said, w = normalize(text), followup_words()
    if _has(said, w.concern_worse):
        return "worse"
    if _has(said, w.concern_same):
        return "same"
    if _has(said, w.concern_better):
        return "better"
    return None


class ConcernFollowUpCall(OutboundAftercareCall):
    """One follow-up contact for one resolved escalation (`escalation_id`, raised on `raised_on`)."""

    def __init__(self, pack: Pack, lines: OutboundLines, contact: OutboundContext, *, escalation_id: int,
                 raised_on: date, now: datetime, scheduler: Scheduler | None = None,
                 llm: LanguageModel | None = None) -> None:
        if lines.concern_follow_up is None:
            raise PackError(f"{pack.root / 'outbound.yaml'}: no concern_follow_up lines for concern follow-up calls",
                            fix="add concern_follow_up (see the demo pack), then have a clinician approve the pack")
        self.pack, self.lines, self.c, self.now = pack, lines, contact, now
        self.fu: ConcernFollowUp = lines.concern_follow_up
        self.escalation_id, self.raised_on = escalation_id, raised_on
        self.wf = None  # red flags of every workflow are checked
        self.answer: str | None = None
        self.unclear = 0
        self._open(CallerContext(phone=contact.phone, known_patient=True, name=contact.name), scheduler=scheduler,
                   llm=llm)

    def line(self, key: FollowUpKey, **values: object) -> Say:
        text = self.fu.text(key)
        fill = {"clinic": self.pack.clinic.name, "phone": self.pack.clinic.phone or "", **values}
        return Say(text.format(**{k: str(v) for k, v in fill.items()}),
                   provenance=self.pack.prov(f"outbound.concern_follow_up.{key}"), cacheable=not values)

    # ---- identity (the name alone when no date of birth is on file) ----

    async def on_name(self, text: str) -> Reply:
        if self.c.dob is not None:
            return await super().on_name(text)
        if not name_matches(person_name(text) or text, self.c.name):
            return self._retry_or_fail()
        self.verified = True
        return self.e.reply(self._script())

    def _script(self) -> list[Say]:
        self.e.out.slots["concern_follow_up"] = {"escalation_id": self.escalation_id, "answer": None}
        self.e.s.state = ASK
        self.delivered = True
        day = spoken_time(datetime.combine(self.raised_on, datetime.min.time())).split(" at ")[0]
        return [self.line("intro", date=day), self.line("ask")]

    def _ask_again(self) -> list[Say]:
        return [self.line("ask")] if self.e.s.state == ASK else super()._ask_again()

    # ---- the question ----

    async def caller_pressed(self, digit: str) -> Reply:
        key = str(digit)[:1]
        if self.e.s.state == ASK and key in _KEYS:
            self.e.out.turns.append(Turn("caller", f"[pressed {key}]"))
            return self._answered(_KEYS[key], len(self.e.out.turns) - 1)
        return await super().caller_pressed(digit)

    async def caller_said(self, text: str, confidence: float | None = None, also_heard: str | None = None) -> Reply:
        if self.e.s.state != ASK:
            return await super().caller_said(text, confidence, also_heard)
        text = " ".join(str(text).split())[:1000]
        top = self.e.safety.verdict(text, confidence).top  # red flags first, as on every turn
        if top is None and text and _said_any(text, self.lines.opt_out_phrases):
            return await super().caller_said(text, confidence)  # acknowledged, recorded, end
        index = len(self.e.out.turns)
        self.e.out.turns.append(Turn("caller", text))
        if top is not None:
            self._keep("red-flag")
            return self.e.reply(self.e.escalate(top, index))
        return self._answered(answer_of(text), index)

    def _answered(self, answer: str | None, index: int) -> Reply:
        if answer == "better":
            self._keep("better")
            return self.e.reply([self.line("better"), self.line("closing")], end=True)
        if answer is None and self.unclear == 0:
            self.unclear += 1
            return self.e.reply([self.line("unclear")])
        answer = answer or "unclear"
        self._keep(answer)
        self.e.s.concern_raised = True
        self.e.out.escalations.append(Escalation("urgent", CATEGORY, index, f"escalation {self.escalation_id}: {answer}",
                                                 f"follow-up call answer: {answer}"))
        self.e.ctx.actions.append(Action("escalate", severity="urgent", category=CATEGORY))
        return self.e.reply([self.line("same_or_worse"), self.line("closing")], end=True)

    def _keep(self, answer: str) -> None:
        self.answer = answer
        self.e.out.slots["concern_follow_up"] = {"escalation_id": self.escalation_id, "answer": answer}

    def ended(self, reason: str) -> ConversationOutcome:
        out = super().ended(reason)
        answer = self.answer or ("red-flag" if out.escalations else None)
        out.slots["concern_follow_up"] = {"escalation_id": self.escalation_id, "answer": answer}
        out.slots["outbound"]["answer"] = answer
        return out


def concern_follow_up_call(pack: Pack, lines: OutboundLines, *, escalation_id: int, raised_on: date, name: str,
                           dob: date | None, phone: str | None, now: datetime, scheduler: Scheduler | None = None,
                           llm: LanguageModel | None = None) -> ConcernFollowUpCall:
    """The follow-up contact's conversation. `now` clinic-local; `dob` None when the record has
    none (the full name alone is checked)."""
    contact = OutboundContext(kind="concern-follow-up", day=0, name=name, dob=dob, workflow="", treated_on=raised_on,
                              phone=phone)
    return ConcernFollowUpCall(pack, lines, contact, escalation_id=escalation_id, raised_on=raised_on, now=now,
                               scheduler=scheduler, llm=llm)
