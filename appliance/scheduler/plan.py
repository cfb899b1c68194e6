"""Which outbound contacts a recorded treatment gets, from the pack's workflow (pure).

  check-in   every workflow check-in from day 1 on (day 0 is the visit itself)
  review     a reminder shortly before the workflow's review window opens
  touch-up   an offer when the touch-up window opens (about two weeks for injectables)
  recall     the maintenance recall (3 months neuromodulator, 6 months filler: `recall_days`)
  series     the next session of a laser / peel / microneedling series, until it is complete

At most one call within `merge_days`: when two contacts fall that close, the higher-priority
one stays (a check-in already reminds the review and offers booking when there is no concern).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from appliance.clinic.schema import Workflow

KINDS = ("check-in", "touch-up", "series", "review", "recall")  # priority order
EXPIRY_DAYS = {"check-in": 2, "touch-up": 5, "review": 5, "series": 14, "recall": 21}


@dataclass(frozen=True)
class PlanRules:
    review_lead_days: int = 2  # remind this many days before the review window opens
    series_lead_days: int = 3  # remind this many days before the next session is due
    recall_lead_days: int = 7  # recall this many days before maintenance is due
    call_from: time = time(10, 0)  # the clinic-local time of day a contact first becomes due
    merge_days: int = 2  # contacts closer than this collapse into the higher-priority one


@dataclass(frozen=True)
class PlannedContact:
    kind: str
    day: int  # days after treatment
    item: str | None  # the pack item behind it (check-in id), for provenance
    due_on: date

    def due_local(self, rules: PlanRules) -> datetime:
        """Naive clinic-local datetime; the store attaches the clinic time zone."""
        return datetime.combine(self.due_on, rules.call_from)

    @property
    def expires_on(self) -> date:
        return self.due_on + timedelta(days=EXPIRY_DAYS[self.kind])


def plan_contacts(workflow: Workflow, treated_on: date, *, session: int | None = None,
                  rules: PlanRules | None = None) -> list[PlannedContact]:
    rules = rules or PlanRules()
    wanted: list[tuple[str, int, str | None]] = []
    for ci in workflow.check_ins:
        if ci.day >= 1:
            wanted.append(("check-in", ci.day, ci.id))
    rb = workflow.rebooking
    if rb.touch_up is not None:
        wanted.append(("touch-up", max(1, rb.touch_up.from_day), None))
    wanted.append(("review", max(1, workflow.review_window.from_day - rules.review_lead_days), None))
    if rb.recall_days is not None:
        wanted.append(("recall", max(1, rb.recall_days - rules.recall_lead_days), None))
    if rb.series is not None and (session or 1) < rb.series.sessions:
        wanted.append(("series", max(1, rb.series.interval_days - rules.series_lead_days), None))
    kept: list[tuple[str, int, str | None]] = []
    for kind, day, item in sorted(wanted, key=lambda x: (KINDS.index(x[0]), x[1])):
        if kind == "check-in" or all(abs(day - d) > rules.merge_days for _, d, _ in kept):
            kept.append((kind, day, item))
    return [PlannedContact(kind, day, item, treated_on + timedelta(days=day))
            for kind, day, item in sorted(kept, key=lambda x: x[1])]
