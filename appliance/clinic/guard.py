"""The clinical-content guard: generated text may be small talk only.

Any sentence the language model produces is checked before it is spoken: if it touches
clinical ground (symptoms, medication, doses, reassurance such as "that's normal", advice) and
is not, verbatim, an approved pack sentence, it is rejected and an approved line is used instead.
The words that make a sentence clinical are the language's lexicon's (`guard.clinical`).
"""

from __future__ import annotations

import re
from collections.abc import Set
from functools import lru_cache

from appliance.clinic.lexicon import load_lexicon


@lru_cache(maxsize=4)
def _clinical(language: str) -> re.Pattern[str]:
    terms = sorted(load_lexicon(language).guard.clinical, key=len, reverse=True)
    alternatives = (re.escape(t[:-1]) + r"\w*" if t.endswith("*") else re.escape(t) for t in terms)
    return re.compile(r"\b(?:" + "|".join(alternatives) + r")\b", re.IGNORECASE)


def clinical_terms(text: str, language: str = "en") -> list[str]:
    return [m.group(0).lower() for m in _clinical(language).finditer(text)]


def allowed(text: str, approved: Set[str], language: str = "en") -> bool:
    """True if `text` may be spoken: an approved sentence verbatim, or free of clinical content."""
    stripped = text.strip()
    if not stripped:
        return False
    if stripped in approved:
        return True
    return not clinical_terms(stripped, language)
