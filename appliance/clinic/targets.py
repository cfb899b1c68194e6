"""What a treatment is for is not a symptom: "Do you do the IPL photo facial for sun spots?",
"laser for my dark spots", "something for acne scars".

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
