"""After hours: is the clinic open at `now`, who is on call, and what call-back time to promise.

Pure: the clinic's local wall-clock time (naive, the engine's `now`) comes in; no clock, no I/O.
Opening hours and holidays are clinic.yaml's `hours` and `holidays` (the same ones the hours
answer reads, `appliance.clinic.hours`); the on-call list outside them is clinic.yaml's optional
`after_hours.on_call`.

- Open: a day that is not a holiday, from the start of its span up to (not including) its end.
- A closed stretch (evening, night, weekend, holiday) is named by the day it starts on, the
  day of the last closing time: 2 a.m. on Wednesday is Tuesday night; Sunday afternoon, after a
  Saturday that closes at 2 p.m., is Saturday night. An on-call entry with `nights` covers
  only the stretches that start on those days; without `nights`, every closed stretch.
- The promise: during opening hours the pack's usual times (`within 15 minutes`, `within 24
  hours`). Outside them an urgent call-back stays in minutes only when an on-call clinician
  is listed for that time; anything else is promised for the next opening time ("first thing
  tomorrow at 9 AM").
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from appliance.clinic.hours import DAYS, clock
from appliance.clinic.schema import AfterHoursOnCall, Clinic

_LOOK_DAYS = 400  # the furthest ahead (or back) an opening is looked for: a year of holidays and more


@dataclass(frozen=True)
class Target:
    """One person of a paging chain: what the PBX dials, and whether a patient may be put through."""

    provider: str
    dial: str  # an extension, or an external number as +digits (the request-URI user at the PBX)
    transfers: bool
    external: bool = False  # a number through the PBX trunk (no SIP MESSAGE text page)


@dataclass(frozen=True)
class Promise:
    when: str  # what the caller hears: "within 15 minutes", "first thing tomorrow at 9 AM"
    record: str  # what the call's record keeps: "within 15 minutes", or the ISO time of the opening
    after_hours: bool


def _span(clinic: Clinic, d: date) -> tuple[datetime, datetime] | None:
    """The day's opening span, or None when the clinic is closed all day (weekly or a holiday)."""
    if any(h.date == d for h in clinic.holidays):
        return None
    span = clinic.hours.get(DAYS[d.weekday()], "closed")
    if span == "closed":
        return None
    start, end = span.split("-")
    return datetime.combine(d, time.fromisoformat(start)), datetime.combine(d, time.fromisoformat(end))


def is_open(clinic: Clinic, now: datetime) -> bool:
    span = _span(clinic, now.date())
    return span is not None and span[0] <= now < span[1]


def next_opening(clinic: Clinic, now: datetime) -> datetime | None:
    """The first opening time after `now` (None: the clinic never opens again within a year)."""
    for i in range(_LOOK_DAYS):
        span = _span(clinic, now.date() + timedelta(days=i))
        if span is not None and span[0] > now:
            return span[0]
    return None


def closed_since(clinic: Clinic, now: datetime) -> datetime | None:
    """The last closing time at or before `now` (the start of the closed stretch `now` is in)."""
    for i in range(_LOOK_DAYS):
        span = _span(clinic, now.date() - timedelta(days=i))
        if span is not None and span[1] <= now:
            return span[1]
    return None


def night_of(clinic: Clinic, now: datetime) -> str:
    """The day ("mon" ... "sun") that names the closed stretch `now` is in."""
    since = closed_since(clinic, now)
    return DAYS[(since or now).weekday()]


def on_call_at(clinic: Clinic, now: datetime) -> list[AfterHoursOnCall]:
    """The after-hours on-call entries that cover `now`, in order (none while the clinic is open)."""
    if clinic.after_hours is None or is_open(clinic, now):
        return []
    night = night_of(clinic, now)
    return [oc for oc in clinic.after_hours.on_call if oc.nights is None or night in oc.nights]


def dial_string(number: str) -> str:
    """"+1 555 0199" -> "+15550199": what the PBX is asked to dial (spaces, dashes, dots, brackets go)."""
    return re.sub(r"[^0-9+]", "", number)


def paging_chain(clinic: Clinic, now: datetime) -> tuple[Target, ...]:
    """Who is paged, in order: the daytime on-call chain while the clinic is open (or when the
    pack lists no after-hours on-call), else the after-hours entries that cover `now` (maybe none)."""
    if clinic.after_hours is None or is_open(clinic, now):
        return tuple(Target(oc.provider, oc.extension, True) for oc in clinic.on_call)
    return tuple(Target(oc.provider, oc.extension or dial_string(oc.number or ""), oc.transfers,
                        external=oc.extension is None) for oc in on_call_at(clinic, now))


def transfer_target(clinic: Clinic, now: datetime) -> str | None:
    """Where the conversation puts a patient through for a red flag: the daytime NP extension
    while open (or with no after-hours list), else the first covering entry with `transfers: true`
    (None: nobody can take the patient now; the page still goes out)."""
    if clinic.after_hours is None or is_open(clinic, now):
        return clinic.on_call[0].extension
    return next((t.dial for t in paging_chain(clinic, now) if t.transfers), None)


def spoken_time(now: datetime, at: datetime) -> str:
    """"this morning at 9 AM", "tomorrow at 9 AM", "on Monday at 9 AM", "on Friday, December 26, at 9 AM"."""
    days = (at.date() - now.date()).days
    hour = clock(at.strftime("%H:%M"))
    if days == 0:
        return f"this morning at {hour}" if at.hour < 12 else f"today at {hour}"
    if days == 1:
        return f"tomorrow at {hour}"
    name = calendar.day_name[at.weekday()]
    if days < 7:
        return f"on {name} at {hour}"
    return f"on {name}, {calendar.month_name[at.month]} {at.day}, at {hour}"


def opening_spoken(clinic: Clinic, now: datetime) -> str | None:
    """When the clinic opens again, as the greeting says it (None: no opening within a year)."""
    at = next_opening(clinic, now)
    return spoken_time(now, at) if at is not None else None


def promise(clinic: Clinic, now: datetime, *, urgent: bool, minutes: int, hours: int) -> Promise:
    """The call-back time the caller is promised at `now`."""
    if is_open(clinic, now):
        text = f"within {minutes} minutes" if urgent else f"within {hours} hours"
        return Promise(text, text, after_hours=False)
    if urgent and on_call_at(clinic, now):
        text = f"within {minutes} minutes"
        return Promise(text, text, after_hours=True)
    at = next_opening(clinic, now)
    if at is None:  # a pack that never opens: the protocol's own time, not an invented opening
        text = f"within {minutes} minutes" if urgent else f"within {hours} hours"
        return Promise(text, text, after_hours=True)
    spoken = spoken_time(now, at)
    if at.hour < 12:
        spoken = "first thing " + spoken.removeprefix("on ")
    return Promise(spoken, at.isoformat(timespec="minutes"), after_hours=True)
