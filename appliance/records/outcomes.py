"""Appointment outcomes, the pure part: matching a caller's name, checking what a change
names, and the rates the dashboard shows (no I/O; `appliance.records.appointments` stores).

Rates over a window's appointments (by slot start):

  confirmation_rate  confirmed / all not cancelled (booked, completed, no-show)
  cancellation_rate  cancelled / all
  no_show_rate       no-show / (completed + no-show)

A rate whose denominator is 0 is None ("no data"), never 0.
"""

from __future__ import annotations

from typing import Any

from appliance.records.errors import RecordsError

DEPOSIT_OUTCOMES = ("kept", "refunded", "none")
MARKS = {"completed": "appointment.arrived", "no-show": "appointment.no_show"}  # status -> outbox topic
COUNTS = ("total", "booked", "confirmed", "cancelled", "late_cancelled", "completed", "no_show")


def name_words(name: str | None) -> list[str]:
    """A name compared case- and whitespace-insensitively: its words, case-folded."""
    return (name or "").casefold().split()


def same_person_name(given: str | None, stored: str | None) -> bool:
    """Whether the name a caller gave names the stored patient: the full name is equal, or the
    first and last words are (a middle name said or left out). Empty names match nothing."""
    a, b = name_words(given), name_words(stored)
    if not a or not b:
        return False
    return a == b or (a[0] == b[0] and a[-1] == b[-1])


def check_deposit(deposit: str) -> str:
    if deposit not in DEPOSIT_OUTCOMES:
        raise RecordsError(f"unknown deposit outcome {deposit!r}",
                           fix=f"use one of: {', '.join(DEPOSIT_OUTCOMES)} (none: no deposit was taken)")
    return deposit


def check_mark(status: str) -> str:
    """The outbox topic for marking an appointment `status` (completed: the patient arrived)."""
    if status not in MARKS:
        raise RecordsError(f"an appointment cannot be marked {status!r}",
                           fix="mark it 'completed' (the patient arrived) or 'no-show'")
    return MARKS[status]


def _ratio(num: int, den: int) -> float | None:
    return None if den == 0 else num / den


def rates(counts: dict[str, int]) -> dict[str, Any]:
    """The counts of a window (`COUNTS`) with the three rates added."""
    c = {k: int(counts.get(k, 0)) for k in COUNTS}
    kept = c["total"] - c["cancelled"]
    return {**c,
            "confirmation_rate": _ratio(c["confirmed"], kept),
            "cancellation_rate": _ratio(c["cancelled"], c["total"]),
            "no_show_rate": _ratio(c["no_show"], c["completed"] + c["no_show"])}
