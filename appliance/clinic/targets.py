"""What a treatment is for is not a symptom: "Do you do the IPL photo facial for sun spots?",
"laser for my dark spots", "something for acne scars"; nor is a name or thing that holds a symptom word
("Do you take Blue Cross?", "a glass of red wine": the lexicon's `safety.everyday`, taken out anywhere
by `without_everyday` before red-flag matching and symptom reading).

A target (lexicon `safety.targets`) is taken out of the turn before red-flag matching and symptom
reading only when a lead word (`target_leads`: "for", "to get rid of" ...) introduces it and a
treatment name or a sales word (`target_asks`: "something", "do you do" ...) comes shortly before
the lead. Everything else in the turn is matched as said: "I had IPL for sun spots and now it's
blistering" still escalates on "blistering". Pure.
"""

from __future__ import annotations

import re
from functools import lru_cache

from appliance.clinic.lexicon import alternation, load_lexicon
from appliance.clinic.nlu import treatments_in
from appliance.clinic.pack import Pack
from appliance.clinic.parsers import normalize

_DETERMINERS = r"(?:(?:my|the|some|those|these|a few|any|her|his|their|a|an|all|of|these|little|small|few)\s+)*"
_BEFORE_WORDS = 5


@lru_cache(maxsize=4)
def _rx(language: str) -> tuple[re.Pattern[str] | None, re.Pattern[str] | None]:
    sx = load_lexicon(language).safety
    if not sx.targets or not sx.target_leads:
        return None, None

    span = re.compile(rf"\b(?:{alternation(sx.target_leads)})\s+{_DETERMINERS}"
                      rf"(?:{alternation(sx.targets)})(?![a-z0-9'])")
    asks = re.compile(rf"\b(?:{alternation(sx.target_asks)})\b") if sx.target_asks else None
    return span, asks


@lru_cache(maxsize=8)
def _phrases(language: str, kind: str) -> re.Pattern[str] | None:
    words = getattr(load_lexicon(language).safety, kind)
    return re.compile(rf"(?<![a-z0-9'])(?:{alternation(words)})(?![a-z0-9'])") if words else None


def without_everyday(text: str, language: str = "en", *, treated: bool = True) -> str:
    """The turn without the everyday names that hold a symptom word ("Blue Cross", "red wine"), for
    red-flag matching and symptom reading (a clinic-fact or topic question keeps them: "is red wine ok
    after filler?" is the alcohol topic); with `treated` False (no treatment of the caller's known)
    also without the looks a caller asks to have treated (`safety.cosmetic`: "dark circles under my eyes")."""
    t = normalize(text)
    for kind in ("everyday",) if treated else ("everyday", "cosmetic"):
        rx = _phrases(language, kind)
        if rx is not None:
            t = re.sub(r"\s+", " ", rx.sub(" ", t)).strip()
    return t


def symptom_text(pack: Pack, text: str, language: str = "en", *, treated: bool = True) -> str:
    """The turn as red-flag matching and symptom reading take it: without everyday names that hold a
    symptom word (and, for a caller with no treatment known, cosmetic looks), then without treatment
    targets said in a request."""
    return without_targets(pack, without_everyday(text, language, treated=treated), language)


def without_targets(pack: Pack, text: str, language: str = "en") -> str:
    """The turn with each treatment target said in a request removed (lower case, normalised)."""
    t = normalize(text)
    span, asks = _rx(language)
    if span is None:
        return t
    out, last = [], 0
    for m in span.finditer(t):
        before = " ".join(re.split(r"[.;!?]", t[:m.start()])[-1].split()[-_BEFORE_WORDS:])
        if treatments_in(pack, before) or (asks is not None and asks.search(before)):
            out.append(t[last:m.start()])
            last = m.end()
    if not out:
        return t
    return re.sub(r"\s+", " ", "".join(out) + " " + t[last:]).strip()
