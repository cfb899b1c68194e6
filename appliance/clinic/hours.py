"""The opening-hours answer, computed from clinic.yaml (`hours`, `holidays`) into the pack's
approved wording (facts.yaml, the `hours` topic). Pure: `today` comes in.

"We're open Monday to Wednesday, 9 AM to 6 PM; Thursday, 9 AM to 7 PM; Saturday, 10 AM to 2 PM.
We're closed on Sunday. We're also closed on Christmas Day, Thursday, December 25."
Days with the same hours in a row share one span; holidays are named when they fall within the
wording's `ahead_days`, or when the caller names them ("are you open on Christmas?").
"""

from __future__ import annotations

import calendar
import re
from datetime import date, time, timedelta

from appliance.clinic.facts_schema import Fact
from appliance.clinic.parsers import normalize
from appliance.clinic.schema import Clinic, Holiday, Weekday

DAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def clock(value: str) -> str:
    """"09:00" -> "9 AM", "17:30" -> "5:30 PM" (the booking lines' way of saying a time)."""
    t = time.fromisoformat(value)
    hour = t.hour % 12 or 12
    return f"{hour}{f':{t.minute:02d}' if t.minute else ''} {'AM' if t.hour < 12 else 'PM'}"


def spoken_date(d: date) -> str:
    return f"{calendar.day_name[d.weekday()]}, {calendar.month_name[d.month]} {d.day}"


def weekly_runs(clinic: Clinic) -> tuple[list[tuple[int, int, str]], list[int]]:
    """Runs of consecutive open days with the same hours (first, last, span), and the closed days."""
    runs: list[tuple[int, int, str]] = []
    closed: list[int] = []
    for i, day in enumerate(DAYS):
        span = clinic.hours.get(day, "closed")
        if span == "closed":
            closed.append(i)
        elif runs and runs[-1][2] == span and runs[-1][1] == i - 1:
            runs[-1] = (runs[-1][0], i, span)
        else:
            runs.append((i, i, span))
    return runs, closed


def holidays_to_name(clinic: Clinic, today: date, ahead_days: int, text: str = "") -> list[Holiday]:
    said = _stems(text)
    out: list[Holiday] = []
    for h in sorted(clinic.holidays, key=lambda h: h.date):
        if h.date < today:
            continue
        soon = h.date <= today + timedelta(days=ahead_days)
        named = _stems(h.name) & said
        if soon or (named and all(normalize(x.name) != normalize(h.name) for x in out)):  # the next one only
            out.append(h)
    return out


def _stems(text: str) -> set[str]:
    """Words of four letters or more, without a final "'s" or "s" ("New Year's" = "new years")."""
    return {re.sub(r"'?s$", "", w) for w in re.findall(r"[a-z']+", normalize(text)) if len(w) >= 4}


def hours_answer(fact: Fact, clinic: Clinic, name: str, today: date, text: str = "") -> str:
    """The approved hours sentence for today's call (the fact must be the hours topic)."""
    wording = fact.hours
    assert wording is not None, "the hours topic carries its wording (validated with the pack)"
    runs, closed = weekly_runs(clinic)
    spans = []
    for first, last, span in runs:
        days = calendar.day_name[first] if first == last else wording.day_range.format(
            first=calendar.day_name[first], last=calendar.day_name[last])
        start, end = span.split("-")
        spans.append(wording.span.format(days=days, **{"from": clock(start), "to": clock(end)}))
    parts = [fact.answer.format(open="; ".join(spans), clinic=name)]
    if closed and wording.closed:
        parts.append(wording.closed.format(days=", ".join(calendar.day_name[i] for i in closed)))
    holidays = holidays_to_name(clinic, today, wording.ahead_days, text)
    if holidays and wording.holidays:
        parts.append(wording.holidays.format(holidays="; ".join(f"{h.name}, {spoken_date(h.date)}"
                                                                for h in holidays)))
    return " ".join(parts)
