"""Rebooking logic from a workflow: touch-up window, recall, series (pure; today passed in)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from appliance.clinic.schema import Workflow


@dataclass(frozen=True)
class Window:
    kind: str  # "touch-up" | "review" | "series" | "recall"
    earliest: date
    latest: date | None
    line: str  # dialogue key explaining it: touch_up_intro | touch_up_too_late | series_next


def follow_up(workflow: Workflow, treated_on: date | None, today: date, session: int | None = None) -> Window:
    """The follow-up a returning caller asks for ("a touch-up", "my next session")."""
    rb = workflow.rebooking
    if treated_on is None:
        return Window("review", today, None, "touch_up_too_late")
    if rb.touch_up is not None:
        start = treated_on + timedelta(days=rb.touch_up.from_day)
        end = treated_on + timedelta(days=rb.touch_up.to_day)
        if today > end:
            return Window("review", today, None, "touch_up_too_late")
        return Window("touch-up", max(start, today), end, "touch_up_intro")
    if rb.series is not None and (session is None or session < rb.series.sessions):
        return Window("series", max(today, treated_on + timedelta(days=rb.series.interval_days)), None, "series_next")
    return Window("review", today, None, "touch_up_too_late")


def recall_from(workflow: Workflow, treated_on: date | None, today: date) -> date:
    """Earliest date for the next maintenance treatment (3-month neuromodulator, 6-month filler recall)."""
    days = workflow.rebooking.recall_days
    if treated_on is None or days is None:
        return today
    return max(today, treated_on + timedelta(days=days))
