"""Recognising an aftercare call from what the caller says, whatever caller ID knows.

"I had microneedling this afternoon", "since my Botox on Monday", "I was in yesterday for
under-eye filler" (heard "Under Right Filler"), "Juvederm last week": the procedure and its date.
Pure: `today` is passed in; the lexicon's `aftercare` section holds the cue words and its
`safety.asr_confusions` the telephone mishearings applied first.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta

from appliance.clinic.lexicon import load_lexicon
from appliance.clinic.nlu import treatments_in
from appliance.clinic.pack import Pack
from appliance.clinic.parsers import normalize, parse_date
from appliance.clinic.schema import Workflow

_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
_FALLBACK_DAYS = {"this afternoon": 0, "this evening": 0, "tonight": 0, "earlier": 0, "just had": 0, "just got": 0,
                  "last night": 1, "the other day": 2, "a few days ago": 3, "couple of days ago": 2,
                  "couple days ago": 2, "this week": 2, "recently": 3, "last time": 7}


@dataclass(frozen=True)
class AftercareCue:
    workflow: Workflow | None  # None: "since my appointment" without naming it
    treated_on: date | None


def heard_as_meant(text: str, language: str = "en") -> str:
    """The turn with the lexicon's speech-recognition confusions undone ("buttocks" -> "botox")."""
    words = _WORD.findall(normalize(text))
    joined = " " + " ".join(words) + " "
    for c in sorted(load_lexicon(language).safety.asr_confusions, key=lambda c: -len(c.heard)):
        heard = " " + " ".join(_WORD.findall(c.heard.lower())) + " "
        if heard in joined and (not c.near or any(f" {n} " in joined for n in c.near)):
            joined = joined.replace(heard, " " + c.meant.lower() + " ")
    return joined.strip()


def _has(text: str, phrases: list[str]) -> str | None:
    return next((p for p in sorted(phrases, key=len, reverse=True) if re.search(rf"\b{re.escape(p)}\b", text)), None)


def aftercare_cue(pack: Pack, text: str, today: date, language: str = "en") -> AftercareCue | None:
    """An aftercare cue in the turn, or None. Needs a treatment (or "my appointment") together with
    a "had"/"since my" cue and a recent time, or a "since my / after my X" cue on its own."""
    ac = load_lexicon(language).aftercare
    t = heard_as_meant(text, language)
    found = treatments_in(pack, t)
    wf = pack.workflows.get(found[0].workflow) if found else None
    cue = _has(t, ac.cues)
    had = _has(t, ac.had)
    recent = _has(t, ac.recent)
    when = parse_date(t, today)
    treated_on: date | None = when if isinstance(when, date) and when <= today else None
    if treated_on is None and recent in _FALLBACK_DAYS:
        treated_on = today - timedelta(days=_FALLBACK_DAYS[recent])
    if treated_on is not None and (today - treated_on).days > ac.max_days:
        return None  # history ("I had Botox in January"), not aftercare
    appointment = re.search(r"\b(appointment|treatment|procedure|session|injections?)\b", t) is not None
    if wf is None and not appointment:
        return None
    if cue and (wf is not None or appointment):
        return AftercareCue(wf, treated_on)
    if (had or wf is not None) and (recent or treated_on is not None):
        return AftercareCue(wf, treated_on)
    return None
