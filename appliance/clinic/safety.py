"""Red-flag safety check for one caller turn: every flag of the pack, matched by meaning.

Pure (no clock, no I/O after the lexicon is loaded). Methods, tried in order, each hit naming
the pack phrase it matched and how:

- `exact`: the pack phrase's words in order (`redflags.mentioned`, negation-aware);
- `lexicon`: the same after the language's lexicon rewrote the turn and the phrase: telephone
  speech-recognition confusions ("highs" -> hives), word forms ("throbs" -> throb) and synonym
  sets ("puffed up" = swollen);
- `fuzzy`: as `lexicon`, with caller words one or two letters away from a pack word read as it;
- `pattern`: symptom + body part groups from the lexicon (swelling of the face with hives);
- `worsening`: a symptom no flag names, with a worsening or systemic sign: urgent at least
  (the pack's `screen.yaml` `worsening` entry can raise it per procedure family).

Context (the caller's procedure) only orders hits of equal severity and may raise a severity;
it never removes a flag from the check. Recall first: uncertainty never denies a symptom.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Set
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from appliance.clinic.lexicon import Lexicon, Pattern, load_lexicon
from appliance.clinic.parsers import normalize, person_name
from appliance.clinic.redflags import SEVERITY_RANK, Denial, Hit, _stem, mentioned
from appliance.clinic.schema import RedFlag

_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
_SENTENCE = re.compile(r"[.!?]+")
_NEG_WINDOW = 4
_MAX_GAP = 2
_MEMO_SIZE = 4096  # clause tokenisations kept (a turn has a few clauses)
LOW_CONFIDENCE = 0.5  # below this ASR confidence a fuzzy-only hit gets one confirmation question


@dataclass(frozen=True)
class Tok:
    word: str
    origin: str  # the caller's words this token stands for
    via: str = ""  # "asr" | "lexicon" | "fuzzy" | "" (as said)


@dataclass
class Verdict:
    hits: list[Hit] = field(default_factory=list)  # most severe first
    confirm: bool = False  # low-confidence, fuzzy-only: ask the approved confirmation question first

    @property
    def top(self) -> Hit | None:
        return self.hits[0] if self.hits else None


class Matcher:
    """The lexicon's tables, compiled once per language."""

    def __init__(self, lexicon: Lexicon) -> None:
        sx = lexicon.safety
        self.sx = sx
        self.denial = Denial.of(sx)
        self.stop = frozenset(sx.stop_words)
        self.lemma = {_stem(form): base for base, forms in sx.lemmas.items() for form in forms}
        self.confusions = sorted(((tuple(_WORD.findall(c.heard.lower())), tuple(_WORD.findall(c.meant.lower())),
                                   tuple(c.near)) for c in sx.asr_confusions), key=lambda c: -len(c[0]))
        self.synonyms: list[tuple[tuple[str, ...], str]] = []
        for group in sx.synonyms:
            head = "_".join(self._base(group[0]))
            for member in group:
                self.synonyms.append((tuple(self._base(member)), head))
        self.synonyms.sort(key=lambda s: -len(s[0]))
        self.never = {_stem(w) for w in sx.fuzzy.never}
        self.body = {w for parts in sx.body_parts.values() for p in parts for w in self._base(p)}
        self._phrases: dict[str, list[str]] = {}
        # A turn is checked against every phrase of every flag, clause by clause: its clauses'
        # tokens (and their fuzzy rewrites) are worked out once. Keys hold frozensets, whose hash
        # Python keeps; plain dict operations, safe from several call threads.
        self._clause_toks: dict[tuple[str, frozenset[str]], list[Tok]] = {}
        self._clause_fuzz: dict[tuple[str, frozenset[str], frozenset[str]], list[Tok]] = {}

    # ---- rewriting ----

    def _base(self, text: str) -> list[str]:
        out = []
        for w in _WORD.findall(normalize(text)):
            s = _stem(w)
            out.append(self.lemma.get(s, s))
        return out

    def tokens(self, text: str, turn_words: Set[str] | None = None) -> list[Tok]:
        """Caller words -> canonical tokens (ASR confusions, lemmas, synonym sets, stop words out)."""
        raw = _WORD.findall(normalize(text))
        context = turn_words if turn_words is not None else set(raw)
        toks = [Tok(w, w) for w in raw]
        for heard, meant, near in self.confusions:
            if heard == meant or (near and not any(n in context or n in " ".join(raw) for n in near)):
                continue
            i = 0
            while i <= len(toks) - len(heard):
                if tuple(t.word for t in toks[i:i + len(heard)]) == heard:
                    origin = " ".join(t.origin for t in toks[i:i + len(heard)])
                    toks[i:i + len(heard)] = [Tok(m, origin, "asr") for m in meant]
                    i += len(meant)
                else:
                    i += 1
        base = []
        for t in toks:
            s = _stem(t.word)
            lem = self.lemma.get(s, s)
            base.append(Tok(lem, t.origin, t.via or ("lexicon" if lem != t.word and lem != s else "")))
        return self._synonyms(base)

    def _synonyms(self, toks: list[Tok]) -> list[Tok]:
        out: list[Tok] = []
        i = 0
        words = [t.word for t in toks]
        while i < len(toks):
            for member, head in self.synonyms:
                n = len(member)
                if n and tuple(words[i:i + n]) == member:
                    span = toks[i:i + n]
                    via = next((t.via for t in span if t.via == "asr"), "") or ("lexicon" if member != (head,) else "")
                    out.append(Tok(head, " ".join(dict.fromkeys(t.origin for t in span)), via or next((t.via for t in span
                                                                                        if t.via), "")))
                    i += n
                    break
            else:
                out.append(toks[i])
                i += 1
        return [t for t in out if t.word not in self.stop]

    def canon(self, phrase: str) -> list[str]:
        if phrase not in self._phrases:
            self._phrases[phrase] = [t.word for t in self.tokens(phrase, set())]
        return self._phrases[phrase]

    def rewritable(self, phrase: str) -> bool:
        """Whether a phrase may be matched after rewriting: not when rewriting leaves only a body part
        ("in my eye" -> "eye", which "under-eye filler" would match); such phrases match as said."""
        target = self.canon(phrase)
        return bool(target) and not (len(_WORD.findall(phrase)) > len(target) and set(target) <= self.body)

    def fuzzed(self, toks: list[Tok], vocab: Set[str]) -> list[Tok]:
        fz = self.sx.fuzzy
        out = []
        for t in toks:
            w = t.word
            if w in vocab or len(w) < fz.min_length or w in self.never or "_" in w or "'" in w:
                out.append(t)
                continue
            limit = fz.long_max_distance if len(w) >= fz.long_length else fz.max_distance
            best = min(((_distance(w, v), v) for v in vocab if abs(len(v) - len(w)) <= limit and v[0] == w[0]),
                       default=None)
            out.append(Tok(best[1], t.origin, "fuzzy") if best and best[0] <= limit else t)
        return out

    # ---- matching ----

    def clauses(self, text: str) -> list[str]:
        return self.denial.clauses(text)

    def find(self, clause_toks: list[Tok], target: list[str], clause: str) -> tuple[bool | None, list[Tok]]:
        """(True, matched tokens) asserted; (False, []) only denied; (None, []) absent."""
        words = [t.word for t in clause_toks]
        denied_seen = False
        for start in _starts(words, target):
            end = _end(words, target, start)
            before = words[max(0, start - _NEG_WINDOW):start]
            after = words[end + 1:end + 4]
            if self.denial.denies(before, after, clause):
                denied_seen = True
                continue
            picked = [clause_toks[k] for k in range(start, end + 1) if words[k] in target]
            return True, picked
        return (False if denied_seen else None), []

    def asserted(self, text: str, phrase: str, turn_words: Set[str], vocab: Set[str] | None = None
                 ) -> tuple[str, list[Tok]] | None:
        target = self.canon(phrase)
        if not target:
            return None
        context = turn_words if isinstance(turn_words, frozenset) else frozenset(turn_words)
        words = vocab if vocab is None or isinstance(vocab, frozenset) else frozenset(vocab)
        for clause in self.clauses(text):
            toks = self._memo(self._clause_toks, (clause, context), self.tokens, clause, context)
            found, picked = self.find(toks, target, clause)
            if found:
                return ("asr" if any(t.via == "asr" for t in picked) else "lexicon"), picked
            if words is not None:
                fz = self._memo(self._clause_fuzz, (clause, context, words), self.fuzzed, toks, words)
                found, picked = self.find(fz, target, clause)
                if found and any(t.via == "fuzzy" for t in picked):
                    return "fuzzy", picked
        return None

    @staticmethod
    def _memo(table: dict[Any, list[Tok]], key: Any, make: Callable[..., list[Tok]], *args: Any) -> list[Tok]:
        got = table.get(key)
        if got is None:
            if len(table) >= _MEMO_SIZE:
                table.clear()
            got = table[key] = make(*args)
        return got

    def pattern_hit(self, text: str, pattern: Pattern, turn_words: Set[str]) -> list[Tok] | None:
        spans = [text] if pattern.within == "turn" else [s for s in _SENTENCE.split(text) if s.strip()]
        for span in spans:
            picked: list[Tok] = []
            for group in pattern.groups:
                got = next((m for m in (self.asserted(span, p, turn_words) for p in group) if m), None)
                if got is None:
                    break
                picked += got[1]
            else:
                return picked
        return None


def _starts(words: list[str], phrase: list[str]) -> Iterable[int]:
    for start, w in enumerate(words):
        if w == phrase[0] and _end(words, phrase, start) >= 0:
            yield start


def _end(words: list[str], phrase: list[str], start: int) -> int:
    pos = start
    for p in phrase[1:]:
        nxt = next((k for k in range(pos + 1, min(len(words), pos + 2 + _MAX_GAP)) if words[k] == p), None)
        if nxt is None:
            return -1
        pos = nxt
    return pos


def _distance(a: str, b: str) -> int:
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


@lru_cache(maxsize=4)
def matcher(language: str = "en") -> Matcher:
    return Matcher(load_lexicon(language))


@lru_cache(maxsize=4)
def _clinical_words(language: str) -> frozenset[str]:
    """Body parts, symptom and worsening words of the lexicon: never a given name."""
    m = matcher(language)
    words = {w for phrase in (*m.sx.symptoms, *m.sx.worsening) for w in m._base(phrase)}
    return frozenset(words | m.body)


def only_a_name(text: str, language: str = "en") -> bool:
    """The turn is a person's name and nothing else, as the recogniser wrote it: "My name is Rosa
    White.", "It's Maya Gray." A surname that is a colour is not a symptom. Narrow on purpose: at
    least a given name and a surname, each capitalised as said (Whisper capitalises names; "it's gone
    white" is lower case), and no part before the surname a body part, symptom or worsening word
    ("Lips White." stays a report)."""
    name = person_name(text)
    parts = name.split() if name else []
    if len(parts) < 2 or not all(re.search(rf"(?<![A-Za-z]){re.escape(p)}(?![A-Za-z])", text) for p in parts):
        return False
    clinical = _clinical_words(language)
    m = matcher(language)
    return not any(w in clinical for p in parts[:-1] for w in m._base(p))


def _heard(picked: list[Tok]) -> str:
    return " ".join(dict.fromkeys(t.origin for t in picked))


def check(flags: list[tuple[RedFlag, str | None]], text: str, *, workflow: str | None = None,
          family: str | None = None, worsening: RedFlag | None = None,
          worsening_by_family: dict[str, str] | None = None, confidence: float | None = None,
          language: str = "en") -> Verdict:
    """Every flag against one turn. `workflow`/`family`: the caller's procedure, if known."""
    m = matcher(language)
    turn_words = frozenset(_WORD.findall(normalize(text)))
    vocab = frozenset(w for f, _ in flags for p in f.phrases for w in m.canon(p) if len(w) >= m.sx.fuzzy.min_length)
    hits: list[Hit] = []
    for flag, wf in flags:
        hit = None
        for phrase in flag.phrases:
            if mentioned(text, phrase):
                hit = Hit(flag, wf, phrase, "exact", "")
                break
        phrases = [p for p in flag.phrases if m.rewritable(p)]
        if hit is None:
            for phrase in phrases:
                got = m.asserted(text, phrase, turn_words)
                if got:
                    hit = Hit(flag, wf, phrase, "lexicon", _heard(got[1]))
                    break
        if hit is None:
            for phrase in phrases:
                got = m.asserted(text, phrase, turn_words, vocab)
                if got:
                    hit = Hit(flag, wf, phrase, got[0], _heard(got[1]))
                    break
        if hit:
            hits.append(hit)
    have = {h.flag.category for h in hits}
    for pattern in m.sx.patterns:
        picked = m.pattern_hit(text, pattern, turn_words)
        if picked is None:
            continue
        named, wf = _flag_for(flags, pattern.category, workflow)
        flag = named if named is not None else RedFlag(
            id=f"lexicon-{pattern.id}", category=pattern.category, severity=pattern.severity,
            action="emergency" if pattern.severity == "emergency" else "transfer_np",
            phrases=[pattern.id.replace("-", " ")])
        if flag.category not in have or SEVERITY_RANK[flag.severity] > max(
                (SEVERITY_RANK[h.flag.severity] for h in hits if h.flag.category == flag.category), default=0):
            hits.append(Hit(flag, wf, f"pattern {pattern.id}", "pattern", _heard(picked)))
            have.add(flag.category)
    top = max((SEVERITY_RANK[h.flag.severity] for h in hits), default=0)
    if top < SEVERITY_RANK["urgent"] and worsening is not None:
        sym = _any_asserted(m, text, m.sx.symptoms, turn_words) or next(
            (h.heard or h.phrase for h in hits), None)
        sign = _any_asserted(m, text, m.sx.worsening, turn_words)
        if sym and sign:
            severity = (worsening_by_family or {}).get(family or "", worsening.severity)
            if SEVERITY_RANK[severity] < SEVERITY_RANK[worsening.severity]:
                severity = worsening.severity
            flag = worsening.model_copy(update={"severity": severity})
            hits.append(Hit(flag, None, f"symptom + worsening sign ({sign})", "worsening", f"{sym}; {sign}"))
    hits.sort(key=lambda h: (-SEVERITY_RANK[h.flag.severity], _pref(h, workflow), _METHOD_ORDER.get(h.method, 9)))
    top_hit = hits[0] if hits else None
    confirm = bool(top_hit and confidence is not None and confidence < LOW_CONFIDENCE
                   and top_hit.flag.severity != "emergency"
                   and all(h.method in ("fuzzy", "semantic") for h in hits if h.flag.severity == top_hit.flag.severity))
    return Verdict(hits, confirm)


_METHOD_ORDER = {"exact": 0, "lexicon": 1, "asr": 1, "pattern": 2, "fuzzy": 3, "worsening": 4}


def _pref(hit: Hit, workflow: str | None) -> int:
    if workflow and hit.workflow == workflow:
        return 0
    return 1 if hit.workflow is None else 2


def _flag_for(flags: list[tuple[RedFlag, str | None]], category: str, workflow: str | None
              ) -> tuple[RedFlag | None, str | None]:
    cands = [(f, wf) for f, wf in flags if f.category == category]
    if not cands:
        return None, None
    cands.sort(key=lambda c: (-SEVERITY_RANK[c[0].severity], 0 if c[1] is None else 1 if c[1] == workflow else 2))
    return cands[0]


def _any_asserted(m: Matcher, text: str, words: list[str], turn_words: Set[str]) -> str | None:
    for w in words:
        got = m.asserted(text, w, turn_words)
        if got:
            return _heard(got[1])
    return None
