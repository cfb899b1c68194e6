"""Patient satisfaction at the end of a treatment's last check-in, and a review the patient says
they left (on any follow-up call, after identity).

    last check-in, "no concern"  -> outbound.yaml satisfaction.ask (1 to 5, said or pressed)
       | a number 1-5            -> kept as slots["satisfaction"]; satisfaction.thanks
       | anything else           -> satisfaction.reask, once; then satisfaction.skipped (nothing kept)
       | a concern or complaint  -> the clinic engine's concern path, as for a check-in answer
    then the call goes on as after "no concern" (the review window, the booking offer)

The question is asked only when the pack has the lines, the contact is the workflow's last
check-in, and no concern, complaint, red flag or escalation came up on this call or earlier in
the treatment's follow-up (`OutboundContext.earlier_concern`, read from the record store before
the call). Whether a review request may be sent afterwards is decided when the call is recorded
(appliance/messaging/reviews.py), from the whole call.

The words (numbers, "out of 5", "I left a review") are the lexicon's `followup` section. Pure: no
clock, no I/O; nothing the patient says is logged.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from appliance.clinic.lexicon import LEXICON_DIR, load_file, load_lexicon, section_error
from appliance.clinic.parsers import normalize
from appliance.clinic.redflags import mentioned
from appliance.clinic.satisfaction_schema import SatisfactionKey
from appliance.clinic.states import State, StateError
from appliance.conversation import Reply, Say, Turn

if TYPE_CHECKING:  # (outbound.py imports this module)
    from appliance.clinic.checkin import CheckInSteps
    from appliance.clinic.engine import ClinicConversation
    from appliance.clinic.outbound import OutboundContext
    from appliance.clinic.schema import OutboundLines, Workflow

Word = Annotated[str, StringConstraints(min_length=1, max_length=60, strip_whitespace=True)]
SCALE = range(1, 6)


class FollowupWords(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    scale: dict[int, list[Word]] = Field(min_length=5, max_length=5)  # 1..5 -> the words that say it
    scale_frames: list[Word] = Field(default_factory=list)  # "out of 5": the scale, not an answer
    review_done: list[Word] = Field(min_length=1)  # "I left a review"
    # a resolved concern's follow-up call: is it better, the same, or worse? (appliance.clinic.concern_call)
    concern_worse: list[Word] = Field(min_length=1)
    concern_same: list[Word] = Field(min_length=1)
    concern_better: list[Word] = Field(min_length=1)


def check_section(path: Path) -> FollowupWords:
    """The followup section of one lexicon file; LexiconError (file, line, fix) when it is not valid."""
    section = load_file(path).sections.get("followup")
    try:
        words = FollowupWords.model_validate(section)
        if sorted(words.scale) != list(SCALE):
            raise ValueError("scale: expected the numbers 1 to 5 as keys, each with its words")
        return words
    except (ValidationError, ValueError) as e:
        errs: list[Mapping[str, Any]] = (list(e.errors()) if isinstance(e, ValidationError)
                                         else [{"loc": ("scale",), "msg": str(e)}])
        raise section_error(path, "followup", errs) from e


@lru_cache(maxsize=4)
def followup_words(language: str = "en") -> FollowupWords:
    load_lexicon(language)  # the file exists and the shared sections are valid
    return check_section(LEXICON_DIR / f"{language}.yaml")


def scale_answer(text: str, language: str = "en") -> int | None:
    """The one number from 1 to 5 in an answer ("four", "a five", "4 out of 5", "5/5"), else None:
    no number ("pretty good"), a number off the scale ("ten"), or two different ones ("four or five")."""
    w = followup_words(language)
    t = normalize(text)
    t = re.sub(r"(\d)\s*/\s*5\b", r"\1", t)  # "4/5"
    for frame in sorted(w.scale_frames, key=len, reverse=True):
        t = re.sub(r"(?<![a-z0-9])" + re.escape(frame.lower()) + r"(?![a-z0-9])", " ", t)
    said = set()
    for token in re.findall(r"[a-z]+|\d+", t):
        if token.isdigit():
            said.add(int(token))
            continue
        said |= {n for n, names in w.scale.items() if token in {x.lower() for x in names}}
    return said.pop() if len(said) == 1 and next(iter(said)) in SCALE else None


def review_done_said(text: str, language: str = "en") -> bool:
    """The patient says they left the review ("I left a review", "I already did the review");
    a denial ("I haven't left a review yet") is not."""
    return any(mentioned(text, p) is True for p in followup_words(language).review_done)


class SatisfactionSteps:
    """The satisfaction question and the review the patient left (the `OutboundAftercareCall`'s:
    `e` is the clinic engine inside the call; a concern in an answer is told by the check-in steps;
    after the answer the call goes on with `after_no_concern`, the review window and booking offer)."""

    def __init__(self, e: ClinicConversation, lines: OutboundLines, contact: OutboundContext, wf: Workflow | None,
                 checkin: CheckInSteps, after_no_concern: Callable[[], list[Say]]) -> None:
        self.e = e
        self.lines = lines
        self.c = contact
        self.wf = wf
        self.checkin = checkin
        self.after_no_concern = after_no_concern
        self.tries = 0

    def line(self, key: SatisfactionKey) -> Say:
        pack, lines = self.e.pack, self.lines.satisfaction
        if lines is None:
            raise StateError("outbound.yaml has no satisfaction lines: the question is not asked")
        text = str(lines.text(key))
        fill = {"clinic": pack.clinic.name, "phone": pack.clinic.phone or ""}
        return Say(text.format(**fill), provenance=pack.prov(f"outbound.satisfaction.{key}"), cacheable=True)

    def asks(self) -> bool:
        """The last check-in of the treatment, with nothing raised on it or before it."""
        e, c = self.e, self.c
        last = max((ci.day for ci in self.wf.check_ins), default=None) if self.wf is not None else None
        return (self.lines.satisfaction is not None and c.kind == "check-in" and c.day == last
                and not c.earlier_concern and not e.out.escalations and not e.s.concern_raised
                and not e.out.slots.get("complaint") and "satisfaction" not in e.out.slots)

    def ask(self) -> list[Say]:
        self.tries = 0
        self.e.out.slots["satisfaction_asked"] = True
        self.e.s.state = State.SATISFACTION
        return [self.line("ask")]

    async def on_answer(self, text: str, full: str) -> Reply:
        """A number is kept; a concern or complaint goes to the engine's concern path; anything
        else is asked once more, then left."""
        score = scale_answer(text)
        if score is not None:
            self.e.out.slots["satisfaction"] = score
        if self.checkin.says_concern(full):
            self.e.s.state = State.CONCERN_CHECK
            self.e.out.turns.pop()  # the engine records the turn itself
            return await self.e.caller_said(full)
        if score is not None:
            return self.e.reply([self.line("thanks"), *self.after_no_concern()])
        return self.e.reply(self._unclear())

    def on_key(self, digit: str) -> Reply:
        """A key press (the call has recorded the turn): 1 to 5 is the answer."""
        if digit.isdigit() and int(digit) in SCALE:
            self.e.out.slots["satisfaction"] = int(digit)
            return self.e.reply([self.line("thanks"), *self.after_no_concern()])
        return self.e.reply(self._unclear())

    def _unclear(self) -> list[Say]:
        self.tries += 1
        if self.tries == 1:
            return [self.line("reask")]
        return [self.line("skipped"), *self.after_no_concern()]

    def note_review_done(self, text: str) -> bool:
        """A turn that says the review was left: kept for the record (True when it was just heard)."""
        if self.e.out.slots.get("review_done") or not review_done_said(text):
            return False
        self.e.out.slots["review_done"] = True
        return True

    def thank_for_review(self, reply: Reply, first_agent_turn: int) -> Reply:
        """The pack's thank-you first in the reply (not with an escalation's actions). The review was
        understood, so an "I didn't catch that" the step added for the same words is dropped
        (what the step asked is asked again after the thanks)."""
        if self.lines.satisfaction is None or not self.lines.satisfaction.review_thanks or reply.actions \
                or reply.end_call or first_agent_turn > len(self.e.out.turns):
            return reply
        reprompt = self.e.pack.prov("dialogue.reprompt")
        says = tuple(x for x in reply.says if x.provenance != reprompt)
        if len(says) < len(reply.says) and self.e.s.retries > 0:
            self.e.s.retries -= 1  # understood after all: not a miss toward taking a message
        turns = self.e.out.turns
        turns[first_agent_turn:] = [t for t in turns[first_agent_turn:] if t.provenance != reprompt]
        say = self.line("review_thanks")
        turns.insert(first_agent_turn, Turn("agent", say.text, say.provenance))
        return Reply(says=(say, *says), actions=reply.actions, end_call=reply.end_call)
