"""The Appointments page's rendering (pure): its days and times are the clinic's, the Arrived and
No-show buttons show only on booked appointments due today or already past, and the dashboard's
appointment cards say what their figures are made of."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from appliance.staff.appointments import appointment_rows, outcome_cards, window
from appliance.staff.auth import Session
from appliance.staff.metrics import appointment_cards

LA = ZoneInfo("America/Los_Angeles")
NOW = datetime(2027, 1, 11, 6, 30, tzinfo=UTC).timestamp()  # Sunday 10 Jan, 22:30 in Los Angeles
DESK = Session("t", "fred", "Fred", "front-desk", "csrf-token-value", 0.0, 0.0)


def _at(y: int, mo: int, d: int, h: int, mi: int = 0) -> float:
    return datetime(y, mo, d, h, mi, tzinfo=UTC).timestamp()


def _row(aid: int, starts_at: float, status: str = "booked", **kw: object) -> dict:
    return {"id": aid, "starts_at": starts_at, "status": status, "patient_label": "Pat <Q>", "procedure": "filler",
            "provider": "np-1", "confirmed_at": None, "confirmed_via": None, "cancel_late": None,
            "deposit_outcome": None, "marked_by": None, "marked_at": None, "calendar": None, **kw}


def test_window_is_midnights_in_the_clinic_zone() -> None:
    since, until, today_end = window(NOW, LA)
    assert datetime.fromtimestamp(since, LA) == datetime(2027, 1, 8, tzinfo=LA)
    assert datetime.fromtimestamp(until, LA) == datetime(2027, 1, 18, tzinfo=LA)
    assert datetime.fromtimestamp(today_end, LA) == datetime(2027, 1, 11, tzinfo=LA)
    assert window(NOW, ZoneInfo("UTC"))[2] == _at(2027, 1, 12, 0)


def test_buttons_only_for_booked_appointments_due_today_or_past() -> None:
    rows = [_row(1, _at(2027, 1, 11, 7)),  # 23:00 tonight in Los Angeles
            _row(2, _at(2027, 1, 11, 9)),  # 01:00 tomorrow there (still "today" in UTC)
            _row(3, _at(2027, 1, 9, 18)),  # yesterday
            _row(4, _at(2027, 1, 9, 19), "cancelled", cancel_late=1, deposit_outcome="refunded"),
            _row(5, _at(2027, 1, 9, 20), "no-show", marked_by="nina", marked_at=_at(2027, 1, 9, 21),
                 confirmed_at=1.0, confirmed_via="phone")]
    html = appointment_rows(rows, DESK, NOW, LA)

    def row(aid: int) -> str:
        return html.split(f'id="appt-{aid}"')[1].split("</tr>")[0]

    assert 'action="/appointments/1/mark"' in row(1) and ">23:00<" in row(1)
    assert "csrf-token-value" in row(1) and 'value="completed">Arrived' in row(1) and 'value="no-show">No-show' in row(1)
    assert "<button" not in row(2) and ">01:00<" in row(2)
    assert "<button" in row(3)
    assert "<button" not in row(4) and "late · deposit refunded" in row(4)
    assert "<button" not in row(5) and "marked by nina 13:00" in row(5) and "yes (phone)" in row(5)
    assert "Pat &lt;Q&gt;" in row(1) and "Pat <Q>" not in html
    assert "Today · Sun 10 Jan 2027" in html and "Tomorrow · Mon 11 Jan 2027" in html
    assert "<button" in appointment_rows([_row(2, _at(2027, 1, 11, 9))], DESK, NOW, ZoneInfo("UTC"))
    clinician_less = Session("t", "ada", "Ada", "admin", "c", 0.0, 0.0)  # admins have no "appointments" permission
    assert "<button" not in appointment_rows(rows, clinician_less, NOW, LA)


def test_outcome_cards() -> None:
    rates = {"total": 8, "booked": 2, "confirmed": 3, "cancelled": 2, "late_cancelled": 1, "completed": 2, "no_show": 2,
             "confirmation_rate": 0.5, "cancellation_rate": 0.25, "no_show_rate": None}
    html = outcome_cards(appointment_cards(rates))
    assert 'id="metric-confirmation_rate"' in html and ">50%<" in html and "3 of 6 appointments not cancelled" in html
    assert ">25%<" in html and "2 of 8 appointments cancelled, 1 late" in html
    assert 'id="metric-no_show_rate"><h3>No-show rate</h3><div class="big">no data</div>' in html
