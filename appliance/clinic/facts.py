"""Which clinic facts a caller turn asks for, and what is left of the turn for the current step.

Pure: the pack's `facts.yaml`, the lexicon's `facts` and `understanding` sections, the call's
state. A turn is split into clauses; a clause asks for a fact when it holds one of the topic's
cues (lexicon phrases and patterns, the pack's own phrases) after the lexicon's rewrite
(speech-recognition confusions, synonyms) and it is asking: it opens with a question word, holds
an asking frame ("I was wondering"), ends with a question mark, or is a bare few words at an open
question. A clause that is a request to speak to someone, to stop calling, a wrong number, a
complaint or a price quote for a treatment is never a fact question; a turn that reports a symptom
is never read for facts at all (the caller reading does that: the concern comes first).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from appliance.clinic.facts_words import FactWords, cues, fact_words, rewrite
from appliance.clinic.nlu import areas_in, treatments_in
from appliance.clinic.pack import Pack
from appliance.clinic.parsers import normalize
from appliance.clinic.words import Understanding, find, words

OPEN_STATES = ("greeting", "new_or_returning", "returning_reason", "how_help", "anything_else")
_BARE_WORDS = 3  # at an open question, "parking?" or "your address please" asks without a question word


@dataclass(frozen=True)
class FactsAsked:
    ids: tuple[str, ...]  # the pack's facts asked for, in the order asked
    rest: str  # the rest of the turn, for the current step; "" when the turn only asked facts


def facts_asked(pack: Pack, text: str, state: str = "greeting", language: str = "en") -> FactsAsked | None:
    """The facts a turn asks for, or None when it asks for none."""
    if pack.facts is None or not text.strip():
        return None
    w, u = fact_words(language), words(language)
    asked: list[str] = []
    kept: list[str] = []
    prev = ""
    for clause in clauses(text, w, u):
        ids = clause_facts(pack, clause, state, w, u, language)
        if not ids and prev:  # "can I book a consultation, and what does it include?": "it" is the one before
            before = set(clause_facts(pack, prev, state, w, u, language))
            ids = [i for i in clause_facts(pack, f"{prev} {clause}", state, w, u, language) if i not in before] \
                if _asks(normalize(clause), state, w, u) else []
        prev = clause
        if not ids:
            kept.append(clause)
            continue
        asked += [i for i in ids if i not in asked]
        if find(w.requests, normalize(clause)):
            kept.append(clause)  # "can I book a consultation, what does it include?": the booking goes on
    if not asked:
        return None
    rest = " ".join(kept)
    return FactsAsked(tuple(asked), rest if _says_something(rest, w, u) else "")


def clause_facts(pack: Pack, clause: str, state: str, w: FactWords, u: Understanding,
                 language: str = "en") -> list[str]:
    t = normalize(clause)
    if any(find(getattr(u.intents, name), t) for name in ("message", "stop_calling", "wrong_number", "complaint")):
        return []
    r = rewrite(clause, language)
    found = [f.id for f in pack.facts.facts if _matches(r, w, f.topic, tuple(f.phrases), language)] \
        if pack.facts else []
    if not found or not _asks(t, state, w, u):
        return []
    if find(u.intents.price, t) and (treatments_in(pack, clause) or areas_in(pack, clause)):
        return []  # "how much is Botox": a price quote, not a clinic fact
    return found


def _matches(r: str, w: FactWords, topic: str, own: tuple[str, ...], language: str) -> bool:
    lex = w.topics.get(topic)
    phrases = own + tuple(lex.phrases if lex else ())
    if phrases and find(list(cues(phrases, language)), r):
        return True
    return any(all(find(list(cues(tuple(group), language)), r) for group in pattern)
               for pattern in (lex.patterns if lex else []))


def _lead_stripped(t: str, w: FactWords, u: Understanding) -> list[str]:
    toks = re.findall(r"[a-z0-9']+", t)
    skip = set(u.backchannels) | set(w.clause_breaks) | set(w.fillers)
    i = 0
    while i < len(toks) and toks[i] in skip and toks[i] not in w.ask_starts:
        i += 1
    return toks[i:]


def _asks(t: str, state: str, w: FactWords, u: Understanding) -> bool:
    toks = _lead_stripped(t, w, u)
    if toks and find(w.ask_starts, " ".join(toks), anchored=True):
        return True
    if "?" in t or find(w.ask_frames, t):
        return True
    return state in OPEN_STATES and 0 < len(toks) <= _BARE_WORDS and not find(u.name_lead, t)  # "this is Dana Park"


def clauses(text: str, w: FactWords, u: Understanding) -> list[str]:
    """The turn split at sentence marks, and at a comma or a break word ("and", "but") that a
    clause start follows ("..., and where do I park"): "open Monday and Tuesday" stays whole."""
    low = text.lower().replace("\u2019", "'")
    if len(low) != len(text):
        text = low = normalize(text)
    breaks, starts, soft = set(w.clause_breaks), set(w.clause_starts) | set(w.ask_starts), set(u.backchannels)
    out: list[str] = []
    for m in re.finditer(r"[^.?!;]+[.?!;]*", low):
        toks = [(x.start() + m.start(), x.group(0)) for x in re.finditer(r"[a-z0-9']+|,", m.group(0))]
        cuts = [m.start()]
        for i, (pos, tok) in enumerate(toks):
            if i == 0 or not (tok == "," or tok in breaks) or (i > 0 and (toks[i - 1][1] == "," or
                                                                          toks[i - 1][1] in breaks)):
                continue
            for _, nxt in toks[i + 1:]:
                if nxt in starts:
                    cuts.append(pos)
                    break
                if not (nxt == "," or nxt in breaks or nxt in soft):
                    break
        cuts.append(m.end())
        out += [p for a, b in zip(cuts, cuts[1:], strict=False) if (p := text[a:b].strip(" ,"))]
    return out


def _says_something(rest: str, w: FactWords, u: Understanding) -> bool:
    t = normalize(rest)
    for phrase in sorted([*w.fillers, *w.clause_breaks, *u.backchannels], key=len, reverse=True):
        t = re.sub(r"(?<![a-z0-9'])" + re.escape(phrase.lower()) + r"(?![a-z0-9'])", " ", t)
    return bool(re.search(r"[a-z0-9]", t))
