"""The `understanding` section of the per-language lexicon: yes/no words, intent cues, screen
cues, number and date words. Checked once per process; matching helpers are cached."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from appliance.clinic.lexicon import LEXICON_DIR, LexiconError, alternation, load_lexicon

Word = Annotated[str, StringConstraints(min_length=1, max_length=60, strip_whitespace=True)]
Words = list[Word]


class _M(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Numbers(_M):
    units: Words = Field(min_length=20, max_length=20)  # 0 to 19, in order
    tens: Words = Field(min_length=8, max_length=8)  # 20 to 90, in order
    ordinals: dict[Word, int]
    scales: dict[Word, int]
    fuzzy: dict[Word, tuple[int, int]]


class DateWords(_M):
    hedges: Words
    month_parts: dict[Word, tuple[int, int]]


class Intents(_M):
    wrong_number: Words
    stop_calling: Words
    cancel: Words  # an existing appointment: cancel it
    reschedule: Words  # ... move it
    confirm: Words  # ... confirm it, or ask when it is
    appointment: Words  # ... something about it (the caller is asked which)
    message: Words
    complaint: Words
    price: Words


class Screen(_M):
    pregnant_or_breastfeeding: Words
    anticoagulants: Words
    autoimmune: Words
    dental_work: Words


class Routing(_M):
    """The first question's intents, in the order they are tried."""
    message: Words
    touch_up: Words
    aftercare: Words
    new_patient: Words
    returning: Words
    goodbye: Words
    book: Words


class Context(_M):
    dental_needs_context: Words
    dental: Words
    not_aesthetic: Words
    not_price: Words
    prior_objects: Words
    new_caller: Words
    past_visit: Words
    comma_breaks: Words
    clause_breaks: Words


class AppointmentAnswers(_M):
    cancel: Words
    move: Words
    confirm: Words


class Understanding(_M):
    yes_start: Words
    no_start: Words
    yes_any: Words
    no_any: Words
    unsure: Words
    declined: Words
    heard_for_no: Words
    heard_for_treatment: dict[Word, Word]
    short_answer_words: int = Field(ge=1, le=12)
    backchannels: Words
    numbers: Numbers
    dates: DateWords
    intents: Intents
    screen: Screen
    prior_yes: Words
    prior_no: Words
    prior_when: Words
    budget: Words
    name_lead: Words
    phone_lead: Words
    parts_of_day: dict[Word, Words]
    preference_cues: Words
    past_cues: Words
    symptoms: Words
    routing: Routing
    question_starts: Words
    question_phrases: Words
    concern_cues: Words
    appointment_answers: AppointmentAnswers
    context: Context
    dob_leads: Words


@lru_cache(maxsize=4)
def words(language: str = "en") -> Understanding:
    section = load_lexicon(language).sections.get("understanding")
    try:
        return Understanding.model_validate(section)
    except ValidationError as e:
        problems = [f"{language}.yaml: understanding.{'.'.join(str(p) for p in err['loc'])}: {err['msg']}"
                    for err in e.errors()]
        raise LexiconError(f"{LEXICON_DIR / (language + '.yaml')}: the understanding section is not valid",
                           problems=problems, fix="correct the section (see its comments), then restart") from e


@lru_cache(maxsize=256)
def phrase_rx(phrases: tuple[str, ...], anchored: bool = False) -> re.Pattern[str]:
    """One regex for a phrase list, longest first, on whole words of normalised text."""
    alts = alternation(p.lower() for p in phrases)
    return re.compile((r"^(?:" if anchored else r"(?<![a-z0-9'])(?:") + alts + r")(?![a-z0-9])")


def find(phrases: list[str], text: str, anchored: bool = False) -> re.Match[str] | None:
    return phrase_rx(tuple(phrases), anchored).search(text)
