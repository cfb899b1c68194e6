"""PACK/facts.yaml: the clinic's approved answers to everyday questions (hours, address, parking,
directions, payments, cancellation policy, what a consultation includes).

Each fact has an `id` (its provenance is `PACK@VERSION#ID`, like every approved sentence), a
`topic`, the approved `answer` and optional `phrases`. The lexicon's `facts.topics` says how
callers ask about the common topics; `phrases` adds the clinic's own ways (a street name, a
financing brand). A topic the lexicon does not know needs phrases. The `hours` topic is computed
from clinic.yaml (`hours`, `holidays`): its answer is a template, never a second copy of the hours.
"""

from __future__ import annotations

import string
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from appliance.clinic.schema import ItemId, Phrase, Text

FACTS_FILE = "facts.yaml"
HOURS_TOPIC = "hours"
# Placeholders per template: answers are spoken verbatim apart from these.
PLACEHOLDERS: dict[str, frozenset[str]] = {
    "answer": frozenset({"clinic", "phone"}),
    "hours_answer": frozenset({"clinic", "open"}),
    "span": frozenset({"days", "from", "to"}),
    "day_range": frozenset({"first", "last"}),
    "closed": frozenset({"days"}),
    "holidays": frozenset({"holidays"}),
}


class _M(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _placeholders(text: str, allowed: frozenset[str], required: frozenset[str] = frozenset()) -> str:
    used = {f for _, f, _, _ in string.Formatter().parse(text) if f is not None}
    unknown = used - allowed
    if unknown:
        raise ValueError(f"unknown placeholder {{{sorted(unknown)[0]}}}; expected "
                         f"{', '.join('{' + p + '}' for p in sorted(allowed)) or 'none'}")
    missing = required - used
    if missing:
        raise ValueError(f"expected the placeholder {{{sorted(missing)[0]}}}")
    return text


class HoursWording(_M):
    """How the computed hours are said: `span` for each run of days with the same hours,
    `day_range` for a run of several days, `closed` for the weekly closed days, `holidays` for
    the holidays ahead (clinic.yaml `holidays`)."""

    span: Text  # "{days}, {from} to {to}"
    day_range: Text  # "{first} to {last}"
    closed: Text | None = None  # "We're closed on {days}."
    holidays: Text | None = None  # "We're also closed on {holidays}."
    ahead_days: int = Field(60, ge=0, le=366)  # holidays this many days ahead are named (and any the caller names)

    @field_validator("span", "day_range", "closed", "holidays")
    @classmethod
    def _fields(cls, v: str | None, info: ValidationInfo) -> str | None:
        if v is None:
            return v
        allowed = PLACEHOLDERS[str(info.field_name)]
        return _placeholders(v, allowed, allowed)


class Fact(_M):
    id: ItemId
    topic: ItemId  # a topic of the lexicon's `facts.topics` (hours, address, parking ...) or the clinic's own
    answer: Text
    phrases: list[Phrase] = Field(default_factory=list)  # the clinic's own ways of asking, on top of the lexicon's
    hours: HoursWording | None = None  # the hours topic only

    @model_validator(mode="after")
    def _answer(self) -> Fact:
        if self.topic == HOURS_TOPIC:
            if self.hours is None:
                raise ValueError("the hours topic needs `hours` (span, day_range): its answer is computed from "
                                 "clinic.yaml hours and holidays")
            _placeholders(self.answer, PLACEHOLDERS["hours_answer"], frozenset({"open"}))
        else:
            if self.hours is not None:
                raise ValueError("`hours` belongs to the hours topic only")
            _placeholders(self.answer, PLACEHOLDERS["answer"])
        return self


class Facts(_M):
    facts: list[Fact] = Field(min_length=1)

    def by_id(self, fact_id: str) -> Fact | None:
        return next((f for f in self.facts if f.id == fact_id), None)


def check_facts(facts: Facts, at: Any, topics: set[str], problems: list[str]) -> None:
    """Cross-checks with file and line: one fact per topic; a topic the lexicon does not know
    needs the clinic's phrases. `at(loc)` gives "facts.yaml:LINE" for a key path."""
    seen: dict[str, int] = {}
    for i, f in enumerate(facts.facts):
        if f.topic in seen:
            problems.append(f"{at(('facts', i, 'topic'))}: facts.{i}.topic: {f.topic!r} is already answered by "
                            f"facts.{seen[f.topic]}; expected one fact per topic")
        seen.setdefault(f.topic, i)
        if f.topic not in topics and not f.phrases:
            problems.append(f"{at(('facts', i, 'topic'))}: facts.{i}.topic: the lexicon has no phrases for "
                            f"{f.topic!r}; expected one of {sorted(topics)}, or `phrases` that ask for it")
