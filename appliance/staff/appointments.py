"""The console's Appointments page, the rendering: the past two days, today and the next seven
in the clinic's time zone, each appointment's outcome, and for a booked appointment that is
due today or already past, the Arrived and No-show buttons (a form with the session's CSRF
token, handled in appliance.staff.pages). Pure: rows in, HTML out (times in Unix seconds)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from appliance.staff.auth import Session, allowed
from appliance.staff.html import csrf_field, e, table
from appliance.staff.metrics import display

PAST_DAYS = 2
AHEAD_DAYS = 7
HEADERS = ["When", "Patient", "Procedure", "Provider", "Status", "Confirmed", "Cancellation", "Clinic calendar", ""]
# An appointment's place in the clinic's calendar (appliance.calsync); blank without calendar sync.
CALENDAR = {"unconfirmed": "unconfirmed (not yet in the calendar)", "confirmed": "in the calendar",
            "conflict": "refused: slot taken in the calendar", "removed": "removed from the calendar"}
STATUS = {"completed": "arrived", "no-show": "no-show", "booked": "booked", "cancelled": "cancelled"}


def _midnight(day: date, tz: ZoneInfo) -> float:
    return datetime.combine(day, time(0), tz).timestamp()


def window(now: float, tz: ZoneInfo) -> tuple[float, float, float]:
    """(start of the list, its end, the end of today) in Unix seconds: midnight two days ago,
    midnight after the seventh day ahead, midnight tonight, each in the clinic's time zone."""
    today = datetime.fromtimestamp(now, tz).date()
    return (_midnight(today - timedelta(days=PAST_DAYS), tz), _midnight(today + timedelta(days=AHEAD_DAYS + 1), tz),
            _midnight(today + timedelta(days=1), tz))


def _day_label(day: date, today: date) -> str:
    named = {0: "Today", -1: "Yesterday", 1: "Tomorrow"}.get((day - today).days)
    text = day.strftime("%a %d %b %Y")
    return f"{named} · {text}" if named else text


def _confirmed(r: dict[str, Any]) -> str:
    if r["confirmed_at"] is None:
        return "" if r["status"] == "cancelled" else "no"
    return f"yes ({e(r['confirmed_via'])})" if r["confirmed_via"] else "yes"


def _cancellation(r: dict[str, Any]) -> str:
    if r["status"] != "cancelled":
        return ""
    if r["cancel_late"] is None:  # cancelled before outcomes were recorded, or in the clinic's calendar
        return "not recorded"
    late = "late" if r["cancel_late"] else "with notice"
    return f"{late} · deposit {e(r['deposit_outcome'] or 'none')}"


def _status(r: dict[str, Any], tz: ZoneInfo) -> str:
    text = e(STATUS.get(r["status"], r["status"]))
    if r["marked_by"] and r["status"] in ("completed", "no-show"):
        at = datetime.fromtimestamp(r["marked_at"], tz).strftime("%H:%M") if r["marked_at"] is not None else ""
        text += f"<br><small>marked by {e(r['marked_by'])} {at}</small>"
    return text


def _actions(r: dict[str, Any], s: Session, today_end: float) -> str:
    if r["status"] != "booked" or r["starts_at"] >= today_end or not allowed(s.role, "appointments"):
        return ""
    return (f'<form method="post" action="/appointments/{r["id"]}/mark">{csrf_field(s)}'
            f'<button type="submit" name="status" value="completed">Arrived</button> '
            f'<button type="submit" name="status" value="no-show">No-show</button></form>')


def appointment_rows(rows: list[dict[str, Any]], s: Session, now: float, tz: ZoneInfo) -> str:
    """The table body: a heading row per day, then that day's appointments in time order."""
    _since, _until, today_end = window(now, tz)
    today = datetime.fromtimestamp(now, tz).date()
    out, day = [], None
    for r in sorted(rows, key=lambda r: (r["starts_at"], r["id"])):
        start = datetime.fromtimestamp(r["starts_at"], tz)
        if start.date() != day:
            day = start.date()
            out.append(f'<tr class="day"><th colspan="{len(HEADERS)}">{e(_day_label(day, today))}</th></tr>')
        out.append(
            f'<tr id="appt-{r["id"]}" data-status="{e(r["status"])}"><td>{start.strftime("%H:%M")}</td>'
            f'<td>{e(r["patient_label"])}</td><td>{e(r["procedure"])}</td><td>{e(r["provider"])}</td>'
            f'<td class="status">{_status(r, tz)}</td><td class="confirmed">{_confirmed(r)}</td>'
            f'<td class="cancellation">{_cancellation(r)}</td><td>{e(CALENDAR.get(r.get("calendar") or "", ""))}</td>'
            f'<td>{_actions(r, s, today_end)}</td></tr>')
    return "".join(out) or f'<tr><td colspan="{len(HEADERS)}">No appointments in these days.</td></tr>'


def appointments_body(rows: list[dict[str, Any]], s: Session, now: float, tz: ZoneInfo) -> str:
    intro = (f"<p>The past {PAST_DAYS} days, today and the next {AHEAD_DAYS} days; times in the clinic's time zone "
             f"({e(tz.key)}). Mark a patient who came <b>Arrived</b>, or a <b>No-show</b>.</p>")
    return intro + table(HEADERS, [appointment_rows(rows, s, now, tz)], "appt-body")


def outcome_cards(cards: list[dict[str, Any]]) -> str:
    """The dashboard's appointment-outcome cards (`appliance.staff.metrics.appointment_cards`)."""
    return "".join(f'<div class="card" id="metric-{e(c["key"])}"><h3>{e(c["label"])}</h3><div class="big">'
                   f'{e(display(c["value"], c["unit"]))}</div><small>{e(c["note"])}</small></div>' for c in cards)
