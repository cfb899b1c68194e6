"""The front desk's queue on the real SQLCipher store: reminders planned from the appointments,
call-backs, claim / lease / finish, a stale lease refused, opt-outs, the migration from schema 11."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from appliance.clinic.pack import Pack
from appliance.config import OutboundSettings
from appliance.records.db import connect
from appliance.records.migrations import current_version, migrate
from appliance.records.store import Records
from appliance.scheduler.desk_runner import open_desk_store
from appliance.scheduler.desk_store import DeskResult, DeskStore
from tests.scheduler.conftest import STAFF, SYSTEM

LA = ZoneInfo("America/Los_Angeles")
LEASE = timedelta(seconds=120)


def at(d: int, hh: int, mm: int = 0) -> datetime:
    return datetime(2025, 3, d, hh, mm, tzinfo=LA)  # March 2025: the 10th is a Monday


@pytest.fixture
def both(db: tuple[Path, bytes], pack: Pack) -> Iterator[tuple[DeskStore, Records]]:
    desk = open_desk_store(db[0], db[1], pack, OutboundSettings())
    records = Records.open(db[0], db[1])
    yield desk, records
    records.close()
    desk.conn.close()


def book(r: Records, start: datetime, phone: str = "+1 555 010 2233", dob: str | None = "1985-04-12",
         name: str | None = "Dana Lee") -> int:
    pid = r.add_patient(STAFF, name, phone, dob=dob)
    return r.book_appointment(STAFF, pid, "np-rivera", start, start + timedelta(minutes=30), procedure="botox")


def reminders(desk: DeskStore, aid: int) -> list[tuple[int, str, str | None]]:
    return [(r["lead_hours"], r["state"], r["disposition"]) for r in desk.contacts(STAFF, appointment_id=aid)]


def test_reminders_are_planned_once_from_the_pack(both: tuple[DeskStore, Records]) -> None:
    desk, r = both
    assert desk.rules.before_hours == (48, 2)  # the demo pack's clinic.yaml
    aid = book(r, at(12, 15))
    late = book(r, at(10, 20, 0) + timedelta(hours=-5), phone="5550102244")  # Monday 15:00, booked Monday 5:00
    assert desk.plan_reminders(SYSTEM, at(10, 5)) == (3, 0)
    assert desk.plan_reminders(SYSTEM, at(10, 5, 1)) == (0, 0)  # idempotent
    assert reminders(desk, aid) == [(48, "due", None), (2, "due", None)]
    assert reminders(desk, late) == [(2, "due", None)]  # 48 h before was past at booking


def test_claim_lease_finish_and_a_stale_lease_is_refused(both: tuple[DeskStore, Records]) -> None:
    desk, r = both
    aid = book(r, at(12, 15))
    desk.plan_reminders(SYSTEM, at(3, 12))
    assert desk.claim_due(SYSTEM, at(10, 14), "w1", LEASE, 5) == []  # not yet
    (claim,) = desk.claim_due(SYSTEM, at(10, 15), "w1", LEASE, 5)
    assert (claim.kind, claim.attempt, claim.name, claim.dob) == ("reminder", 1, "Dana Lee", "1985-04-12")
    assert claim.appointment and claim.appointment["id"] == aid and claim.appointment["status"] == "booked"
    assert desk.claim_due(SYSTEM, at(10, 15), "w2", LEASE, 5) == []  # leased: nobody else gets it
    # the worker dies; after the lease another claims it, and the first worker's late report is refused
    assert desk.claim_due(SYSTEM, at(10, 15, 8), "w2", LEASE, 5) == []  # lease expired: retried 5 minutes on
    (again,) = desk.claim_due(SYSTEM, at(10, 15, 14), "w2", LEASE, 5)
    assert again.attempt == 2 and again.token != claim.token
    assert desk.finish(SYSTEM, claim, DeskResult("answered", "confirmed"), at(10, 15, 15)) is None
    assert desk.finish(SYSTEM, again, DeskResult("answered", "confirmed"), at(10, 15, 16)) == "completed"
    assert reminders(desk, aid)[0] == (48, "completed", "confirmed")
    assert desk.claim_due(SYSTEM, at(10, 18), "w2", LEASE, 5) == []  # completed: never again


def test_no_answer_retries_and_voicemail_is_not_completed(both: tuple[DeskStore, Records]) -> None:
    desk, r = both
    book(r, at(12, 15))
    desk.plan_reminders(SYSTEM, at(3, 12))
    (claim,) = desk.claim_due(SYSTEM, at(10, 15), "w1", LEASE, 5)
    assert desk.finish(SYSTEM, claim, DeskResult("no-answer"), at(10, 15, 1)) == "due"
    assert desk.claim_due(SYSTEM, at(10, 16), "w1", LEASE, 5) == []  # retried 2 h later
    (claim,) = desk.claim_due(SYSTEM, at(10, 17, 2), "w1", LEASE, 5)
    assert desk.finish(SYSTEM, claim, DeskResult("answered", "voicemail"), at(10, 17, 3)) == "due"


def test_a_move_replans_and_a_cancel_or_no_show_cancels(both: tuple[DeskStore, Records]) -> None:
    desk, r = both
    moved, cancelled, no_show = book(r, at(12, 15)), book(r, at(12, 16), "5550100001"), book(r, at(12, 11), "5550100002")
    desk.plan_reminders(SYSTEM, at(3, 12))
    r.bookings.move_appointment(STAFF, moved, at(14, 11), at(14, 11, 30))
    r.appointments.cancel_appointment(STAFF, cancelled, via="phone")
    assert desk.plan_reminders(SYSTEM, at(4, 12)) == (2, 4)
    assert sorted(reminders(desk, moved), key=str) == sorted([
        (48, "cancelled", "appointment-moved"), (2, "cancelled", "appointment-moved"), (48, "due", None),
        (2, "due", None)], key=str)
    assert reminders(desk, cancelled) == [(48, "cancelled", "appointment-cancelled"),
                                          (2, "cancelled", "appointment-cancelled")]
    # marked a no-show between planning and dial time: cancelled when it comes due, not dialled
    r.appointments.mark_appointment(STAFF, no_show, "no-show", "staff:test")
    assert [c for c in desk.claim_due(SYSTEM, at(10, 11), "w1", LEASE, 5) if c.appointment["id"] == no_show] == []
    assert reminders(desk, no_show)[0] == (48, "cancelled", "appointment-no-show")


def test_opted_out_numbers_and_patients_without_identity_are_not_called(both: tuple[DeskStore, Records]) -> None:
    desk, r = both
    out = book(r, at(12, 15), phone="(555) 010-7777")
    no_dob = book(r, at(12, 16), phone="5550107778", dob=None)  # booked by phone: the name is the check
    no_name = book(r, at(12, 17), phone="5550107779", name=None)
    desk.plan_reminders(SYSTEM, at(3, 12))
    r.conn.execute("INSERT INTO opt_outs (phone, channel, created_at) VALUES ('15550107777', 'call', 't')")
    claims = desk.claim_due(SYSTEM, at(10, 16, 30), "w1", LEASE, 5)
    assert [(c.appointment["id"], c.name, c.dob) for c in claims] == [(no_dob, "Dana Lee", None)]
    desk.claim_due(SYSTEM, at(10, 17, 5), "w1", LEASE, 5)  # the nameless one comes due
    assert reminders(desk, out)[0] == (48, "cancelled", "opted-out")
    assert reminders(desk, no_name)[0] == (48, "cancelled", "no-identity-on-file")
    assert desk.record_missed(SYSTEM, "5550107777", "busy", at(10, 12)) is None  # no call-back either


def test_call_backs_one_per_number_cancelled_when_the_caller_talks(both: tuple[DeskStore, Records]) -> None:
    desk, r = both
    pid = r.add_patient(STAFF, "Lisa Brown", "+1 555 010 7801", dob="1979-06-14")
    first = desk.record_missed(SYSTEM, "5550107801", "busy", at(10, 12))
    assert first is not None
    assert desk.record_missed(SYSTEM, "15550107801", "silent", at(10, 12, 1)) is None  # one pending per number
    for withheld in ("anonymous", "2101", ""):
        assert desk.record_missed(SYSTEM, withheld, "silent", at(10, 12)) is None
    assert desk.claim_due(SYSTEM, at(10, 12, 1), "w1", LEASE, 5) == []  # after the 2-minute delay
    (claim,) = desk.claim_due(SYSTEM, at(10, 12, 2), "w1", LEASE, 5)
    assert (claim.kind, claim.reason, claim.patient_id, claim.phone) == ("callback", "busy", pid, "5550107801")
    assert desk.caller_talked(SYSTEM, "5550107801", at(10, 12, 3)) == 0  # dialling already: it goes on
    assert desk.finish(SYSTEM, claim, DeskResult("answered", "reached"), at(10, 12, 5)) == "completed"
    # a new missed call, then the caller calls again and talks: the call-back is cancelled
    second = desk.record_missed(SYSTEM, "5550107801", "silent", at(10, 13))
    assert second is not None and second != first
    assert desk.caller_talked(SYSTEM, "+1 (555) 010-7801", at(10, 13, 1)) == 1
    rows = {c["id"]: (c["state"], c["disposition"]) for c in desk.contacts(STAFF, kind="callback")}
    assert rows == {first: ("completed", "reached"), second: ("cancelled", "called-again")}
    assert desk.claim_due(SYSTEM, at(10, 14), "w1", LEASE, 5) == []


def test_an_opt_out_on_the_call_is_recorded(both: tuple[DeskStore, Records]) -> None:
    desk, r = both
    desk.record_missed(SYSTEM, "5550107802", "busy", at(10, 12))
    (claim,) = desk.claim_due(SYSTEM, at(10, 12, 2), "w1", LEASE, 5)
    desk.finish(SYSTEM, claim, DeskResult("answered", "opted-out", opted_out=True), at(10, 12, 4))
    assert desk.record_missed(SYSTEM, "+15550107802", "busy", at(10, 13)) is None


def test_migration_from_schema_11(db: tuple[Path, bytes], pack: Pack) -> None:
    conn = connect(db[0], db[1])
    assert migrate(conn, target=11) == 11
    conn.execute("INSERT INTO patients (name, phone, dob, created_at, updated_at) VALUES "
                 "('Dana Lee', '5550102233', '1985-04-12', 't', 't')")
    start = datetime(2025, 3, 12, 15, tzinfo=LA)
    conn.execute("INSERT INTO appointments (patient_id, provider, slot_start, slot_end, created_at) VALUES "
                 "(1, 'np-rivera', ?, ?, 't')", (start.isoformat(), (start + timedelta(minutes=30)).isoformat()))
    assert conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'desk_contacts'").fetchone() is None
    conn.close()
    desk = open_desk_store(db[0], db[1], pack, OutboundSettings())
    try:
        assert current_version(desk.conn) >= 12
        assert desk.plan_reminders(SYSTEM, at(3, 12)) == (2, 0)  # the appointment booked at schema 11
    finally:
        desk.conn.close()
