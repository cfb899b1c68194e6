"""Red-flag rules: the pack's phrase lists matched against a caller turn, negation-aware.

Conservative by design: a phrase is discarded only when a negation cue ("no", "not", "don't",
"haven't", "without" ...) stands shortly before it in the same clause *and* the clause holds no
uncertainty ("not sure", "maybe", "I think", "a bit"); likewise "my vision is fine" (but "my lip
throbbing is that normal" asks, and is a hit). "No vision changes" is not a hit; "it's probably
nothing but my vision is blurry" and "I'm not sure if it's blurry" are.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Set
from dataclasses import dataclass

from appliance.clinic.parsers import normalize
from appliance.clinic.schema import RedFlag, Severity

SEVERITY_RANK: dict[str, int] = {"emergency": 3, "urgent": 2, "routine": 1}
_NEGATIONS = {"no", "not", "never", "without", "don't", "doesn't", "didn't", "haven't", "hasn't", "isn't", "aren't",
              "wasn't", "weren't", "none", "nor", "neither", "denies", "deny", "dont", "nothing", "zero", "free"}
_UNCERTAIN = re.compile(r"\b(not sure|unsure|maybe|might|may be|i think|think|possibly|perhaps|kind of|kinda|sort of|"
                        r"a bit|a little|slightly|don't know|not certain|can't tell|hard to tell|wonder)\b")
_CLAUSE = re.compile(r"[.;!?]|,|\b(?:but|however|though|although|except|and then|yet|anyway)\b")
_FINE_AFTER = {"fine", "ok", "okay", "good", "normal", "clear", "perfect", "great", "gone"}
# "... is that normal", "is it ok": asking about the symptom, not saying it is fine
_ASKED = re.compile(r"\b(?:is|was|are|does|should)\s+(?:that|this|it)\s+(?:\w+\s+)?(?:normal|ok|okay|fine|good)\b")
_NEG_WINDOW = 4
_MAX_GAP = 2


def worst_severity(severities: Iterable[Severity], default: Severity) -> Severity:
    """The highest of `severities` (emergency > urgent > routine), `default` when there is none."""
    return max(severities, key=lambda s: SEVERITY_RANK[s], default=default)

def _stem(word: str) -> str:
    word = word.removesuffix("'s")
    if len(word) > 4 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def words_of(text: str) -> list[str]:
    return [_stem(w) for w in re.findall(r"[a-z0-9]+(?:'[a-z]+)?", normalize(text))]


def _find(words: list[str], phrase: list[str]) -> Iterable[int]:
    """Start indexes where the phrase's words occur in order, at most _MAX_GAP words apart."""
    for start, w in enumerate(words):
        if w != phrase[0]:
            continue
        pos, ok = start, True
        for p in phrase[1:]:
            nxt = next((k for k in range(pos + 1, min(len(words), pos + 2 + _MAX_GAP)) if words[k] == p), None)
            if nxt is None:
                ok = False
                break
            pos = nxt
        if ok:
            yield start


def clauses(text: str) -> list[str]:
    return [c for c in _CLAUSE.split(normalize(text)) if c and c.strip()]


def denies(before: list[str], after: list[str], negations: Set[str], fine_after: Set[str], clause: str) -> bool:
    """Do the words around a phrase deny it: a negation shortly before ("no blurry vision"), or a
    "fine" word just after ("my vision is fine")? Not when the clause asks about it: "my lip
    throbbing is that normal" is a caller with a throbbing lip (the ASR lost the comma)."""
    fine = any(w in fine_after for w in after) and not _ASKED.search(clause)
    return any(w in negations for w in before) or fine


def mentioned(text: str, phrase: str) -> bool | None:
    """True: the phrase is asserted; False: only negated mentions; None: not mentioned at all."""
    target = words_of(phrase)
    if not target:
        return None
    seen_negated = False
    for clause in clauses(text):
        words = words_of(clause)
        for start in _find(words, target):
            before = words[max(0, start - _NEG_WINDOW):start]
            after = words[start + len(target):start + len(target) + 3]
            denied = denies(before, after, _NEGATIONS, _FINE_AFTER, clause)
            if denied and not _UNCERTAIN.search(clause):
                seen_negated = True
                continue
            return True
    return False if seen_negated else None


@dataclass(frozen=True)
class Hit:
    flag: RedFlag
    workflow: str | None
    phrase: str  # the pack phrase (or lexicon pattern) that matched
    method: str = "exact"  # exact | lexicon | asr | fuzzy | pattern | worsening | semantic | language-model
    heard: str = ""  # the caller's words that matched (stored with the call for staff; never logged)

    @property
    def evidence(self) -> str:
        """Why the call was escalated, for staff: the flag, the matched phrase and the method."""
        said = f'; heard "{self.heard}"' if self.heard and self.method != "exact" else ""
        return f'{self.flag.id}: {self.method} match of "{self.phrase}"{said}'


def detect(text: str, flags: Iterable[tuple[RedFlag, str | None]], prefer: str | None = None) -> list[Hit]:
    """Every red flag with an asserted phrase, most severe first (the caller's own workflow first on ties)."""
    hits: list[Hit] = []
    for flag, wf in flags:
        for phrase in flag.phrases:
            if mentioned(text, phrase):
                hits.append(Hit(flag, wf, phrase))
                break
    hits.sort(key=lambda h: (-SEVERITY_RANK[h.flag.severity], 0 if h.workflow == prefer else 1))
    return hits
