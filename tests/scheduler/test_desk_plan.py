"""The front desk's pure rules: when reminders are due, who is called back (no clock, no I/O)."""

from __future__ import annotations

from datetime import datetime, timedelta
from types import SimpleNamespace
from zoneinfo import ZoneInfo

from appliance.conversation import Turn
from appliance.scheduler.desk_plan import (
    DeskRules,
    before_hours_of,
    callback_decision,
    callback_number,
    disposition_of,
    plan_callback,
    plan_reminders,
    said_something,
    stale_reminder,
)
from appliance.scheduler.policy import CallPolicy, hhmm

LA = ZoneInfo("America/Los_Angeles")
HOURS = {"mon": "09:00-18:00", "tue": "09:00-18:00", "wed": "09:00-18:00", "thu": "09:00-19:00",
         "fri": "09:00-17:00", "sat": "10:00-14:00", "sun": "closed"}
POLICY = CallPolicy(clinic_tz="America/Los_Angeles", clinic_hours=HOURS)
RULES = DeskRules(before_hours=(48, 2))


def at(d: int, hh: int, mm: int = 0) -> datetime:
    return datetime(2025, 3, d, hh, mm, tzinfo=LA)  # March 2025: the 10th is a Monday


def test_reminders_48_and_2_hours_before() -> None:
    slot = at(12, 15)  # Wednesday 15:00
    planned = plan_reminders(slot, at(3, 12), RULES, POLICY)
    assert [(p.lead_hours, p.due_at, p.next_at) for p in planned] == [
        (48, at(10, 15), at(10, 15)), (2, at(12, 13), at(12, 13))]
    assert all(p.expires_at == slot - timedelta(minutes=30) for p in planned)


def test_a_booking_10_hours_ahead_gets_only_the_2_hour_reminder() -> None:
    slot = at(12, 15)
    planned = plan_reminders(slot, slot - timedelta(hours=10), RULES, POLICY)
    assert [p.lead_hours for p in planned] == [2]
    assert plan_reminders(slot, slot - timedelta(hours=1), RULES, POLICY) == []  # both past: nothing


def test_quiet_hours_and_closed_clinic_push_a_reminder_later() -> None:
    # Wednesday 10:00 appointment: 48 h before is Monday 10:00 (open), 2 h before is 08:00
    # (before opening, inside quiet hours): pushed to 09:00, still before the 09:30 cut-off.
    planned = plan_reminders(at(12, 10), at(3, 12), RULES, POLICY)
    assert [(p.lead_hours, p.next_at) for p in planned] == [(48, at(10, 10)), (2, at(12, 9))]
    # Monday 09:30 appointment: 48 h before is Saturday 09:30 (opens at 10:00) -> Saturday 10:00;
    # 2 h before (07:30) would be pushed to 09:00, inside the cut-off: dropped.
    planned = plan_reminders(at(10, 9, 30), at(3, 12), RULES, POLICY)
    assert [(p.lead_hours, p.next_at) for p in planned] == [(48, at(8, 10))]
    # Quiet hours in the patient's time zone: 2 h before a Monday 11:00 LA appointment is 09:00 LA,
    # 12:00 in New York (allowed), but in a zone where it is 07:00 it waits.
    quiet = CallPolicy(clinic_tz="America/Los_Angeles", clinic_hours=HOURS, quiet_start=hhmm("20:00"),
                       quiet_end=hhmm("10:00"))
    (two,) = [p for p in plan_reminders(at(10, 11), at(3, 12), RULES, quiet) if p.lead_hours == 2]
    assert two.next_at == at(10, 10)


def test_a_moved_appointment_is_replanned_and_a_cancelled_one_cancels() -> None:
    old, new = at(12, 15), at(14, 11)
    assert stale_reminder(old, "booked", old) is None
    assert stale_reminder(old, "booked", new) == "appointment-moved"
    assert stale_reminder(old, "cancelled", old) == "appointment-cancelled"
    assert stale_reminder(old, "no-show", old) == "appointment-no-show"
    assert stale_reminder(old, "completed", old) == "appointment-completed"
    replanned = plan_reminders(new, at(11, 12), RULES, POLICY)  # moved on Tuesday noon to Friday 11:00
    assert [(p.lead_hours, p.next_at) for p in replanned] == [(48, at(12, 11)), (2, at(14, 9))]


def test_reminders_close_together_collapse_into_the_later_one() -> None:
    rules = DeskRules(before_hours=(3, 2))
    assert [p.lead_hours for p in plan_reminders(at(12, 15), at(3, 12), rules, POLICY)] == [2]


def test_the_pack_sets_the_leads() -> None:
    assert before_hours_of(SimpleNamespace(clinic=SimpleNamespace(reminders=SimpleNamespace(before_hours=[48, 2])))) \
        == (48, 2)
    assert before_hours_of(SimpleNamespace(clinic=SimpleNamespace(reminders=None))) == ()
    assert before_hours_of(SimpleNamespace(clinic=SimpleNamespace())) == ()  # a pack from before the field


def test_withheld_and_short_numbers_are_never_called_back() -> None:
    for raw in ("anonymous", "Anonymous", "restricted", "", None, "2101", "201", "+12345", "unknown"):
        assert callback_number(raw) is None, raw
        assert callback_decision(raw, opted_out=False, pending=False) == (False, "no-number")
    assert callback_number("5550107801") == "15550107801"
    assert callback_number("+1 (555) 010-7801") == "15550107801"


def test_call_backs_are_deduplicated_and_opt_outs_honoured() -> None:
    assert callback_decision("5550107801", opted_out=False, pending=False) == (True, "ok")
    assert callback_decision("5550107801", opted_out=False, pending=True) == (False, "already-pending")
    assert callback_decision("5550107801", opted_out=True, pending=False) == (False, "opted-out")


def test_call_back_after_the_delay_within_the_call_windows() -> None:
    rules = DeskRules()
    t = plan_callback(at(11, 12), rules, POLICY)
    assert t is not None and t.next_at == at(11, 12, 2) and t.expires_at == at(12, 12, 2)
    late = plan_callback(at(11, 21), rules, POLICY)  # Tuesday 21:00: the clinic has closed
    assert late is not None and late.next_at == at(12, 9)
    sat = plan_callback(at(15, 15), rules, POLICY)  # Saturday 15:00, closed: returned when it opens on Monday
    assert sat is not None and sat.next_at == at(17, 9) and sat.expires_at == at(18, 9)


def test_a_caller_who_said_nothing_and_the_dispositions() -> None:
    assert not said_something([Turn("agent", "Hello, Glow clinic"), Turn("caller", "  "), Turn("caller", "...")])
    assert said_something([Turn("agent", "Hello"), Turn("caller", "hi")])
    assert said_something([Turn("caller", "[pressed 1]")])
    assert disposition_of({"appointment_changes": [{"op": "confirm", "appointment_id": 1}]}, talked=True) == "confirmed"
    assert disposition_of({"appointment_changes": [{"op": "move"}]}, talked=True) == "moved"
    assert disposition_of({"outbound": {"disposition": "voicemail"}}, talked=False) == "voicemail"
    assert disposition_of({}, talked=False) == "hung-up"
    assert disposition_of({}, talked=True, booked=True) == "booked"
    assert disposition_of({}, talked=True) == "reached"
