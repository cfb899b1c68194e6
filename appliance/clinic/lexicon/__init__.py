"""Per-language lexicons: how callers (and telephone speech recognition) say things.

One YAML file per language (`en.yaml`), one top-level section per part of the appliance. This
module loads and checks the file; each part reads its own section. A bad file raises
`LexiconError` naming the file, the line and the fix. Sections this module does not know are
kept as plain data (`Lexicon.sections`) for their owners to validate.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, model_validator

from appliance.clinic.errors import PackError
from appliance.clinic.yamlload import LocatedYaml, YamlProblem, load_located

LEXICON_DIR = Path(__file__).parent
Word = Annotated[str, StringConstraints(min_length=1, max_length=60, strip_whitespace=True)]
Sev = Literal["emergency", "urgent", "routine"]


class LexiconError(PackError):
    code = "lexicon-invalid"


def alternation(phrases: Iterable[str]) -> str:
    """A regex alternation of the phrases, escaped, longest first ("not sure" before "not")."""
    return "|".join(re.escape(p) for p in sorted(phrases, key=len, reverse=True))


def section_error(path: Path, section: str, errors: Sequence[Mapping[str, Any]]) -> LexiconError:
    """The LexiconError for a section its owner found invalid: each problem with its file line
    (`errors` as pydantic's `ValidationError.errors()`, locations inside the section)."""
    located = load_located(path)  # it parsed a moment ago
    problems = []
    for err in errors:
        loc = (section, *err["loc"])
        problems.append(f"{path.name}:{located.line_of(loc) or '?'}: {'.'.join(str(p) for p in loc)}: {err['msg']}")
    return LexiconError(f"{path}: the {section} section is not valid", problems=problems,
                        fix=f"correct {path.name} at the line shown (see the comments of its {section} section), "
                            "then restart")


class _M(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Confusion(_M):
    heard: Word
    meant: Word
    near: list[Word] = Field(default_factory=list)


class Pattern(_M):
    id: Word
    category: Word
    severity: Sev
    within: Literal["sentence", "turn"] = "sentence"
    groups: list[list[Word]] = Field(min_length=1)


class Fuzzy(_M):
    min_length: int = Field(6, ge=4, le=20)
    max_distance: int = Field(1, ge=0, le=3)
    long_length: int = Field(9, ge=5, le=30)
    long_max_distance: int = Field(2, ge=0, le=4)
    never: list[Word] = Field(default_factory=list)


class Asking(_M):
    """A clause that asks whether a symptom is fine: `verbs` `about` [one word] `judged`."""
    verbs: list[Word] = Field(default_factory=list)
    about: list[Word] = Field(default_factory=list)
    judged: list[Word] = Field(default_factory=list)


class Safety(_M):
    negations: list[Word] = Field(min_length=1)
    uncertainty: list[Word] = Field(min_length=1)
    fine_after: list[Word] = Field(default_factory=list)
    asking: Asking = Asking()
    clause_breaks: list[Word] = Field(default_factory=list)
    stop_words: list[Word] = Field(default_factory=list)  # left out of turns and phrases before matching
    lemmas: dict[Word, list[Word]] = Field(default_factory=dict)
    synonyms: list[list[Word]] = Field(default_factory=list)
    asr_confusions: list[Confusion] = Field(default_factory=list)
    body_parts: dict[Word, list[Word]] = Field(default_factory=dict)
    symptoms: list[Word] = Field(default_factory=list)
    worsening: list[Word] = Field(default_factory=list)
    patterns: list[Pattern] = Field(default_factory=list)
    fuzzy: Fuzzy = Fuzzy()
    # What a treatment is for ("IPL for sun spots"): not a symptom when a treatment or a sales
    # word leads to it with one of `target_leads`.
    targets: list[Word] = Field(default_factory=list)
    target_leads: list[Word] = Field(default_factory=list)
    target_asks: list[Word] = Field(default_factory=list)  # sales words that may lead instead of a treatment
    # Names and things that hold a symptom word ("Blue Cross", "red wine", "the white paper"): taken out
    # of every turn before red-flag matching and symptom reading.
    everyday: list[Word] = Field(default_factory=list)
    cosmetic: list[Word] = Field(default_factory=list)  # a look asked about, not a sign: only with no treatment known

    @model_validator(mode="after")
    def _sets(self) -> Safety:
        for i, group in enumerate(self.synonyms):
            if len(group) < 2:
                raise ValueError(f"synonyms.{i}: a synonym set needs at least two phrases (the first names the set)")
        return self


class Aftercare(_M):
    had: list[Word] = Field(min_length=1)
    cues: list[Word] = Field(default_factory=list)
    recent: list[Word] = Field(min_length=1)
    past_only: list[Word] = Field(default_factory=list)  # times that can only be past ("last week")
    future: list[Word] = Field(default_factory=list)  # a time ahead: a booking, not aftercare
    booking: list[Word] = Field(default_factory=list)  # words that make the next time a booking preference
    elsewhere: list[Word] = Field(default_factory=list)  # treated somewhere else: history, not our aftercare
    max_days: int = Field(42, ge=1, le=365)
    appointment: list[Word] = Field(min_length=1)  # "since my appointment": a visit, the treatment unnamed
    days_ago: dict[Word, int] = Field(default_factory=dict)  # a recent time with no date: how many days back
    clause_breaks: list[Word] = Field(default_factory=list)  # words that end a clause (besides punctuation)


class Guard(_M):
    clinical: list[Word] = Field(min_length=1)  # a trailing * matches any ending


class Lexicon(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)

    language: Annotated[str, StringConstraints(pattern=r"^[a-z]{2}(-[A-Z]{2})?$")]
    safety: Safety
    aftercare: Aftercare
    guard: Guard

    @property
    def sections(self) -> dict[str, Any]:
        """Every top-level section, including those owned by other parts of the appliance."""
        return {**(self.model_extra or {}), "safety": self.safety, "aftercare": self.aftercare, "guard": self.guard}


def _problems(err: ValidationError, located: LocatedYaml, rel: str) -> list[str]:
    out = []
    for e in err.errors():
        loc = tuple(e["loc"])
        while loc and loc not in located.lines and loc[:-1] in located.lines and e["type"] != "missing":
            loc = loc[:-1]
        key = ".".join(str(p) for p in loc) or "(top level)"
        out.append(f"{rel}:{located.line_of(loc) or '?'}: {key}: {e['msg']}")
    return out


def load_file(path: Path) -> Lexicon:
    """Load and check one lexicon file; LexiconError (file, line, fix) when it is not valid."""
    fix = f"correct {path.name} at the line shown (see the comments at the top of the file), then restart"
    try:
        located = load_located(path)
    except YamlProblem as e:
        raise LexiconError(f"{path}: the lexicon is not valid", problems=[f"{path.name}:{e.line or '?'}: {e.message}"],
                           fix=fix) from e
    if not isinstance(located.data, dict):
        raise LexiconError(f"{path}: the lexicon is not valid",
                           problems=[f"{path.name}:1: expected a mapping of sections"], fix=fix)
    try:
        return Lexicon.model_validate(located.data)
    except ValidationError as e:
        raise LexiconError(f"{path}: the lexicon is not valid", problems=_problems(e, located, path.name),
                           fix=fix) from e


@lru_cache(maxsize=8)
def load_lexicon(language: str = "en") -> Lexicon:
    """The shipped lexicon of a language (cached; the file is read once per process)."""
    path = LEXICON_DIR / f"{language}.yaml"
    if not path.is_file():
        raise LexiconError(f"no lexicon for language {language!r}",
                           fix=f"add {path} (copy en.yaml and translate its phrases)")
    return load_file(path)
