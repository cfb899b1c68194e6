"""Understanding a caller turn: rules first, the language model only when rules don't settle it.

Intents and slots are found with the pack's own vocabularies (treatment and area synonyms,
topic phrases) and the lexicon's cue lists (`understanding` in lexicon/en.yaml). `LlmAssist`
asks the model for a JSON object under a schema (constrained decoding) and accepts only values
from the allowed set.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from appliance.clinic.lexicon import alternation
from appliance.clinic.pack import Pack
from appliance.clinic.parsers import contains_phrase, normalize, tokens
from appliance.clinic.redflags import mentioned
from appliance.clinic.schema import Area, Topic, Treatment
from appliance.clinic.words import words
from appliance.conversation import LanguageModel
from appliance.logs import get_logger

log = get_logger(__name__)

INTENTS = ("new_patient", "returning", "aftercare", "touch_up", "book", "message", "question", "goodbye", "other")
_ROUTES = ("message", "touch_up", "aftercare", "returning", "new_patient", "goodbye", "book")  # tried in order


@lru_cache(maxsize=4)
def _questions(language: str) -> tuple[re.Pattern[str], re.Pattern[str]]:
    u = words(language)
    return (re.compile(r"^(?:" + alternation(u.question_starts) + r")\b"),
            re.compile(r"\b(?:" + alternation(u.question_phrases) + r")\b"))


def intent_of(text: str, language: str = "en") -> str | None:
    """The first matching intent by the lexicon's cues (`understanding.routing`), in priority
    order; None when nothing matches."""
    said = tokens(text)
    routing = words(language).routing
    for intent in _ROUTES:
        if any(contains_phrase(said, cue) for cue in getattr(routing, intent)):
            return intent
    if is_question(text, language):
        return "question"
    return None


def is_question(text: str, language: str = "en") -> bool:
    t = normalize(text)
    starts, phrases = _questions(language)
    return t.endswith("?") or bool(starts.match(t)) or bool(phrases.search(t))


def _longest(words: list[str], vocab: list[tuple[str, Any]]) -> list[Any]:
    found = []
    for phrase, item in sorted(vocab, key=lambda v: -len(v[0])):
        if contains_phrase(words, phrase) and item not in found:
            found.append(item)
    return found


def treatments_in(pack: Pack, text: str) -> list[Treatment]:
    vocab = [(s, t) for t in pack.menu.treatments for s in [t.name, t.id.replace("-", " "), *t.synonyms]]
    return _longest(tokens(text), vocab)


def areas_in(pack: Pack, text: str) -> list[Area]:
    vocab = [(s, a) for a in pack.menu.areas for s in [a.id.replace("-", " "), *a.synonyms]]
    return _longest(tokens(text), vocab)


def topic_in(topics: list[Topic], text: str) -> Topic | None:
    words = tokens(text)
    for topic in topics:
        if any(contains_phrase(words, p) for p in topic.phrases):
            return topic
    return None


_SCREEN_CUES: dict[str, tuple[str, ...]] = {
    "pregnant_or_breastfeeding": ("pregnant", "breastfeeding", "breast feeding", "nursing", "expecting a baby"),
    "anticoagulants": ("blood thinner", "blood thinners", "warfarin", "coumadin", "eliquis", "apixaban", "xarelto",
                       "clopidogrel", "plavix", "daily aspirin"),
    "autoimmune": ("autoimmune", "lupus", "rheumatoid", "myasthenia", "multiple sclerosis"),
}


def screen_mentions(text: str) -> dict[str, str]:
    """Screen answers volunteered in passing: {"pregnant_or_breastfeeding": "yes"|"no", ...}."""
    out: dict[str, str] = {}
    for slot, cues in _SCREEN_CUES.items():
        results = [mentioned(text, c) for c in cues]
        if any(r is True for r in results):
            out[slot] = "yes"
        elif any(r is False for r in results):
            out[slot] = "no"
    return out


class LlmAssist:
    """Slot filling and intent classification through the LanguageModel, schema-constrained."""

    SYSTEM = ("You label what a caller to a medical spa said. Reply with JSON only. Choose the closest label; "
              "use \"other\" when none fits.")

    # Measured on the turn corpus (tests/clinic/test_turns_llm.py, SmolLM2-135M): "treatment" and
    # "prior" lowered slot accuracy (100% -> 99.4%), "caller" and "reason" changed nothing, so the
    # model is kept only for a concern's category, where it can raise a concern and never lower a
    # rule hit. Never a safety slot (pregnancy, anticoagulants, autoimmune, dental work).
    TASKS = frozenset({"category"})

    def __init__(self, llm: LanguageModel | None, tasks: frozenset[str] | None = None) -> None:
        self.llm = llm
        self.tasks = self.TASKS if tasks is None else tasks

    def use(self, task: str) -> bool:
        """Whether the model is consulted for this task (and is there at all)."""
        return self.llm is not None and task in self.tasks

    async def choose(self, field: str, options: tuple[str, ...], question: str, text: str) -> str | None:
        if self.llm is None:
            return None
        schema = {"type": "object", "properties": {field: {"type": "string", "enum": list(options)}},
                  "required": [field]}
        user = f"Question asked: {question}\nCaller said: {text[:400]}\nLabel the caller's {field}."
        try:
            result = await self.llm.complete_json(self.SYSTEM, user, schema, max_tokens=24)
        except Exception as e:  # noqa: BLE001 - the model is an extra signal; rules carry the call without it
            log.warning("clinic.llm_failed", error=type(e).__name__)
            return None
        value = result.get(field)
        return value if value in options else None
