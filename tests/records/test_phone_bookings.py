"""A booking made on the phone becomes an appointment (with its patient and requested deposit)
in the encrypted store, and the calls' slot calendar starts from the appointments already
booked: the demo pack's engine plays the whole booking conversation, no audio needed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from appliance.clinic.context import CallerContext
from appliance.clinic.engine import ClinicConversation
from appliance.clinic.pack import load_pack
from appliance.clinic.schedule import Scheduler
from appliance.clinic.service import DEMO_PACK, clinic_now
from appliance.records.audit import Access
from appliance.records.bookings import PhoneBooking
from appliance.records.callstart import booking_calendar, store_booking
from appliance.records.store import Records

TURNS = ["Hi, I'm a new patient", "Botox please", "the frown lines between my eyebrows", "no", "no",
         "no I don't take any", "no", "around five hundred dollars", "yes please", "my name is Dana Lee", "yes",
         "yes that works", "no thanks, bye"]
CALL = Access(actor="system:post-call", reason="post-call", call_id="call-1")


@pytest.fixture
def records(async_records):  # noqa: ANN201
    return async_records


@pytest.fixture
def pack():
    return load_pack(DEMO_PACK)


async def book_by_phone(pack, records, call_id: str, phone: str = "5550102233"):
    """The scripted new-patient Botox booking, through the engine and the seeded calendar."""
    scheduler = Scheduler(pack.clinic, await booking_calendar(records, pack))
    conv = ClinicConversation(pack, now=clinic_now(pack), caller=CallerContext(phone=phone), scheduler=scheduler)
    conv.start()
    for text in TURNS:
        await conv.caller_said(text)
    outcome = conv.ended("remote-bye")
    await records.run(Records.start_call, CALL, call_id, "inbound", phone, datetime.now(UTC))
    return outcome


def one(records_conn, sql: str, *args):
    return records_conn.execute(sql, args).fetchone()


async def test_a_phone_booking_is_an_appointment_with_patient_and_deposit(records, pack) -> None:
    outcome = await book_by_phone(pack, records, "call-1")
    assert outcome.booking and outcome.booking["deposit"]["amount"] == 50
    aid = await store_booking(records, CALL, "call-1", outcome, pack)
    assert aid is not None

    def read(r):
        c = r.conn
        return (one(c, "SELECT patient_id, provider, slot_start, slot_end, procedure, kind, status FROM appointments "
                       "WHERE id = ?", aid),
                one(c, "SELECT name, phone FROM patients WHERE id = (SELECT patient_id FROM appointments WHERE id = ?)",
                    aid),
                one(c, "SELECT patient_id FROM calls WHERE pbx_call_id = 'call-1'"),
                one(c, "SELECT amount_cents, currency, status FROM deposits WHERE appointment_id = ?", aid),
                [t for (t,) in c.execute("SELECT topic FROM outbox").fetchall()])

    appt, patient, call, deposit, topics = await records.run(read)
    start = datetime.fromisoformat(outcome.booking["start"]).replace(tzinfo=ZoneInfo(pack.clinic.timezone))
    assert appt[1:] == (outcome.booking["provider"], start.astimezone(UTC).isoformat(timespec="microseconds"),
                        (start + timedelta(minutes=outcome.booking["minutes"])).astimezone(UTC)
                        .isoformat(timespec="microseconds"), "botox", "treatment", "booked")
    assert patient == ("Dana Lee", "5550102233") and call[0] == appt[0]
    assert deposit == (5000, "USD", "requested")
    assert "appointment.booked" in topics


async def test_the_next_caller_is_not_offered_a_slot_booked_before_a_restart(records, pack) -> None:
    first = await book_by_phone(pack, records, "call-1")
    await store_booking(records, CALL, "call-1", first, pack)
    # A new calendar (as after a restart) is seeded from the store: the same script books another slot.
    second = await book_by_phone(pack, records, "call-2", phone="5550109999")
    assert second.booking and first.booking
    assert (second.booking["provider"], second.booking["start"]) != (first.booking["provider"], first.booking["start"])


async def test_a_slot_taken_meanwhile_is_escalated_not_lost(records, pack) -> None:
    outcome = await book_by_phone(pack, records, "call-1")
    b = outcome.booking
    start = datetime.fromisoformat(b["start"]).replace(tzinfo=ZoneInfo(pack.clinic.timezone))
    # Booked another way between the call's offer and its end.
    other = await records.run(Records.add_patient, CALL, "Someone Else", "5550100000")
    await records.run(Records.book_appointment, CALL, other, b["provider"], start, start + timedelta(minutes=b["minutes"]))
    assert await store_booking(records, CALL, "call-1", outcome, pack) is None

    def read(r):
        return (one(r.conn, "SELECT severity, category FROM escalations"),
                one(r.conn, "SELECT count(*) FROM appointments"))

    esc, appointments = await records.run(read)
    assert esc == ("routine", "booking-conflict") and appointments[0] == 1


async def test_a_caller_recognised_by_caller_id_books_as_themselves(records, pack) -> None:
    pid = await records.run(Records.add_patient, CALL, "Dana Lee", "+1 555 010 2233")
    await records.run(Records.start_call, CALL, "call-9", "inbound", "5550102233", datetime.now(UTC), pid)
    booking = PhoneBooking(provider="np-1", start=datetime(2025, 3, 14, 17, 0, tzinfo=UTC), minutes=30,
                           kind="consult", procedure=None, name="Someone Else", phone="5550102233")
    aid = await records.invoke(lambda r: r.bookings.record_phone_booking, CALL, "call-9", booking)
    patients = await records.run(lambda r: one(r.conn, "SELECT count(*) FROM patients"))
    owner = await records.run(lambda r: one(r.conn, "SELECT patient_id FROM appointments WHERE id = ?", aid))
    assert patients[0] == 1 and owner[0] == pid


async def test_the_calendar_reads_times_only(records, pack) -> None:
    pid = await records.run(Records.add_patient, CALL, "Dana Lee", "5550102233")
    t = datetime(2030, 1, 7, 17, 0, tzinfo=UTC)
    await records.run(Records.book_appointment, CALL, pid, "np-1", t, t + timedelta(minutes=45))
    calendar = await booking_calendar(records, pack)
    local = t.astimezone(ZoneInfo(pack.clinic.timezone)).replace(tzinfo=None)
    [b] = calendar.on_day("np-1", local.date())
    assert (b.start, b.minutes, b.patient, b.phone) == (local, 45, None, None)
