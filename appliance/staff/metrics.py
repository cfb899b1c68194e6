"""Workflow-quality metrics (the clinic's follow-up quality measures), as aggregates with no PHI:
the value over the window, one value per week for the charts, and the value for each procedure
family (filler, neuromodulator, laser, peel, microneedling), each with its definition. Every
figure is computed from stored rows (`records.quality.workflow_quality_rows`); `DEFINITIONS` is what
the dashboard shows beside it.

Appointment outcomes over the last `OUTCOME_DAYS` days (by start time; the record store counts
them, `records.appointments.appointment_rates`; `appointment_cards` only shapes them):

  confirmation_rate      confirmed / appointments not cancelled
  cancellation_rate      cancelled / all appointments (late cancellations counted beside it)
  no_show_rate           no-shows / (arrived + no-shows)
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

WEEK_S = 7 * 86400
DAY_S = 86400
WEEKS = 8
OUTCOME_DAYS = 30
FAMILIES = ("filler", "neuromodulator", "laser", "peel", "microneedling")
DEFAULT_REBOOK_DAYS = 90  # a workflow whose rebooking section names no period

Rows = dict[str, list[dict[str, Any]]]
TS = {"aftercare": "treated_at", "calls": "started_at", "escalations": "created_at", "summaries": "reviewed_at"}

DEFINITIONS: dict[str, str] = {
    "instruction_delivery": "Aftercare plans (treatments in the window) whose approved aftercare instructions were "
                            "delivered on a check-in call, out of all plans.",
    "patient_response": "Of the plans whose instructions were delivered, those whose patient answered a check-in call.",
    "escalation_rate": "Escalations raised on calls about the procedure, per call about it (calls started in the "
                       "window).",
    "time_to_staff_review": "Median minutes from an escalation being raised to a staff member acknowledging it "
                            "(acknowledged escalations raised in the window).",
    "repeat_contacts": "Patients (or caller numbers) with more than one call in the window, out of all who called.",
    "review_completion": "Review requests made (after a 4 or 5 on the last check-in with nothing raised) whose "
                         "review the patient left, by their own words on a later call or the clinic's review "
                         "system calling back, out of all review requests made.",
    "series_completion": "Plans of multi-session treatments whose every session is done, out of all such plans.",
    "rebooking": "Plans whose patient has a booking made after the treatment and within the workflow's rebooking "
                 "window (the longest of its recall, touch-up and series interval, in days), by any path: inbound "
                 "call, aftercare call, console, import or calendar; cancelled bookings do not count.",
    "satisfaction": "Mean of the satisfaction scores (1-5) patients gave, over plans with a score.",
    "staff_correction_rate": "Summaries reviewed in the window that staff corrected (one change or more), out of "
                             "all reviewed summaries.",
}


@dataclass(frozen=True)
class Families:
    """Which procedure family a stored procedure name belongs to, and its rebooking window in
    days: from the pack's workflows (by workflow id, by treatment id, by family name)."""

    by_name: dict[str, tuple[str, int]] = field(default_factory=dict)

    @classmethod
    def of(cls, pack: Any) -> Families:
        out: dict[str, tuple[str, int]] = {}
        per_family: dict[str, int] = {}
        for wf in pack.workflows.values():
            r = wf.rebooking
            spans = [d for d in (r.recall_days, r.touch_up.to_day if r.touch_up else None,
                                 r.series.interval_days if r.series else None) if d]
            days = max(spans) if spans else DEFAULT_REBOOK_DAYS
            out[wf.id] = (wf.family, days)
            per_family[wf.family] = max(per_family.get(wf.family, 0), days)
        for t in pack.menu.treatments:
            out[t.id] = out.get(t.workflow, (t.family, per_family.get(t.family, DEFAULT_REBOOK_DAYS)))
        for fam, days in per_family.items():
            out.setdefault(fam, (fam, days))
        return cls(out)

    def family(self, name: str | None) -> str | None:
        if not name:
            return None
        hit = self.by_name.get(name)
        return hit[0] if hit else (name if name in FAMILIES else None)

    def rebook_days(self, name: str | None) -> int:
        hit = self.by_name.get(name or "")
        return hit[1] if hit else DEFAULT_REBOOK_DAYS


def _ratio(num: int, den: int) -> float | None:
    return None if den == 0 else num / den


def _median_ack_minutes(rows: list[dict[str, Any]]) -> float | None:
    waits = [(r["acknowledged_at"] - r["created_at"]) / 60 for r in rows if r.get("acknowledged_at") is not None]
    return statistics.median(waits) if waits else None


def _repeat(rows: list[dict[str, Any]]) -> float | None:
    counts = Counter(r["patient_ref"] for r in rows if r.get("patient_ref"))
    return _ratio(sum(1 for n in counts.values() if n > 1), len(counts))


def _mean_satisfaction(rows: list[dict[str, Any]]) -> float | None:
    scores = [r["satisfaction"] for r in rows if r.get("satisfaction") is not None]
    return statistics.fmean(scores) if scores else None


def _delivered(d: Rows) -> float | None:
    return _ratio(sum(bool(r["instructions_delivered"]) for r in d["aftercare"]), len(d["aftercare"]))


def _responded(d: Rows) -> float | None:
    sent = [r for r in d["aftercare"] if r["instructions_delivered"]]
    return _ratio(sum(bool(r["patient_responded"]) for r in sent), len(sent))


def _reviews(d: Rows) -> float | None:
    asked = [r for r in d["aftercare"] if r["review_requested"]]
    return _ratio(sum(bool(r["review_done"]) for r in asked), len(asked))


def _series(d: Rows) -> float | None:
    series = [r for r in d["aftercare"] if (r.get("series_total") or 0) > 1]
    return _ratio(sum(1 for r in series if r["series_done"] >= r["series_total"]), len(series))


MEASURES: list[tuple[str, str, str, Callable[[Rows], float | None]]] = [
    ("instruction_delivery", "Instruction delivery", "%", _delivered),
    ("patient_response", "Patient response", "%", _responded),
    ("escalation_rate", "Escalation rate", "%", lambda d: _ratio(len(d["escalations"]), len(d["calls"]))),
    ("time_to_staff_review", "Time to staff review", "min", lambda d: _median_ack_minutes(d["escalations"])),
    ("repeat_contacts", "Repeat contacts", "%", lambda d: _repeat(d["calls"])),
    ("review_completion", "Review completion", "%", _reviews),
    ("series_completion", "Treatment-series completion", "%", _series),
    ("rebooking", "Rebooking", "%", lambda d: _ratio(sum(r["rebooked"] for r in d["aftercare"]), len(d["aftercare"]))),
    ("satisfaction", "Patient satisfaction", "/5", lambda d: _mean_satisfaction(d["aftercare"])),
    ("staff_correction_rate", "Staff correction rate", "%",
     lambda d: _ratio(sum(1 for r in d["summaries"] if r["corrections"] > 0), len(d["summaries"]))),
]


def _prepare(rows: Rows, families: Families) -> Rows:
    """Each row gets its family; plans get `rebooked` (a booking within the workflow's window)."""
    out: Rows = {k: [] for k in TS}
    for kind, items in rows.items():
        for r in items:
            r = dict(r)
            name = r.get("workflow") or r.get("procedure")
            r["family"] = families.family(name) or families.family(r.get("procedure"))
            if kind == "aftercare":
                nxt, days = r.get("next_booking_at"), families.rebook_days(name)
                r["rebooked"] = int(nxt is not None and nxt - r["treated_at"] <= days * DAY_S)
            out.setdefault(kind, []).append(r)
    return out


def _where(d: Rows, keep: Callable[[str, dict[str, Any]], bool]) -> Rows:
    return {k: [r for r in v if keep(k, r)] for k, v in d.items()}


def _of_family(family: str) -> Callable[[str, dict[str, Any]], bool]:
    return lambda _kind, row: bool(row["family"] == family)


def compute_metrics(rows: Rows, now: float, weeks: int = WEEKS, families: Families | None = None) -> dict[str, Any]:
    """Pure: the rows of the window (times in Unix seconds, see `records.quality.workflow_quality_rows`)
    to measures: overall, per week and per procedure family, each with its definition."""
    d = _prepare(rows, families or Families())
    start = now - weeks * WEEK_S

    def week(i: int) -> Rows:
        lo, hi = start + i * WEEK_S, start + (i + 1) * WEEK_S
        last = i == weeks - 1
        return _where(d, lambda k, r: r.get(TS[k]) is not None and lo <= r[TS[k]] and (r[TS[k]] < hi or last)
                      and r[TS[k]] <= now)

    in_window = _where(d, lambda k, r: r.get(TS[k]) is not None and start <= r[TS[k]] <= now)
    weekly = [week(i) for i in range(weeks)]
    per_family = {f: _where(in_window, _of_family(f)) for f in FAMILIES}
    return {"window_weeks": weeks, "now": now, "families": list(FAMILIES),
            "counts": {"calls": len(in_window["calls"]), "escalations": len(in_window["escalations"]),
                       "aftercare": len(in_window["aftercare"]), "reviewed_summaries": len(in_window["summaries"])},
            "metrics": [{"key": k, "label": label, "unit": unit, "definition": DEFINITIONS[k], "value": fn(in_window),
                         "weekly": [fn(w) for w in weekly], "by_family": {f: fn(v) for f, v in per_family.items()}}
                        for k, label, unit, fn in MEASURES]}


def appointment_cards(rates: dict[str, Any]) -> list[dict[str, Any]]:
    """Pure: the store's appointment counts and rates to the dashboard's three cards (each with
    a line saying what the figure is made of)."""
    kept = rates["total"] - rates["cancelled"]
    return [
        {"key": "confirmation_rate", "label": "Confirmation rate", "unit": "%", "value": rates["confirmation_rate"],
         "note": f"{rates['confirmed']} of {kept} appointments not cancelled were confirmed"},
        {"key": "cancellation_rate", "label": "Cancellation rate", "unit": "%", "value": rates["cancellation_rate"],
         "note": f"{rates['cancelled']} of {rates['total']} appointments cancelled, {rates['late_cancelled']} late"},
        {"key": "no_show_rate", "label": "No-show rate", "unit": "%", "value": rates["no_show_rate"],
         "note": f"{rates['no_show']} no-shows, {rates['completed']} arrived"},
    ]


def display(value: float | None, unit: str) -> str:
    if value is None:
        return "no data"
    if unit == "%":
        return f"{value * 100:.0f}%"
    if unit == "min":
        return f"{value:.0f} min"
    return f"{value:.1f}{unit}"
