"""Workflow-quality metrics (the clinic's follow-up quality measures), as aggregates with no PHI:
the current value over the window and one value per week for the charts.

  instruction_delivery   aftercare patients whose approved instructions were delivered
  patient_response       of those, patients who responded to the check-in
  escalation_rate        escalations per call
  time_to_staff_review   median minutes from escalation to a staff acknowledgement
  repeat_contacts        patients who called more than once
  review_completion      review appointments due that were completed
  series_completion      multi-session treatment series completed
  rebooking              aftercare patients who rebooked
  satisfaction           mean patient satisfaction (1-5)
  staff_correction_rate  reviewed AI summaries that staff corrected

Appointment outcomes over the last `OUTCOME_DAYS` days (by start time; the record store counts
them, `Records.appointment_rates`; `appointment_cards` only shapes them):

  confirmation_rate      confirmed / appointments not cancelled
  cancellation_rate      cancelled / all appointments (late cancellations counted beside it)
  no_show_rate           no-shows / (arrived + no-shows)
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

WEEK_S = 7 * 86400
WEEKS = 8
OUTCOME_DAYS = 30


def _ratio(num: int, den: int) -> float | None:
    return None if den == 0 else num / den


def _weekly(rows: Iterable[dict[str, Any]], ts: str, now: float, fn: Callable[[list[dict[str, Any]]], float | None],
            weeks: int = WEEKS) -> list[float | None]:
    buckets: list[list[dict[str, Any]]] = [[] for _ in range(weeks)]
    start = now - weeks * WEEK_S
    for r in rows:
        t = r.get(ts)
        if t is not None and start <= t <= now:
            buckets[min(weeks - 1, int((t - start) // WEEK_S))].append(r)
    return [fn(b) for b in buckets]


def _median_ack_minutes(rows: list[dict[str, Any]]) -> float | None:
    waits = [(r["acknowledged_at"] - r["created_at"]) / 60 for r in rows if r.get("acknowledged_at") is not None]
    return statistics.median(waits) if waits else None


def _repeat(rows: list[dict[str, Any]]) -> float | None:
    counts = Counter(r["patient_ref"] for r in rows if r.get("patient_ref"))
    return _ratio(sum(1 for n in counts.values() if n > 1), len(counts))


def _mean_satisfaction(rows: list[dict[str, Any]]) -> float | None:
    scores = [r["satisfaction"] for r in rows if r.get("satisfaction") is not None]
    return statistics.fmean(scores) if scores else None


def compute_metrics(rows: dict[str, list[dict[str, Any]]], now: float, weeks: int = WEEKS) -> dict[str, Any]:
    """Pure: the rows of the window (times in Unix seconds, see `Records.quality_rows`) to measures."""
    after, calls = rows["aftercare"], rows["calls"]
    escs, sums = rows["escalations"], rows["summaries"]
    due = [r for r in after if r.get("review_due_at") is not None and r["review_due_at"] <= now]
    series = [r for r in after if r["series_total"] > 1]

    def esc_rate(window_calls: list[dict[str, Any]], window_escs: list[dict[str, Any]]) -> float | None:
        return _ratio(len(window_escs), len(window_calls))

    calls_weekly = _weekly(calls, "started_at", now, lambda b: float(len(b)), weeks)
    escs_weekly = _weekly(escs, "created_at", now, lambda b: float(len(b)), weeks)
    specs: list[tuple[str, str, str, float | None, list[float | None]]] = [
        ("instruction_delivery", "Instruction delivery", "%",
         _ratio(sum(r["instructions_delivered"] for r in after), len(after)),
         _weekly(after, "treated_at", now, lambda b: _ratio(sum(r["instructions_delivered"] for r in b), len(b)), weeks)),
        ("patient_response", "Patient response", "%",
         _ratio(sum(r["patient_responded"] for r in after if r["instructions_delivered"]),
                sum(r["instructions_delivered"] for r in after)),
         _weekly(after, "treated_at", now, lambda b: _ratio(sum(r["patient_responded"] for r in b if r["instructions_delivered"]),
                                                              sum(r["instructions_delivered"] for r in b)), weeks)),
        ("escalation_rate", "Escalation rate", "%", esc_rate(calls, escs),
         [None if not c else (e or 0.0) / c for c, e in zip(calls_weekly, escs_weekly, strict=True)]),
        ("time_to_staff_review", "Time to staff review", "min", _median_ack_minutes(escs),
         _weekly(escs, "created_at", now, _median_ack_minutes, weeks)),
        ("repeat_contacts", "Repeat contacts", "%", _repeat(calls), _weekly(calls, "started_at", now, _repeat, weeks)),
        ("review_completion", "Review completion", "%", _ratio(sum(r["review_done"] for r in due), len(due)),
         _weekly(due, "review_due_at", now, lambda b: _ratio(sum(r["review_done"] for r in b), len(b)), weeks)),
        ("series_completion", "Treatment-series completion", "%",
         _ratio(sum(1 for r in series if r["series_done"] >= r["series_total"]), len(series)),
         _weekly(series, "treated_at", now,
                 lambda b: _ratio(sum(1 for r in b if r["series_done"] >= r["series_total"]), len(b)), weeks)),
        ("rebooking", "Rebooking", "%", _ratio(sum(r["rebooked"] for r in after), len(after)),
         _weekly(after, "treated_at", now, lambda b: _ratio(sum(r["rebooked"] for r in b), len(b)), weeks)),
        ("satisfaction", "Patient satisfaction", "/5", _mean_satisfaction(after),
         _weekly(after, "treated_at", now, _mean_satisfaction, weeks)),
        ("staff_correction_rate", "Staff correction rate", "%",
         _ratio(sum(1 for r in sums if r["corrections"] > 0), len(sums)),
         _weekly(sums, "reviewed_at", now, lambda b: _ratio(sum(1 for r in b if r["corrections"] > 0), len(b)), weeks)),
    ]
    return {"window_weeks": weeks, "now": now,
            "counts": {"calls": len(calls), "escalations": len(escs), "aftercare": len(after), "reviewed_summaries": len(sums)},
            "metrics": [{"key": k, "label": label, "unit": unit, "value": value, "weekly": weekly}
                        for k, label, unit, value, weekly in specs]}


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
