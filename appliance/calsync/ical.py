"""iCalendar (RFC 5545) in and out: the VEVENT the appliance writes for an appointment, and the
busy times read from a calendar object resource.

Pure: no clock (the stamp and the window are passed in), no I/O. What is read from the clinic's
calendars is times only: the busy intervals and the UID; no summary, description, attendee or
location of another system's event is kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import icalendar
import recurring_ical_events

PRODID = "-//Clinic voice appliance//calendar sync//EN"

Interval = tuple[datetime, datetime]  # UTC-aware, start < end


@dataclass(frozen=True)
class EventText:
    """What the appliance puts in the clinic's calendar for one appointment."""

    uid: str
    start: datetime  # UTC-aware
    end: datetime
    summary: str
    description: str


@dataclass(frozen=True)
class RemoteEvent:
    """One calendar object resource as the appliance keeps it: times only."""

    href: str
    etag: str | None
    uid: str | None
    busy: tuple[Interval, ...]  # opaque, not cancelled, inside the window
    cancelled: bool  # STATUS:CANCELLED on the (first) event: it blocks nothing
    first: Interval | None  # the first occurrence's times (an appointment's own event has one)


def summary_for(*, phone: bool, patient_ref: str, name: str | None = None, procedure: str | None = None,
                details: bool = False) -> str:
    """The event's title: a reference only by default; name and procedure only when the clinic opts in."""
    head = "Appointment (booked by phone)" if phone else "Appointment (booked by the appliance)"
    if details and (name or procedure):
        return " - ".join(x for x in (head, name, procedure) if x)
    return f"{head} - patient {patient_ref}"


def _utc_text(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\r", "").replace("\n", "\\n")


def build_event(ev: EventText, stamp: datetime) -> str:
    """A VCALENDAR with one VEVENT, times in UTC (no VTIMEZONE needed), CRLF line ends."""
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", f"PRODID:{PRODID}", "CALSCALE:GREGORIAN", "BEGIN:VEVENT",
             f"UID:{ev.uid}", f"DTSTAMP:{_utc_text(stamp)}", f"DTSTART:{_utc_text(ev.start)}",
             f"DTEND:{_utc_text(ev.end)}", f"SUMMARY:{_escape(ev.summary)}",
             f"DESCRIPTION:{_escape(ev.description)}", "STATUS:CONFIRMED", "TRANSP:OPAQUE", "CLASS:PRIVATE",
             "END:VEVENT", "END:VCALENDAR"]
    return "".join(_fold(line) + "\r\n" for line in lines)


def _fold(line: str, width: int = 73) -> str:
    """RFC 5545 line folding (at most 75 octets a line; counted in characters here, kept short)."""
    if len(line) <= width:
        return line
    parts = [line[:width]] + [line[i:i + width - 1] for i in range(width, len(line), width - 1)]
    return "\r\n ".join(parts)


def _as_utc(value: date | datetime, tz: ZoneInfo) -> datetime:
    if isinstance(value, datetime):
        return (value.replace(tzinfo=tz) if value.tzinfo is None else value).astimezone(UTC)
    return datetime.combine(value, time(0), tzinfo=tz).astimezone(UTC)  # an all-day date: clinic midnight


def _interval(component: icalendar.Component, tz: ZoneInfo) -> Interval | None:
    start_prop = component.get("DTSTART")
    if start_prop is None:
        return None
    start = start_prop.dt
    end_prop = component.get("DTEND")
    if end_prop is not None:
        end = end_prop.dt
    elif (duration := component.get("DURATION")) is not None:
        end = start + duration.dt
    else:  # RFC 5545: a date lasts the day; a date-time without end or duration takes no time
        end = start + timedelta(days=1) if not isinstance(start, datetime) else start
    a, b = _as_utc(start, tz), _as_utc(end, tz)
    return (a, b) if a < b else None


def _blocks(component: icalendar.Component) -> bool:
    transp = str(component.get("TRANSP", "OPAQUE")).upper()
    status = str(component.get("STATUS", "")).upper()
    return transp != "TRANSPARENT" and status != "CANCELLED"


def parse_event(href: str, etag: str | None, text: str, tz: ZoneInfo, window: Interval) -> RemoteEvent:
    """The busy times of one resource inside `window` (recurrences expanded). Floating times and
    all-day dates are the clinic's local time. Raises ValueError on text that is not iCalendar."""
    try:
        cal = icalendar.Calendar.from_ical(text)
    except Exception as e:  # noqa: BLE001 - the parser raises several kinds; all mean the same here
        raise ValueError(f"not iCalendar: {type(e).__name__}") from None
    events = [c for c in cal.walk("VEVENT")]
    if not events:  # a VTODO or a VJOURNAL: it blocks no time
        return RemoteEvent(href, etag, None, (), False, None)
    main = next((c for c in events if c.get("RECURRENCE-ID") is None), events[0])
    uid = str(main.get("UID")) if main.get("UID") is not None else None
    busy: list[Interval] = []
    for occurrence in recurring_ical_events.of(cal).between(window[0], window[1]):
        if _blocks(occurrence):
            span = _interval(occurrence, tz)
            if span and span[0] < window[1] and window[0] < span[1]:
                busy.append(span)
    cancelled = str(main.get("STATUS", "")).upper() == "CANCELLED"
    return RemoteEvent(href, etag, uid, tuple(sorted(set(busy))), cancelled, _interval(main, tz))
