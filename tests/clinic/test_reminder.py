"""Reminder calls and missed-call call-backs, as conversations (pure: the clock is passed in)."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from appliance.clinic.appointments import InMemoryDesk, Upcoming
from appliance.clinic.context import CallerContext
from appliance.clinic.outbound_lines import load_lines
from appliance.clinic.pack import DEMO_PACK, load_pack
from appliance.clinic.reminder import callback_call, reminder_call
from appliance.clinic.schedule import InMemoryBookingStore, Scheduler

PACK = load_pack(DEMO_PACK)
LINES = load_lines(PACK, approved=False)
NOW = datetime(2025, 3, 12, 10, 0)  # a Wednesday
DOB = date(1985, 3, 3)


def _call(start: datetime, deposit_cents: int = 0, treatment: str = "botox"):  # noqa: ANN202
    appt = Upcoming(41, start, 30, "np-rivera", treatment, deposit_cents)
    return reminder_call(PACK, LINES, appt=appt, name="Dana Lee", dob=DOB, phone="5550102233", now=NOW,
                         scheduler=Scheduler(PACK.clinic, InMemoryBookingStore()))


def _ids(reply) -> list[str]:  # noqa: ANN001
    return [s.provenance.split("#")[1] for s in reply.says]


async def _verified(call) -> object:  # noqa: ANN001
    first = call.start()
    assert "Dana" not in " ".join(s.text for s in first.says)  # nothing about the patient before identity
    await call.caller_said("Dana Lee")
    return await call.caller_said("March third, nineteen eighty five")


async def test_the_reminder_is_read_after_identity_and_yes_confirms_with_before_visit_instructions() -> None:
    call = _call(datetime(2025, 3, 14, 14, 0))
    reply = await _verified(call)
    assert _ids(reply) == ["outbound.intro_reminder"]
    assert "Friday, March 14 at 2 PM" in reply.says[0].text
    reply = await call.caller_said("Yes, I'll be there.")
    ids = _ids(reply)
    assert ids[0] == "dialogue.appt_confirmed" and "dialogue.before_visit_intro" in ids
    assert "bx-bv-makeup" in ids  # the Botox workflow's approved before-visit lines
    reply = await call.caller_said("No, that's all.")
    assert reply.end_call
    out = call.ended("completed")
    assert out.slots["appointment_changes"] == [{"op": "confirm", "appointment_id": 41}]
    assert out.slots["outbound"]["appointment"] == "confirm" and out.slots["outbound"]["reached"]


async def test_press_2_moves_the_appointment_with_the_same_provider() -> None:
    call = _call(datetime(2025, 3, 14, 14, 0))
    await _verified(call)
    reply = await call.caller_pressed("2")
    assert _ids(reply) == ["dialogue.appt_move_intro", "dialogue.offer_slot"]
    assert "Alex Rivera" in reply.says[1].text
    reply = await call.caller_pressed("1")  # yes
    assert _ids(reply)[0] == "dialogue.appt_moved" and "bx-bv-makeup" in _ids(reply)  # before-visit lines too
    change = call.ended("completed").slots["appointment_changes"][0]
    assert change["op"] == "move" and change["provider"] == "np-rivera" and change["start"] != "2025-03-14T14:00"


async def test_press_3_tomorrow_tells_the_late_policy_before_cancelling() -> None:
    call = _call(datetime(2025, 3, 13, 9, 0), deposit_cents=5000)
    await _verified(call)
    reply = await call.caller_pressed("3")
    assert _ids(reply) == ["dialogue.appt_cancel_check_late"]
    reply = await call.caller_said("Yes, cancel it.")
    assert _ids(reply)[0] == "dialogue.appt_cancelled_kept"
    assert call.ended("completed").slots["appointment_changes"] == [
        {"op": "cancel", "appointment_id": 41, "late": True, "deposit": "kept"}]


async def test_a_red_flag_on_a_reminder_call_escalates_before_anything_else() -> None:
    call = _call(datetime(2025, 3, 14, 14, 0))
    await _verified(call)
    reply = await call.caller_said("Actually my throat feels tight and my lips are swelling since this morning.")
    assert _ids(reply)[0].startswith("dialogue.escalate_emergency") or any(a.kind == "transfer" for a in reply.actions)
    out = call.ended("completed")
    assert out.escalations and out.escalations[0].severity == "emergency"
    assert not out.slots.get("appointment_changes")


@pytest.mark.parametrize("said", ["Sam Ortiz", "Dana Lee"])
async def test_a_wrong_identity_hears_nothing_of_the_appointment(said: str) -> None:
    call = _call(datetime(2025, 3, 14, 14, 0))
    call.start()
    await call.caller_said(said)
    if said == "Dana Lee":
        await call.caller_said("June first, 1990")
        reply = await call.caller_said("June first, 1990")
    else:
        reply = await call.caller_said("Sam Ortiz")
    assert reply.end_call and _ids(reply) == ["outbound.identity_failed"]
    out = call.ended("completed")
    assert "March 14" not in " ".join(t.text for t in out.turns if t.speaker == "agent")
    assert out.outcome == "identity-failed" and not out.slots.get("appointment_changes")


async def test_an_answering_machine_gets_the_no_phi_message() -> None:
    call = _call(datetime(2025, 3, 14, 14, 0))
    call.start()
    reply = await call.caller_said("Hi, you've reached Dana, please leave a message after the tone.")
    assert reply.end_call and _ids(reply) == ["outbound.voicemail"]


async def test_a_call_back_greets_as_a_returned_call_then_runs_the_usual_conversation() -> None:
    appt = Upcoming(52, datetime(2025, 3, 19, 11, 0), 60, "np-rivera", "lip-filler", 10000)
    conv = callback_call(PACK, caller=CallerContext(phone="5550109999"), now=NOW,
                         scheduler=Scheduler(PACK.clinic, InMemoryBookingStore()),
                         desk=InMemoryDesk(people={("dana lee", DOB): [appt]}))
    assert _ids(conv.start()) == ["dialogue.greeting_callback"]
    reply = await conv.caller_said("Oh hi, yes, I called because I need to cancel my appointment.")
    assert _ids(reply) == ["dialogue.appt_identify"]
    reply = await conv.caller_said("Dana Lee, March 3rd 1985")
    assert _ids(reply) == ["dialogue.appt_cancel_check"]
    reply = await conv.caller_said("Yes please.")
    assert _ids(reply)[0] == "dialogue.appt_cancelled_refund"


async def test_a_patient_booked_by_phone_without_a_date_of_birth_is_checked_by_full_name() -> None:
    appt = Upcoming(41, datetime(2025, 3, 14, 14, 0), 30, "np-rivera", "botox")
    call = reminder_call(PACK, LINES, appt=appt, name="Dana Lee", dob=None, phone="5550102233", now=NOW,
                         scheduler=Scheduler(PACK.clinic, InMemoryBookingStore()))
    call.start()
    reply = await call.caller_said("Dana")  # the first name alone is not enough
    assert _ids(reply) == ["outbound.identity_retry"]
    reply = await call.caller_said("It's Dana Lee.")
    assert _ids(reply) == ["outbound.intro_reminder"]
