"""The VEVENT the appliance writes (minimal by default) and the busy times read from the clinic's
calendars: time zones, floating and all-day events, recurrences, free and cancelled events.
Also the calls' slot calendar that holds those busy times."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from appliance.calsync.ical import EventText, build_event, parse_event, summary_for
from appliance.calsync.view import CalendarView
from appliance.clinic.errors import SlotTaken
from appliance.clinic.schedule import Booking

TZ = ZoneInfo("America/Los_Angeles")
WINDOW = (datetime(2030, 1, 1, tzinfo=UTC), datetime(2030, 3, 1, tzinfo=UTC))
T = datetime(2030, 1, 7, 17, 0, tzinfo=UTC)


def cal(*body: str) -> str:
    return "\r\n".join(["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//test//EN", *body, "END:VCALENDAR"]) + "\r\n"


def vevent(*lines: str, uid: str = "x@other") -> list[str]:
    return ["BEGIN:VEVENT", f"UID:{uid}", "DTSTAMP:20250101T000000Z", *lines, "END:VEVENT"]


def test_the_written_event_says_no_name_or_procedure_by_default() -> None:
    summary = summary_for(phone=True, patient_ref="#12", name="Dana Lee", procedure="botox")
    assert summary == "Appointment (booked by phone) - patient #12"
    text = build_event(EventText("appliance-abc", T, T + timedelta(minutes=30), summary,
                                 "Details in the appliance's staff console: appointment #3."), T)
    assert "Dana" not in text and "botox" not in text
    assert "UID:appliance-abc\r\n" in text and "DTSTART:20300107T170000Z\r\n" in text
    assert "DTEND:20300107T173000Z\r\n" in text and "TRANSP:OPAQUE" in text and "CLASS:PRIVATE" in text
    ev = parse_event("/c/a.ics", '"1"', text, TZ, WINDOW)
    assert (ev.uid, ev.busy, ev.first, ev.cancelled) == ("appliance-abc", ((T, T + timedelta(minutes=30)),),
                                                         (T, T + timedelta(minutes=30)), False)


def test_names_and_procedures_only_when_the_clinic_opts_in() -> None:
    assert summary_for(phone=True, patient_ref="#12", name="Dana Lee", procedure="botox", details=True) == \
        "Appointment (booked by phone) - Dana Lee - botox"
    assert summary_for(phone=False, patient_ref="PMS-7") == "Appointment (booked by the appliance) - patient PMS-7"


def test_a_zoned_event_with_a_duration() -> None:
    ev = parse_event("/c/1.ics", None, cal(*vevent("DTSTART;TZID=America/Los_Angeles:20300107T090000",
                                                   "DURATION:PT45M")), TZ, WINDOW)
    assert ev.busy == ((T, T + timedelta(minutes=45)),)


def test_floating_times_and_all_day_dates_are_clinic_local() -> None:
    floating = parse_event("/c/1.ics", None, cal(*vevent("DTSTART:20300107T090000", "DTEND:20300107T100000")), TZ,
                           WINDOW)
    assert floating.busy == ((T, T + timedelta(hours=1)),)
    allday = parse_event("/c/2.ics", None, cal(*vevent("DTSTART;VALUE=DATE:20300108")), TZ, WINDOW)
    midnight = datetime(2030, 1, 8, tzinfo=TZ).astimezone(UTC)
    assert allday.busy == ((midnight, midnight + timedelta(days=1)),)


def test_free_and_cancelled_events_block_nothing() -> None:
    free = parse_event("/c/1.ics", None, cal(*vevent("DTSTART:20300107T170000Z", "DTEND:20300107T180000Z",
                                                     "TRANSP:TRANSPARENT")), TZ, WINDOW)
    cancelled = parse_event("/c/2.ics", None, cal(*vevent("DTSTART:20300107T170000Z", "DTEND:20300107T180000Z",
                                                          "STATUS:CANCELLED")), TZ, WINDOW)
    assert free.busy == () and not free.cancelled
    assert cancelled.busy == () and cancelled.cancelled


def test_recurrences_are_expanded_inside_the_window_with_their_exceptions() -> None:
    text = cal(*vevent("DTSTART:20300107T170000Z", "DTEND:20300107T180000Z", "RRULE:FREQ=WEEKLY;COUNT=20",
                       "EXDATE:20300114T170000Z", uid="staff-meeting"),
               *vevent("RECURRENCE-ID:20300121T170000Z", "DTSTART:20300121T190000Z", "DTEND:20300121T200000Z",
                       uid="staff-meeting"))
    ev = parse_event("/c/1.ics", None, text, TZ, WINDOW)
    starts = [a for a, _b in ev.busy]
    assert starts[:3] == [T, T + timedelta(days=14, hours=2), T + timedelta(days=21)]
    assert all(WINDOW[0] <= a < WINDOW[1] for a in starts) and len(starts) == 7  # Jan 7 .. Feb 25, less Jan 14
    assert ev.uid == "staff-meeting" and ev.first == (T, T + timedelta(hours=1))


def test_a_task_blocks_nothing_and_garbage_is_an_error() -> None:
    todo = parse_event("/c/1.ics", None, cal("BEGIN:VTODO", "UID:t", "DTSTAMP:20250101T000000Z", "END:VTODO"), TZ,
                       WINDOW)
    assert todo.busy == () and todo.uid is None
    with pytest.raises(ValueError, match="not iCalendar"):
        parse_event("/c/2.ics", None, "this is not a calendar", TZ, WINDOW)


def test_the_calls_slot_calendar_holds_busy_times_per_local_day() -> None:
    view = CalendarView([], "America/Los_Angeles")
    night = datetime(2030, 1, 8, 6, 0, tzinfo=UTC)  # 22:00 local on the 7th, for 4 hours: two days
    view.set_busy([("np-1", T, T + timedelta(minutes=30)), ("np-1", night, night + timedelta(hours=4))])
    jan7 = [(b.start, b.minutes) for b in view.on_day("np-1", date(2030, 1, 7))]
    assert jan7 == [(datetime(2030, 1, 7, 9, 0), 30), (datetime(2030, 1, 7, 22, 0), 120)]
    assert [(b.start, b.minutes) for b in view.on_day("np-1", date(2030, 1, 8))] == [(datetime(2030, 1, 8, 0, 0), 120)]
    assert view.on_day("md-2", date(2030, 1, 7)) == []
    with pytest.raises(SlotTaken):
        view.add(Booking("b", "consult", None, "np-1", datetime(2030, 1, 7, 9, 15), 30))
    view.add(Booking("b", "consult", None, "np-1", datetime(2030, 1, 7, 9, 30), 30))
    with pytest.raises(SlotTaken):
        view.add(Booking("c", "consult", None, "np-1", datetime(2030, 1, 7, 9, 30), 30))
    view.forget("np-1", datetime(2030, 1, 7, 17, 30, tzinfo=UTC))
    view.add(Booking("c", "consult", None, "np-1", datetime(2030, 1, 7, 9, 30), 30))
    assert len(view.all()) == 1
