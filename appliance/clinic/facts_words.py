"""The `facts` section of the per-language lexicon: how callers ask for clinic facts (hours,
address, parking ...), which words make a clause a question, and the synonyms and telephone
speech-recognition confusions applied before matching. Checked once per process."""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from appliance.clinic.lexicon import LEXICON_DIR, Confusion, load_file, load_lexicon, section_error
from appliance.clinic.parsers import normalize
from appliance.clinic.words import find

Word = Annotated[str, StringConstraints(min_length=1, max_length=60, strip_whitespace=True)]
Words = list[Word]


class _M(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TopicCues(_M):
    phrases: Words = Field(default_factory=list)  # any one of these asks for the topic
    patterns: list[list[Words]] = Field(default_factory=list)  # or: a word of every group, in one clause


class FactWords(_M):
    topics: dict[Word, TopicCues] = Field(min_length=1)
    ask_starts: Words = Field(min_length=1)  # a clause opening with one of these asks something
    ask_frames: Words = Field(default_factory=list)  # ... or holding one ("i was wondering", "tell me")
    clause_breaks: Words = Field(default_factory=list)  # "and", "but": a new clause when a clause start follows
    clause_starts: Words = Field(default_factory=list)  # words that open a new clause after a break
    fillers: Words = Field(default_factory=list)  # words that add nothing to the rest of the turn
    requests: Words = Field(default_factory=list)  # a clause with one is also a request for the step to handle
    synonyms: list[Words] = Field(default_factory=list)  # the first word names the set
    asr_confusions: list[Confusion] = Field(default_factory=list)


def check_section(path: Path) -> FactWords:
    """The facts section of one lexicon file; LexiconError (file, line, fix) when it is not valid."""
    section = load_file(path).sections.get("facts")
    try:
        return FactWords.model_validate(section)
    except ValidationError as e:
        raise section_error(path, "facts", list(e.errors())) from e


@lru_cache(maxsize=4)
def fact_words(language: str = "en") -> FactWords:
    load_lexicon(language)  # the file exists and the shared sections are valid
    return check_section(LEXICON_DIR / f"{language}.yaml")


@lru_cache(maxsize=4)
def _canon(language: str) -> tuple[re.Pattern[str] | None, dict[str, str]]:
    heads = {m.lower(): group[0].lower() for group in fact_words(language).synonyms for m in group}
    if not heads:
        return None, heads
    alts = "|".join(re.escape(m) for m in sorted(heads, key=len, reverse=True))
    return re.compile(r"(?<![a-z0-9'])(?:" + alts + r")(?![a-z0-9'])"), heads


def rewrite(text: str, language: str = "en", confusions: bool = True) -> str:
    """Normalised text with the speech-recognition confusions undone and every synonym replaced
    by the name of its set; cue phrases go through the same rewrite (without the confusions)."""
    w = fact_words(language)
    t = normalize(text)
    if confusions:
        for c in sorted(w.asr_confusions, key=lambda c: -len(c.heard)):
            if c.near and not find(list(c.near), t):
                continue
            t = re.sub(r"(?<![a-z0-9'])" + re.escape(c.heard.lower()) + r"(?![a-z0-9'])", c.meant.lower(), t)
    rx, heads = _canon(language)
    return rx.sub(lambda m: heads[m.group(0)], t) if rx is not None else t


@lru_cache(maxsize=512)
def cues(phrases: tuple[str, ...], language: str = "en") -> tuple[str, ...]:
    """Cue phrases after the synonym rewrite (cached): matched against a rewritten clause."""
    return tuple(dict.fromkeys(rewrite(p, language, confusions=False) for p in phrases))
