"""The clinical-content guard: generated text may be small talk only.

Any sentence the language model produces is checked before it is spoken: if it touches
clinical ground (symptoms, medication, doses, reassurance such as "that's normal", advice) and
is not, verbatim, an approved pack sentence, it is rejected and an approved line is used instead.
"""

from __future__ import annotations

import re
from collections.abc import Set

_CLINICAL = re.compile(
    r"\b(normal|safe|unsafe|fine to|should|shouldn't|must|recommend|advice|advise|dose|dosage|units?|syringes?|"
    r"mg|ml|medication|medicine|drug|pill|tablet|ibuprofen|advil|tylenol|acetaminophen|aspirin|arnica|antibiotic|"
    r"steroid|hyaluronidase|cream|ointment|ice|compress|massage|swell\w*|bruis\w*|pain\w*|sore|infect\w*|fever|"
    r"red(ness)?|rash|blister\w*|vision|blind\w*|symptom\w*|side effects?|reaction|complication\w*|heal\w*|"
    r"pregnan\w*|breastfeed\w*|allerg\w*|botox|dysport|xeomin|filler|laser|peel|microneedl\w*|treat\w*|"
    r"diagnos\w*|emergency|911|doctor|nurse|worry|worried|nothing to worry|expected|common|typical|usually|"
    r"go away|resolve|subside|improve|get better|wait and see)\b", re.IGNORECASE)


def clinical_terms(text: str) -> list[str]:
    return [m.group(0).lower() for m in _CLINICAL.finditer(text)]


def allowed(text: str, approved: Set[str]) -> bool:
    """True if `text` may be spoken: an approved sentence verbatim, or free of clinical content."""
    stripped = text.strip()
    if not stripped:
        return False
    if stripped in approved:
        return True
    return not clinical_terms(stripped)
