"""What a clinician hears before the conversation's own warm transfer connects a patient.

PHI-minimal by construction: the severity and the kind of concern in a word or two, never who
or why in detail. The voice session speaks it (`VoiceSession(..., brief=transfer_brief)`); the
pager's own page texts (`appliance.staff.paging`) word the concern with the same `topic`.
"""

from __future__ import annotations


def topic(category: str) -> str:
    """The kind of concern in a word or two: a procedure family ("filler") or a red flag's category."""
    return category.split("-")[0].replace("_", " ").strip() or "patient"


def transfer_brief(severity: str, category: str) -> str:
    """What the clinician hears before a warm transfer from the conversation connects the patient."""
    return f"{severity} {topic(category)} concern, connecting the patient now."
