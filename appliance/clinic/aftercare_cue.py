"""Recognising an aftercare call from what the caller says, whatever caller ID knows.

"I had microneedling this afternoon", "since my Botox on Monday", "I was in yesterday for
under-eye filler" (heard "Under Right Filler"), "Juvederm last week": the procedure and its date.

An aftercare cue is a treatment in the past with a recent time, in the same clause: a "had"
verb with a recent time, "since my / after my X", or a treatment with a time that can only be
past ("Juvederm last week"). Not a cue: a preferred booking time ("Botox, maybe Saturday
morning?", "openings for filler this week"), a future date, a treatment somewhere else ("I got
it three weeks ago at a different place"), or a caller who says they are new. Those exceptions
do not apply when the turn reports a symptom (`symptom=True`): then the context is noted so that
the safety path picks the procedure's flags and line, as it must.

Pure: `today` is passed in; the lexicon's `aftercare` section holds the cue words and its
`safety.asr_confusions` the telephone mishearings applied first.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache

from appliance.clinic.lexicon import Aftercare, alternation, load_lexicon
from appliance.clinic.nlu import treatments_in
from appliance.clinic.pack import Pack
from appliance.clinic.parsers import normalize, parse_date
from appliance.clinic.schema import Workflow

_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")


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


@lru_cache(maxsize=4)
def _clause_breaks(language: str) -> re.Pattern[str]:
    """Punctuation, and the lexicon's `aftercare.clause_breaks` words."""
    words = load_lexicon(language).aftercare.clause_breaks
    return re.compile(r"[.;!?]+|," + (rf"|\b(?:{alternation(words)})\b" if words else ""))


def _find(text: str, phrases: list[str]) -> re.Match[str] | None:
    """The first (leftmost, then longest) of `phrases` in `text`, on whole words."""
    if not phrases:
        return None
    return re.search(rf"\b(?:{alternation(phrases)})\b", text)


def _all(text: str, phrases: list[str]) -> list[re.Match[str]]:
    if not phrases:
        return []
    return list(re.finditer(rf"\b(?:{alternation(phrases)})\b", text))


def aftercare_cue(pack: Pack, text: str, today: date, language: str = "en", *, new_patient: bool = False,
                  symptom: bool = False) -> AftercareCue | None:
    """An aftercare cue in the turn, or None. `new_patient`: the caller said they are new (a
    booking, not aftercare); `symptom`: the turn reports a symptom (the exceptions do not apply)."""
    ac = load_lexicon(language).aftercare
    whole = heard_as_meant(text, language)
    if not symptom and (new_patient or _find(whole, ac.elsewhere)):
        return None
    turn_found = treatments_in(pack, whole)
    turn_wf = pack.workflows.get(turn_found[0].workflow) if turn_found else None
    for raw in _clause_breaks(language).split(normalize(text)):
        clause = heard_as_meant(raw, language)
        if not clause:
            continue
        cue = _clause_cue(pack, clause, today, ac, turn_wf, symptom)
        if cue is not None:
            return cue
    return None


def _clause_cue(pack: Pack, t: str, today: date, ac: Aftercare, turn_wf: Workflow | None,
                symptom: bool) -> AftercareCue | None:
    found = treatments_in(pack, t)
    wf = pack.workflows.get(found[0].workflow) if found else turn_wf
    appointment = _find(t, ac.appointment) is not None
    if wf is None and not appointment:
        return None
    since = _since(pack, t, ac)
    had = _all(t, ac.had)
    recent = _find(t, ac.recent)
    when = parse_date(t, today)
    treated_on: date | None = when if isinstance(when, date) and when <= today else None
    if treated_on is None and recent is not None and recent.group(0) in ac.days_ago:
        treated_on = today - timedelta(days=ac.days_ago[recent.group(0)])
    if treated_on is not None and (today - treated_on).days > ac.max_days:
        return None  # history ("I had Botox in January"), not aftercare
    if since:
        return AftercareCue(wf, treated_on)
    timed = recent is not None or treated_on is not None
    if not timed:
        return None
    if not symptom and (_find(t, ac.future) or _booking_time(t, ac, had, recent)):
        return None  # "can I get Botox on Thursday", "maybe Saturday morning", "next week"
    if had:
        return AftercareCue(wf, treated_on)
    if wf is not None and _find(t, ac.past_only):
        return AftercareCue(wf, treated_on)  # "Juvederm last week"
    return None


def _since(pack: Pack, t: str, ac: Aftercare) -> bool:
    """"since my / after my X" where X is a treatment or an appointment ("after my wedding" is not)."""
    for m in _all(t, ac.cues):
        after = " ".join(t[m.end():].split()[:5])
        if treatments_in(pack, after) or _find(after, ac.appointment):
            return True
    return False


def _booking_time(t: str, ac: Aftercare, had: list[re.Match[str]], recent: re.Match[str] | None) -> bool:
    """The clause's time belongs to a booking: a booking word comes before it, with no "had" verb
    between the two ("do you have anything Thursday", "can I book Botox for this week")."""
    pos = recent.start() if recent is not None else len(t)
    booking = [m.start() for m in _all(t, ac.booking) if m.start() < pos]
    if not booking:
        return False
    return not any(booking[-1] < h.start() < pos for h in had)
