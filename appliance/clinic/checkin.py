"""The day-N check-in of an outbound aftercare call, carried out from its pack entry (`CheckIn`).

After identity and the intro, a check-in call says what its purpose lists, in this order:

    lines      the approved lines of the check-in (its own, or the workflow's instruction lines by id)
    topics     the approved answers of the workflow topics it names (a sun or product reminder)
    (the immediate instructions, on the first check-in, as before)
    questions  the workflow questions it names, one per turn; each answer is kept as structured
               data in the outcome: `slots["checkin_answers"] = {question id: yes|no|unsure|declined|text}`
    the concern question, always last (it is not asked twice when the check-in lists it); on a
               check-in its answer is kept under its id too

Red flags are checked before any of this by the call (every turn, first). An answer to a check-in
question that carries a symptom, a concern or a complaint goes to the clinic engine's concern
path at once, as an answer to the concern question does: no further question is asked.

Pure: no clock, no I/O; nothing the patient says is logged.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from appliance.clinic.parsers import yes_no
from appliance.clinic.redflags import mentioned
from appliance.clinic.schema import CheckIn, Line, Workflow
from appliance.clinic.states import State, StateError
from appliance.clinic.words import words
from appliance.conversation import Reply, Say

if TYPE_CHECKING:  # (pack.py imports this module for `check_in_problems`: no import of the engine at run time)
    from appliance.clinic.engine import ClinicConversation
    from appliance.clinic.outbound import OutboundContext

_ANSWER_CHARS = 200


def check_in_of(wf: Workflow, kind: str, day: int) -> CheckIn | None:
    """The workflow's check-in for a contact (a check-in contact of that day), else None."""
    if kind != "check-in":
        return None
    return next((ci for ci in wf.check_ins if ci.day == day), None)


def check_in_lines(wf: Workflow, ci: CheckIn) -> list[Line]:
    """The check-in's lines: its own, or the workflow's instruction lines it names by id."""
    named = {x.id: x for x in (*wf.immediate_instructions, *wf.before_visit)}
    return [x if isinstance(x, Line) else named[x] for x in ci.lines if isinstance(x, Line) or x in named]


def check_in_problems(wf: Workflow, where: Callable[[tuple[Any, ...]], str]) -> list[str]:
    """Check-in references that name nothing in the workflow; `where(loc)` gives "file:line"."""
    problems: list[str] = []
    named = {x.id for x in (*wf.immediate_instructions, *wf.before_visit)}
    topics = {t.id: t for t in wf.topics}
    questions = {q.id for q in wf.questions}
    for i, ci in enumerate(wf.check_ins):
        for j, x in enumerate(ci.lines):
            if isinstance(x, str) and x not in named:
                problems.append(f"{where(('check_ins', i, 'lines', j))}: check_ins.{i}.lines.{j}: unknown line "
                                f"{x!r}; expected the id of one of this workflow's immediate_instructions or "
                                f"before_visit lines ({', '.join(sorted(named)) or 'none'}), or a line of its "
                                "own written as {id: ..., text: ...}")
        for j, t in enumerate(ci.topics):
            if t not in topics:
                problems.append(f"{where(('check_ins', i, 'topics', j))}: check_ins.{i}.topics.{j}: unknown topic "
                                f"{t!r}; expected one of this workflow's topics: {', '.join(sorted(topics)) or 'none'}")
            elif topics[t].reads_instructions:
                problems.append(f"{where(('check_ins', i, 'topics', j))}: check_ins.{i}.topics.{j}: topic {t!r} "
                                "reads the instructions again; expected a topic with an answer of its own (list "
                                "the instruction lines under lines instead)")
        for j, q in enumerate(ci.questions):
            if q not in questions:
                problems.append(f"{where(('check_ins', i, 'questions', j))}: check_ins.{i}.questions.{j}: unknown "
                                f"question {q!r}; expected one of this workflow's questions: "
                                f"{', '.join(sorted(questions))}")
            elif q in ci.questions[:j]:
                problems.append(f"{where(('check_ins', i, 'questions', j))}: check_ins.{i}.questions.{j}: "
                                f"question {q!r} is listed twice; expected each question once")
    return problems


def answer_of(text: str, areas: object = None) -> str:
    """The answer kept in the outcome: yes / no / unsure / declined when the answer opens with it
    ("yes, I can"), else the words ("I got the email but the link would not open", an area),
    cut to a bounded length."""
    said = yes_no(text)
    opens = yes_no(" ".join(text.split()[:2]))
    if said == "declined" or (said is not None and opens == said and not areas):
        return said
    return " ".join(text.split())[:_ANSWER_CHARS]


class CheckInSteps:
    """The purpose of an outbound contact's check-in, then its questions, one per turn (the
    `OutboundAftercareCall`'s; `e` is the clinic engine inside the call)."""

    def __init__(self, e: ClinicConversation, wf: Workflow | None, contact: OutboundContext) -> None:
        self.e = e
        self.wf = wf  # None: a call about no one workflow (a reminder, a concern follow-up): no check-in
        self.c = contact
        self.ci: CheckIn | None = None
        self.asking: Line | None = None
        self.to_ask: tuple[Line, ...] = ()

    def _workflow(self) -> Workflow:
        if self.wf is None:
            raise StateError("a check-in needs the contact's workflow")
        return self.wf

    def _concern_question(self) -> Line:
        return self.e.flows.returning.concern_question(self._workflow())

    def purpose_says(self) -> list[Say]:
        """The check-in's lines and topic answers (nothing for other contacts or bare check-ins)."""
        wf, ctx = self._workflow(), self.e.ctx
        self.ci = ci = check_in_of(wf, self.c.kind, self.c.day)
        if ci is None:
            self.to_ask = ()
            return []
        ctx.out.slots["check_in"] = ci.id
        concern = self._concern_question()
        by_id = {q.id: q for q in wf.questions}
        self.to_ask = tuple(by_id[q] for q in ci.questions if q in by_id and q != concern.id)
        topics = {t.id: t for t in wf.topics}
        return [ctx.item(x) for x in check_in_lines(wf, ci)] + [
            Say(topics[t].answer, provenance=ctx.pack.prov(t), cacheable=True) for t in ci.topics if t in topics]

    def next_question(self) -> list[Say]:
        """The next check-in question, or the concern question when none is left."""
        ctx = self.e.ctx
        if self.to_ask:
            self.asking, self.to_ask = self.to_ask[0], self.to_ask[1:]
            ctx.s.state = State.CHECKIN_QUESTION
            return [ctx.item(self.asking)]
        concern = self._concern_question()
        self.asking = concern if self.ci is not None else None  # on a check-in its answer is kept too
        ctx.s.state = State.CONCERN_CHECK
        return [ctx.item(concern)]

    def ask_current(self) -> list[Say]:
        return [self.e.ctx.item(self.asking)] if self.asking is not None else []

    def keep_concern_answer(self, text: str) -> None:
        """The concern question's answer, on a check-in: kept with the others, then it is done."""
        self.keep_answer(text)
        self.asking, self.to_ask = None, ()

    def says_concern(self, text: str) -> bool:
        r = self.e.ctx.reading
        return bool(r.slots.get("symptoms")) or r.intent == "complaint" or any(
            mentioned(text, cue) is True for cue in words().concern_cues)  # negation-aware: "no problems"

    def keep_answer(self, text: str, *, read: bool = True) -> None:
        """The answer to the question being asked, in the outcome; no more check-in questions after
        a red flag (the engine's safety path has the call)."""
        if self.asking is None:
            return
        ctx = self.e.ctx
        answers = ctx.out.slots.setdefault("checkin_answers", {})
        answers[self.asking.id] = answer_of(text, ctx.reading.slots.get("areas") if read else None)
        if ctx.s.state != State.CHECKIN_QUESTION:
            self.asking, self.to_ask = None, ()

    async def on_answer(self, text: str, full: str) -> Reply:
        """Keep the answer; a concern in it takes the engine's concern path now, else the next question."""
        self.keep_answer(text)
        if self.says_concern(full):
            self.asking, self.to_ask = None, ()
            self.e.s.state = State.CONCERN_CHECK
            self.e.out.turns.pop()  # the engine records the turn itself
            return await self.e.caller_said(full)  # the concern flow (red flags first), as for the concern question
        return self.e.reply(self.next_question())
