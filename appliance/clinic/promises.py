"""The conversation's call-back promises, computed from the clinic's schedule at the call's `now`.

Pure. During opening hours every line is the pack's usual one ("within 15 minutes"). Outside
them (evenings, nights, weekends, holidays) a line that promises a call-back time is replaced by
its after-hours variant from dialogue.yaml, with `{when}` computed by `appliance.clinic.after_hours`
("first thing tomorrow at 9 AM", or "within 15 minutes" while an on-call clinician is listed);
a pack without the variant keeps its usual line. Whatever was said is kept in the call's record
as `promised_callback` (an ISO time, or "within N minutes/hours").
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from appliance.clinic import after_hours
from appliance.clinic.schema import Clinic, Dialogue, DialogueKey

# the daytime line -> (its after-hours variant, whether the promise is an urgent one)
VARIANTS: dict[DialogueKey, tuple[DialogueKey, bool]] = {
    "concern_noted": ("concern_noted_at", False),
    "clinical_question_noted": ("clinical_question_noted_at", False),
    "complaint_noted": ("complaint_noted_at", False),
    "escalate_routine": ("escalate_routine_at", False),
    "escalate_urgent": ("escalate_urgent_after_hours", True),
    "transfer_failed": ("transfer_failed_at", True),
}
_DEFAULT_MINUTES, _DEFAULT_HOURS = 15, 24


class Promises:
    def __init__(self, clinic: Clinic, dialogue: Dialogue, now: datetime, slots: dict[str, Any]) -> None:
        self.clinic = clinic
        self.dialogue = dialogue
        self.now = now
        self.slots = slots  # the call's outcome slots: `promised_callback` is written there
        self.closed = not after_hours.is_open(clinic, now)

    def greeting(self) -> str | None:
        """When the clinic opens again, for `greeting_after_hours`; None while open (or no such line)."""
        if not self.closed or not self.dialogue.greeting_after_hours:
            return None
        return after_hours.opening_spoken(self.clinic, self.now)

    def line(self, key: DialogueKey, values: dict[str, object]) -> tuple[DialogueKey, dict[str, object]]:
        """The line to say for `key` and its values (with `when` for an after-hours variant)."""
        if key not in VARIANTS:
            return key, values
        variant, urgent = VARIANTS[key]
        minutes = int(str(values.get("minutes", _DEFAULT_MINUTES)))
        hours = int(str(values.get("hours", _DEFAULT_HOURS)))
        p = after_hours.promise(self.clinic, self.now, urgent=urgent, minutes=minutes, hours=hours)
        if p.after_hours and self.dialogue.text(variant):
            self.slots["promised_callback"] = p.record
            return variant, {**values, "when": p.when}
        self.slots["promised_callback"] = f"within {minutes} minutes" if urgent else f"within {hours} hours"
        return key, values

    def transfer_target(self, daytime: str) -> str | None:
        """The red-flag transfer target at this call's time (the daytime NP extension while open)."""
        if not self.closed or self.clinic.after_hours is None:
            return daytime
        return after_hours.transfer_target(self.clinic, self.now)
