"""Red-flag rules: the pack's phrase lists matched against a caller turn, negation-aware.

Conservative by design: a phrase is discarded only when a negation cue ("no", "not", "don't",
"haven't", "without" ...) stands shortly before it in the same clause *and* the clause holds no
uncertainty ("not sure", "maybe", "I think", "a bit"); likewise "my vision is fine" (but "my lip
throbbing is that normal" asks, and is a hit). "No vision changes" is not a hit; "it's probably
nothing but my vision is blurry" and "I'm not sure if it's blurry" are. The words of those rules
are the language's lexicon's (`safety` section of `lexicon/en.yaml`), not this module's.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from appliance.clinic.lexicon import Safety, alternation, load_lexicon
from appliance.clinic.parsers import normalize
from appliance.clinic.schema import RedFlag, Severity

SEVERITY_RANK: dict[str, int] = {"emergency": 3, "urgent": 2, "routine": 1}
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


@dataclass(frozen=True)
class Denial:
    """When the words around a phrase deny it, from a language's lexicon (its `safety` section):
    the negations, the "fine" words, the clause breaks, and the uncertainty and the asking that
    keep a clause from denying anything."""

    negations: frozenset[str]
    fine_after: frozenset[str]
    uncertain: re.Pattern[str]
    asking: re.Pattern[str]
    breaks: re.Pattern[str]

    @classmethod
    def of(cls, sx: Safety) -> Denial:
        a = sx.asking
        asking = (r"\b(?:" + alternation(a.verbs) + r")\s+(?:" + alternation(a.about) + r")\s+(?:\w+\s+)?(?:"
                  + alternation(a.judged) + r")\b") if a.verbs and a.about and a.judged else r"(?!)"
        return cls(negations=frozenset(_stem(w) for w in sx.negations if " " not in w),
                   fine_after=frozenset(sx.fine_after),
                   uncertain=re.compile(r"\b(?:" + alternation(sx.uncertainty) + r")\b"),
                   asking=re.compile(asking),
                   breaks=re.compile(r"[.;!?,]" + (r"|\b(?:" + alternation(sx.clause_breaks) + r")\b"
                                                   if sx.clause_breaks else "")))

    def clauses(self, text: str) -> list[str]:
        return [c for c in self.breaks.split(normalize(text)) if c and c.strip()]

    def denies(self, before: list[str], after: list[str], clause: str) -> bool:
        """Do the words around a phrase deny it: a negation shortly before ("no blurry vision"), or
        a "fine" word just after ("my vision is fine")? Never in a clause that holds uncertainty
        ("I'm not sure it's blurry"); a "fine" word not in one that asks: "my lip throbbing is
        that normal" is a caller with a throbbing lip (the recogniser lost the comma)."""
        if self.uncertain.search(clause):
            return False
        fine = any(w in self.fine_after for w in after) and not self.asking.search(clause)
        return fine or any(w in self.negations for w in before)


@lru_cache(maxsize=4)
def denial(language: str = "en") -> Denial:
    """The language's denial rules (from its lexicon, read once)."""
    return Denial.of(load_lexicon(language).safety)


def mentioned(text: str, phrase: str, language: str = "en") -> bool | None:
    """True: the phrase is asserted; False: only negated mentions; None: not mentioned at all."""
    target = words_of(phrase)
    if not target:
        return None
    rules = denial(language)
    seen_negated = False
    for clause in rules.clauses(text):
        words = words_of(clause)
        for start in _find(words, target):
            before = words[max(0, start - _NEG_WINDOW):start]
            after = words[start + len(target):start + len(target) + 3]
            if rules.denies(before, after, clause):
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
