"""Appointment outcomes on the real SQLCipher store: a caller found by name and date of birth,
their upcoming appointments, confirmations, cancellations (late, deposit), arrivals and
no-shows, each with its outbox message and audit event; the dashboard's rates; migration 11
on a database made at schema 10."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from appliance.records.audit import Access
from appliance.records.bookings import PhoneBooking
from appliance.records.db import connect
from appliance.records.errors import ConflictError, NotFoundError, RecordsError
from appliance.records.migrations import LATEST, current_version, migrate
from appliance.records.outcomes import same_person_name
from appliance.records.store import Records
from tests.records.conftest import SYSTEM

NINA = Access("staff:nina", "console")
DOB = date(1985, 3, 14)
T0 = datetime(2027, 1, 11, 15, 0, tzinfo=UTC)  # a Monday, 15:00 UTC
HALF = timedelta(minutes=30)


def _book(records: Records, pid: int, start: datetime, provider: str = "np-1", procedure: str | None = "botox") -> int:
    return records.book_appointment(SYSTEM, pid, provider, start, start + HALF, procedure)


def _row(records: Records, aid: int) -> dict:
    cur = records.conn.execute("SELECT * FROM appointments WHERE id = ?", (aid,))
    return dict(zip([d[0] for d in cur.description], cur.fetchone(), strict=True))


def _outbox(records: Records) -> list[tuple[str, dict]]:
    return [(t, json.loads(p)) for t, p in records.conn.execute("SELECT topic, payload FROM outbox ORDER BY seq")]


def _audit(records: Records) -> list[tuple[str, str, str]]:
    return [tuple(r) for r in records.conn.execute("SELECT actor, action, subject FROM audit_events ORDER BY seq")]


def test_name_matching_is_case_and_space_blind_full_or_first_and_last() -> None:
    assert same_person_name("  zoë   ANN marsh ", "Zoë Ann Marsh")
    assert same_person_name("Zoë Marsh", "Zoë Ann Marsh")  # middle name left out
    assert same_person_name("zoë ann marsh", "Zoë Marsh")  # middle name said, not stored
    assert not same_person_name("Ann Marsh", "Zoë Ann Marsh")
    assert not same_person_name("Zoë", "Zoë Ann Marsh")
    assert not same_person_name("", "Zoë Marsh") and not same_person_name("Zoë Marsh", None)


def test_patients_by_name_and_dob(records: Records) -> None:
    zoe = records.add_patient(SYSTEM, "Zoë Ann Marsh", dob=DOB.isoformat())
    twin = records.add_patient(SYSTEM, "Zoe Marsh", dob=DOB.isoformat())  # no diaeresis: another name
    other_day = records.add_patient(SYSTEM, "Zoë Ann Marsh", dob="1985-03-15")
    same = records.add_patient(SYSTEM, "ZOË MARSH", dob=DOB.isoformat())
    records.add_patient(SYSTEM, "Zoë Ann Marsh")  # no date of birth on file
    assert records.appointments.patients_by_name_dob(NINA, "  zoë  ann   MARSH", DOB) == [zoe, same]
    assert records.appointments.patients_by_name_dob(NINA, "zoe marsh", DOB) == [twin]
    assert records.appointments.patients_by_name_dob(NINA, "Zoë Ann Marsh", date(1985, 3, 15)) == [other_day]
    assert records.appointments.patients_by_name_dob(NINA, "Ann Marsh", DOB) == []
    lookups = [e for e in _audit(records) if e[1] == "patient.lookup"]
    assert lookups == [("staff:nina", "patient.lookup", f"patients:{zoe},{same}"),
                       ("staff:nina", "patient.lookup", f"patients:{twin}"),
                       ("staff:nina", "patient.lookup", f"patients:{other_day}"),
                       ("staff:nina", "patient.lookup", "patients:")]
    assert not any("Marsh" in " ".join(e) or "1985" in " ".join(e) for e in _audit(records))


def test_upcoming_lists_booked_future_appointments_with_their_deposits(records: Records) -> None:
    pid = records.add_patient(SYSTEM, "Pat Q", phone="4155550123")
    other = records.add_patient(SYSTEM, "Someone Else")
    records.start_call(SYSTEM, "pbx-1", "inbound", "4155550123", patient_id=pid)
    phone = records.bookings.record_phone_booking(SYSTEM, "pbx-1", PhoneBooking(
        "np-2", T0 + timedelta(days=3), 45, "treatment", "lip filler", "Pat Q", "4155550123", deposit_cents=5000))
    assert phone is not None
    records.conn.execute("INSERT INTO deposits (patient_id, appointment_id, amount_cents, status, created_at) "
                         "VALUES (?, ?, 2500, 'paid', 't')", (pid, phone))  # a second deposit row: summed
    past = _book(records, pid, T0 - timedelta(days=1))
    soon = _book(records, pid, T0, procedure=None)
    gone = _book(records, pid, T0 + timedelta(days=1))
    records.appointments.cancel_appointment(SYSTEM, gone)
    _book(records, other, T0 + timedelta(hours=2))
    records.appointments.confirm_appointment(SYSTEM, soon, "reminder")

    got = records.appointments.upcoming_for_patient(NINA, pid, T0)
    assert got == [
        {"id": soon, "provider": "np-1", "start": T0.isoformat(timespec="microseconds"),
         "end": (T0 + HALF).isoformat(timespec="microseconds"), "procedure": None, "deposit_cents": 0,
         "confirmed": True},
        {"id": phone, "provider": "np-2", "start": (T0 + timedelta(days=3)).isoformat(timespec="microseconds"),
         "end": (T0 + timedelta(days=3, minutes=45)).isoformat(timespec="microseconds"), "procedure": "lip filler",
         "deposit_cents": 7500, "confirmed": False},
    ]
    assert past not in [a["id"] for a in got]
    assert _audit(records)[-1] == ("staff:nina", "appointment.read", f"patient:{pid}:appointments:{soon},{phone}")
    assert records.appointments.upcoming_for_patient(NINA, other, T0 + timedelta(days=1)) == []


def test_confirm_then_move_clears_the_confirmation(records: Records) -> None:
    pid = records.add_patient(SYSTEM, "Pat Q")
    aid = _book(records, pid, T0)
    records.appointments.confirm_appointment(NINA, aid, "phone")
    row = _row(records, aid)
    assert row["confirmed_via"] == "phone" and row["confirmed_at"] is not None and row["status"] == "booked"
    assert _outbox(records)[-1] == ("appointment.confirmed", {"appointment_id": aid, "via": "phone"})
    assert _audit(records)[-1] == ("staff:nina", "appointment.update", f"appointment:{aid}:confirmed")
    records.bookings.move_appointment(NINA, aid, T0 + timedelta(days=1), T0 + timedelta(days=1) + HALF)
    assert _row(records, aid)["confirmed_at"] is None  # a new time is not yet confirmed
    assert records.appointments.upcoming_for_patient(NINA, pid, T0)[0]["confirmed"] is False


def test_cancel_records_lateness_deposit_and_channel(records: Records) -> None:
    pid = records.add_patient(SYSTEM, "Pat Q")
    late, plain = _book(records, pid, T0), _book(records, pid, T0 + timedelta(days=1))
    records.appointments.cancel_appointment(NINA, late, late=True, deposit="kept", via="phone")
    row = _row(records, late)
    assert (row["status"], row["cancel_late"], row["deposit_outcome"], row["changed_via"]) == \
        ("cancelled", 1, "kept", "phone")
    assert row["cancelled_at"] is not None
    assert _outbox(records)[-1] == ("appointment.cancelled",
                                    {"appointment_id": late, "late": True, "deposit": "kept", "via": "phone"})
    assert _audit(records)[-1] == ("staff:nina", "appointment.update", f"appointment:{late}:cancelled")

    records.appointments.cancel_appointment(SYSTEM, plain)  # the old call form: not late, no deposit, by staff
    row = _row(records, plain)
    assert (row["status"], row["cancel_late"], row["deposit_outcome"], row["changed_via"]) == \
        ("cancelled", 0, "none", "staff")
    assert _book(records, pid, T0)  # the slot is free again


def test_arrived_and_no_show_are_marked_with_who_and_when(records: Records) -> None:
    pid = records.add_patient(SYSTEM, "Pat Q")
    came, missed = _book(records, pid, T0), _book(records, pid, T0 + timedelta(hours=1))
    records.appointments.mark_appointment(NINA, came, "completed", "nina")
    records.appointments.mark_appointment(NINA, missed, "no-show", "nina")
    for aid, status in ((came, "completed"), (missed, "no-show")):
        row = _row(records, aid)
        assert (row["status"], row["marked_by"]) == (status, "nina") and row["marked_at"] is not None
    assert _outbox(records)[-2:] == [("appointment.arrived", {"appointment_id": came, "by": "nina"}),
                                     ("appointment.no_show", {"appointment_id": missed, "by": "nina"})]
    assert _audit(records)[-2:] == [("staff:nina", "appointment.update", f"appointment:{came}:completed"),
                                    ("staff:nina", "appointment.update", f"appointment:{missed}:no-show")]
    records.appointments.mark_appointment(NINA, missed, "completed", "fred")  # a wrong mark is corrected
    assert (_row(records, missed)["status"], _row(records, missed)["marked_by"]) == ("completed", "fred")


def test_a_no_show_records_the_policys_deposit_outcome(records: Records) -> None:
    pid = records.add_patient(SYSTEM, "Pat Q")
    paid, unpaid = _book(records, pid, T0), _book(records, pid, T0 + timedelta(hours=1))
    records.conn.execute("INSERT INTO deposits (patient_id, appointment_id, amount_cents, status, created_at) "
                         "VALUES (?, ?, 5000, 'paid', 't')", (pid, paid))
    records.appointments.mark_appointment(NINA, paid, "no-show", "nina", no_show_deposit="kept")
    records.appointments.mark_appointment(NINA, unpaid, "no-show", "nina", no_show_deposit="kept")
    assert _row(records, paid)["deposit_outcome"] == "kept" and _row(records, unpaid)["deposit_outcome"] == "none"
    assert _outbox(records)[-2][1] == {"appointment_id": paid, "by": "nina", "deposit": "kept"}
    records.appointments.mark_appointment(NINA, paid, "completed", "nina", no_show_deposit="kept")  # corrected: came after all
    assert _row(records, paid)["deposit_outcome"] is None
    with pytest.raises(RecordsError):
        records.appointments.mark_appointment(NINA, unpaid, "no-show", "nina", no_show_deposit="forfeit")


def test_refusals_change_nothing(records: Records) -> None:
    pid = records.add_patient(SYSTEM, "Pat Q")
    aid = _book(records, pid, T0)
    before = (_row(records, aid), _outbox(records), _audit(records))
    with pytest.raises(RecordsError) as bad:
        records.appointments.cancel_appointment(NINA, aid, deposit="forfeit")
    assert "kept, refunded, none" in (bad.value.fix or "")
    with pytest.raises(RecordsError):
        records.appointments.mark_appointment(NINA, aid, "cancelled", "nina")
    a = records.appointments
    for call in (lambda: a.confirm_appointment(NINA, 999, "phone"), lambda: a.cancel_appointment(NINA, 999),
                 lambda: a.mark_appointment(NINA, 999, "no-show", "nina")):
        with pytest.raises(NotFoundError):
            call()
    assert (_row(records, aid), _outbox(records), _audit(records)) == before

    records.appointments.cancel_appointment(NINA, aid)
    after_cancel = (_row(records, aid), _outbox(records), _audit(records))
    with pytest.raises(ConflictError):
        records.appointments.mark_appointment(NINA, aid, "no-show", "nina")
    with pytest.raises(ConflictError):
        records.appointments.confirm_appointment(NINA, aid, "phone")
    with pytest.raises(ConflictError):
        records.appointments.cancel_appointment(NINA, aid)
    assert (_row(records, aid), _outbox(records), _audit(records)) == after_cancel


def test_rates_from_known_counts(records: Records) -> None:
    pid = records.add_patient(SYSTEM, "Pat Q")
    ids = [_book(records, pid, T0 + timedelta(hours=i)) for i in range(8)]
    outside = _book(records, pid, T0 + timedelta(days=2))  # after the window
    records.appointments.confirm_appointment(SYSTEM, outside, "phone")
    records.appointments.confirm_appointment(SYSTEM, ids[0], "phone")
    records.appointments.confirm_appointment(SYSTEM, ids[1], "reminder")
    records.appointments.confirm_appointment(SYSTEM, ids[2], "console")
    records.appointments.mark_appointment(SYSTEM, ids[1], "completed", "nina")  # confirmed, came
    records.appointments.mark_appointment(SYSTEM, ids[2], "no-show", "nina")  # confirmed, did not come
    records.appointments.mark_appointment(SYSTEM, ids[3], "no-show", "nina")
    records.appointments.mark_appointment(SYSTEM, ids[4], "completed", "nina")
    records.appointments.confirm_appointment(SYSTEM, ids[5], "phone")
    records.appointments.cancel_appointment(SYSTEM, ids[5], late=True, deposit="kept")  # confirmed, then cancelled late
    records.appointments.cancel_appointment(SYSTEM, ids[6])
    rates = records.appointments.appointment_rates(NINA, T0, T0 + timedelta(days=1))
    assert rates == {"total": 8, "booked": 2, "confirmed": 3, "cancelled": 2, "late_cancelled": 1, "completed": 2,
                     "no_show": 2, "confirmation_rate": 3 / 6, "cancellation_rate": 2 / 8, "no_show_rate": 2 / 4}
    assert _audit(records)[-1][:2] == ("staff:nina", "view.appointment_rates")
    # [since, until): an appointment at `until` is left out, one at `since` counted.
    assert records.appointments.appointment_rates(NINA, T0 + timedelta(hours=7), T0 + timedelta(days=2))["total"] == 1

    empty = records.appointments.appointment_rates(NINA, T0 - timedelta(days=9), T0 - timedelta(days=8))
    assert empty["total"] == 0 and empty["confirmation_rate"] is None and empty["cancellation_rate"] is None \
        and empty["no_show_rate"] is None
    only_cancelled = records.appointments.appointment_rates(NINA, T0 + timedelta(hours=6), T0 + timedelta(hours=7))
    assert (only_cancelled["cancellation_rate"], only_cancelled["confirmation_rate"], only_cancelled["no_show_rate"]) \
        == (1.0, None, None)


def test_schema_10_database_gains_the_outcome_columns(db_path: Path, key: bytes) -> None:
    conn = connect(db_path, key)
    assert migrate(conn, target=10) == 10
    conn.execute("INSERT INTO patients (name, dob, created_at, updated_at) VALUES ('Pat Q', '1985-03-14', 't', 't')")
    conn.execute("INSERT INTO appointments (patient_id, provider, slot_start, slot_end, status, created_at) "
                 "VALUES (1, 'np-1', ?, ?, 'booked', 't')", (T0.isoformat(timespec="microseconds"),
                                                             (T0 + HALF).isoformat(timespec="microseconds")))
    conn.execute("INSERT INTO appointments (patient_id, provider, slot_start, slot_end, status, created_at) "
                 "VALUES (1, 'np-1', ?, ?, 'cancelled', 't')", ((T0 - HALF).isoformat(timespec="microseconds"),
                                                                T0.isoformat(timespec="microseconds")))
    cols = {r[1] for r in conn.execute("PRAGMA table_info(appointments)")}
    assert "confirmed_at" not in cols
    conn.close()

    records = Records.open(db_path, key)
    try:
        assert current_version(records.conn) == LATEST >= 11
        old = _row(records, 1)
        assert {k: old[k] for k in ("confirmed_at", "confirmed_via", "cancelled_at", "cancel_late", "deposit_outcome",
                                    "changed_via", "marked_by", "marked_at")} == dict.fromkeys(
            ("confirmed_at", "confirmed_via", "cancelled_at", "cancel_late", "deposit_outcome", "changed_via",
             "marked_by", "marked_at"))
        assert records.appointments.patients_by_name_dob(SYSTEM, "pat q", DOB) == [1]
        records.appointments.confirm_appointment(SYSTEM, 1, "phone")
        assert records.appointments.upcoming_for_patient(SYSTEM, 1, T0) == [
            {"id": 1, "provider": "np-1", "start": T0.isoformat(timespec="microseconds"),
             "end": (T0 + HALF).isoformat(timespec="microseconds"), "procedure": None, "deposit_cents": 0,
             "confirmed": True}]
        # an older cancellation counts as cancelled, not late
        rates = records.appointments.appointment_rates(SYSTEM, T0 - HALF, T0 + HALF)
        assert (rates["cancelled"], rates["late_cancelled"], rates["confirmed"]) == (1, 0, 1)
    finally:
        records.close()
