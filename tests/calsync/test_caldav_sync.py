"""Calendar sync end to end against a real Radicale: phone bookings land in the provider's
calendar; events made in the calendar take slots away from the next caller; moves and
cancellations go both ways; a slot taken in the calendar is refused at write time (never a double
booking); with the server down, bookings are unconfirmed and reconciled when it is back."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import pytest

from appliance.calsync.client import CalDAV
from appliance.clinic.context import CallerContext
from appliance.clinic.engine import ClinicConversation
from appliance.clinic.errors import SlotTaken
from appliance.clinic.schedule import Scheduler
from appliance.clinic.service import clinic_now
from appliance.records.audit import Access
from appliance.records.bookings import PhoneBooking
from appliance.records.callstart import store_booking
from appliance.records.store import Records
from tests.calsync.conftest import Harness, next_week

CALL = Access(actor="system:post-call", reason="post-call", call_id="call-1")
TURNS = ["Hi, I'm a new patient", "Botox please", "the frown lines between my eyebrows", "no", "no",
         "no I don't take any", "no", "around five hundred dollars", "yes please", "my name is Dana Lee", "yes",
         "yes that works", "no thanks, bye"]


async def phone_booking(h: Harness, call_id: str, phone: str = "5550102233") -> int | None:
    """The demo pack's new-patient Botox call, booked from the calls' slot calendar, then stored."""
    conv = ClinicConversation(h.pack, now=clinic_now(h.pack), caller=CallerContext(phone=phone),
                              scheduler=Scheduler(h.pack.clinic, h.view))
    conv.start()
    for text in TURNS:
        await conv.caller_said(text)
    outcome = conv.ended("remote-bye")
    assert outcome.booking, "the scripted call books a slot"
    await h.records.run(Records.start_call, CALL, call_id, "inbound", phone, datetime.now(UTC))
    return await store_booking(h.records, CALL, call_id, outcome, h.pack)


async def staff_booking(h: Harness, provider: str, start: datetime, name: str = "Robin Park") -> int:
    pid = await h.records.run(Records.add_patient, CALL, name, "5550107777")
    return await h.records.run(Records.book_appointment, CALL, pid, provider, start, start + timedelta(minutes=30),
                               "filler", None, "treatment")


async def raw_booking(h: Harness, call_id: str, provider: str, start: datetime) -> int | None:
    await h.records.run(Records.start_call, CALL, call_id, "inbound", "5550100000", datetime.now(UTC))
    return await h.records.invoke(lambda r: r.bookings.record_phone_booking, CALL, call_id, PhoneBooking(
        provider=provider, start=start, minutes=30, kind="consult", procedure=None, name="Pat Doe", phone="5550100000"))


async def test_a_phone_booking_appears_in_the_providers_calendar_with_a_minimal_summary(harness: Harness) -> None:
    h = harness
    aid = await phone_booking(h, "call-1")
    assert aid is not None
    assert await h.sync.sync_now()
    row = await h.appointment(aid)
    assert row["cal_state"] == "confirmed" and row["cal_uid"].startswith("appliance-")
    [(uid, start, summary, raw)] = h.events(row["provider"])
    assert uid == row["cal_uid"] and start == datetime.fromisoformat(row["slot_start"])
    assert summary == f"Appointment (booked by phone) - patient #{row['patient_id']}"
    assert "Dana" not in raw and "otox" not in raw.lower() and "5550102233" not in raw
    # Synced again: nothing changes, nothing is written twice.
    assert await h.sync.sync_now()
    assert len(h.events(row["provider"])) == 1 and (await h.appointment(aid))["cal_etag"] == row["cal_etag"]
    [listed] = await h.records.invoke(lambda r: r.followups.appointment_list, CALL)
    assert listed["calendar"] == "confirmed"


async def test_an_event_made_in_the_calendar_takes_the_slot_from_the_next_caller(harness: Harness) -> None:
    h = harness
    scheduler, now = Scheduler(h.pack.clinic, h.view), clinic_now(h.pack)
    first = scheduler.find(None, 30, now, count=1)[0]
    start = first.start.replace(tzinfo=h.tz)
    h.add_event(first.provider_id, start - timedelta(minutes=15), 60, "lunch-1@frontdesk")
    assert await h.sync.sync_now()
    offered = scheduler.find(None, 30, now, count=6)
    assert (first.provider_id, first.start) not in {(s.provider_id, s.start) for s in offered}
    with pytest.raises(SlotTaken):  # a caller who accepted it just before: offered another
        scheduler.book(first, "consult", None, None, None)
    # Stored anyway (the call ended after the calendar was read): refused, with the booking-conflict escalation.
    assert await raw_booking(h, "call-2", first.provider_id, start) is None
    assert [(s, c) for s, c, _d in await h.escalations()] == [("routine", "booking-conflict")]


async def test_a_slot_taken_in_the_calendar_before_the_write_is_refused_never_double_booked(harness: Harness) -> None:
    h = harness
    start = next_week()
    aid = await raw_booking(h, "call-1", "md-chen", start)  # the calendar, as last read, is free then
    assert aid is not None
    h.add_event("md-chen", start + timedelta(minutes=15), 30, "walk-in@frontdesk")  # taken meanwhile
    assert await h.sync.sync_now()
    row = await h.appointment(aid)
    assert (row["status"], row["cal_state"]) == ("cancelled", "conflict")
    assert [uid for uid, *_ in h.events("md-chen")] == ["walk-in@frontdesk"]
    [(severity, category, detail)] = await h.escalations()
    assert (severity, category) == ("routine", "booking-conflict") and f"appointment #{aid}" in detail
    topics = await h.records.run(lambda r: [t for (t,) in r.conn.execute("SELECT topic FROM outbox ORDER BY seq")])
    assert topics[-2:] == ["escalation.raised", "appointment.cancelled"]


async def test_moves_and_cancellations_sync_both_ways(harness: Harness) -> None:
    h = harness
    t1 = next_week()
    aid = await staff_booking(h, "np-rivera", t1)
    assert await h.sync.sync_now()
    uid = (await h.appointment(aid))["cal_uid"]
    assert [(u, s) for u, s, *_ in h.events("np-rivera")] == [(uid, t1)]
    # Moved on the appliance: the same event moves (If-Match on its ETag).
    t2 = t1 + timedelta(hours=2)
    await h.records.invoke(lambda r: r.bookings.move_appointment, CALL, aid, t2, t2 + timedelta(minutes=30))
    assert await h.sync.sync_now()
    assert [(u, s) for u, s, *_ in h.events("np-rivera")] == [(uid, t2)]
    # Cancelled on the appliance: the event goes.
    await h.records.invoke(lambda r: r.appointments.cancel_appointment, CALL, aid)
    assert await h.sync.sync_now()
    assert h.events("np-rivera") == [] and (await h.appointment(aid))["cal_state"] == "removed"

    # Moved in the calendar: the appointment follows; deleted in the calendar: it is cancelled.
    aid = await staff_booking(h, "np-rivera", t1, name="Sam Lee")
    assert await h.sync.sync_now()
    uid = (await h.appointment(aid))["cal_uid"]
    t3 = t1 + timedelta(days=1)
    h.edit_event("np-rivera", uid, start=t3)
    assert await h.sync.sync_now()
    row = await h.appointment(aid)
    assert (datetime.fromisoformat(row["slot_start"]), row["status"], row["cal_state"]) == (t3, "booked", "confirmed")
    assert (row["changed_via"], row["confirmed_at"]) == ("calendar", None)  # a new time is not yet confirmed
    h.edit_event("np-rivera", uid, delete=True)
    assert await h.sync.sync_now()
    row = await h.appointment(aid)
    assert (row["status"], row["cal_state"]) == ("cancelled", "removed")
    assert row["cancelled_at"] and row["changed_via"] == "calendar"  # counted as a cancellation, and how
    assert (row["cancel_late"], row["deposit_outcome"]) == (None, None)  # the calendar does not say: staff decide
    topics = await h.records.run(lambda r: [t for (t,) in r.conn.execute("SELECT topic FROM outbox ORDER BY seq")])
    assert topics[-2:] == ["appointment.moved", "appointment.cancelled"]


async def test_server_down_bookings_are_unconfirmed_then_reconciled(harness: Harness) -> None:
    h = harness
    h.radicale.stop()
    a = await raw_booking(h, "call-1", "np-rivera", next_week(17))
    b = await raw_booking(h, "call-2", "np-rivera", next_week(19))
    assert a and b
    assert not await h.sync.sync_now()
    assert [(await h.appointment(x))["cal_state"] for x in (a, b)] == ["unconfirmed", "unconfirmed"]
    assert {r["calendar"] for r in await h.records.invoke(lambda r: r.followups.appointment_list, CALL)} == {"unconfirmed"}
    t0 = time.perf_counter()  # calls keep booking from the last known state, without the server
    assert Scheduler(h.pack.clinic, h.view).find(None, 30, clinic_now(h.pack), count=3)
    assert time.perf_counter() - t0 < 0.5
    h.radicale.start()
    h.add_event("np-rivera", next_week(19), 60, "meeting@frontdesk")  # b's slot was taken while it was down
    assert await h.sync.sync_now()
    ra, rb = await h.appointment(a), await h.appointment(b)
    assert (ra["status"], ra["cal_state"]) == ("booked", "confirmed")
    assert (rb["status"], rb["cal_state"]) == ("cancelled", "conflict")
    assert sorted(uid for uid, *_ in h.events("np-rivera")) == sorted([ra["cal_uid"], "meeting@frontdesk"])
    assert [c for _s, c, _d in await h.escalations()] == ["booking-conflict"]


async def wait_for(check) -> None:  # noqa: ANN001
    """Poll the record store (the sync task writes it; there is no event to wait on)."""
    async with asyncio.timeout(10):
        while not await check():  # noqa: ASYNC110
            await asyncio.sleep(0.1)


async def test_the_component_reconciles_by_itself_when_the_server_restarts(harness: Harness) -> None:
    h = harness
    await h.sync.start()
    aid = await phone_booking(h, "call-1")
    assert aid is not None
    await wait_for(lambda: _state(h, aid, "confirmed"))
    await asyncio.to_thread(h.radicale.stop)
    later = await raw_booking(h, "call-2", "md-chen", next_week(18))
    assert later is not None
    await wait_for(lambda: _state(h, later, "unconfirmed"))
    await asyncio.to_thread(h.radicale.start)
    await wait_for(lambda: _state(h, later, "confirmed"))
    first, second = await h.appointment(aid), await h.appointment(later)
    in_calendars = [u for p in ("np-rivera", "md-chen") for u, *_ in await asyncio.to_thread(h.events, p)]
    assert sorted(in_calendars) == sorted([first["cal_uid"], second["cal_uid"]])
    await h.sync.stop()


async def _state(h: Harness, aid: int, state: str) -> bool:
    return (await h.appointment(aid))["cal_state"] == state


async def test_a_server_without_sync_tokens_is_read_by_etags(harness: Harness, monkeypatch) -> None:  # noqa: ANN001
    h = harness
    monkeypatch.setattr(CalDAV, "_sync", lambda self, url, token: None)  # as a server without RFC 6578
    start = next_week(20)
    h.add_event("np-rivera", start, 30, "etag-1@frontdesk")
    assert await h.sync.sync_now()
    modes = await h.records.run(lambda r: {m for (m,) in r.conn.execute("SELECT mode FROM calendar_collections")})
    assert modes == {"etag"}
    local = start.astimezone(h.tz).replace(tzinfo=None)
    assert [b.start for b in h.view.on_day("np-rivera", local.date())] == [local]
    assert await raw_booking(h, "call-1", "np-rivera", start) is None  # refused: the calendar has it
    h.edit_event("np-rivera", "etag-1@frontdesk", delete=True)
    assert await h.sync.sync_now()
    assert h.view.on_day("np-rivera", local.date()) == []
    aid = await raw_booking(h, "call-2", "np-rivera", start)
    assert aid is not None and await h.sync.sync_now()
    assert (await h.appointment(aid))["cal_state"] == "confirmed"
