"""The scheduling policy on a virtual clock: clinic hours, quiet hours, time zones, retries, capacity."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from appliance.clinic.pack import Pack
from appliance.scheduler.plan import PlanRules, plan_contacts
from appliance.scheduler.policy import CallPolicy, ContactRights, may_contact, outbound_capacity

LA = ZoneInfo("America/Los_Angeles")
WEEKDAYS_ONLY = {"mon": "09:00-18:00", "tue": "09:00-18:00", "wed": "09:00-18:00", "thu": "09:00-18:00",
                 "fri": "09:00-17:00", "sat": "closed", "sun": "closed"}


def policy(**kw: object) -> CallPolicy:
    return CallPolicy(clinic_tz="America/Los_Angeles", clinic_hours=WEEKDAYS_ONLY, **kw)  # type: ignore[arg-type]


def local(y: int, m: int, d: int, hh: int, mm: int = 0, tz: ZoneInfo = LA) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=tz)


def test_friday_plan_day1_moves_to_monday(pack: Pack) -> None:
    friday = date(2025, 3, 7)
    assert friday.weekday() == 4
    day1 = plan_contacts(pack.workflows["neuromodulator-botox"], friday)[0]
    assert (day1.kind, day1.day, day1.due_on) == ("check-in", 1, date(2025, 3, 8))  # a Saturday: closed
    due = day1.due_local(PlanRules()).replace(tzinfo=LA)
    slot = policy().next_allowed(due)
    assert slot == local(2025, 3, 10, 9).astimezone(UTC)  # Monday 09:00, the first allowed minute


def test_inside_hours_is_kept_as_is() -> None:
    t = local(2025, 3, 11, 10, 15)
    assert policy().next_allowed(t) == t.astimezone(UTC)
    assert policy().allowed_at(t, "America/Los_Angeles")


def test_closing_margin_and_evening() -> None:
    p = policy()
    assert p.next_allowed(local(2025, 3, 7, 16, 45)) == local(2025, 3, 10, 9).astimezone(UTC)  # Fri after 16:30
    assert p.next_allowed(local(2025, 3, 11, 17, 31)) == local(2025, 3, 12, 9).astimezone(UTC)


def test_patient_time_zone_quiet_hours() -> None:
    p = policy()
    monday_9 = local(2025, 3, 10, 9)
    # 09:00 in Los Angeles is 06:00 in Honolulu: wait for 09:00 there (12:00 in LA)
    assert p.next_allowed(monday_9, "Pacific/Honolulu") == local(2025, 3, 10, 12).astimezone(UTC)
    # 17:00 in LA is 20:00 in New York: quiet there, so the next day at 09:00 LA
    assert p.next_allowed(local(2025, 3, 11, 17, 0), "America/New_York") == local(2025, 3, 12, 9).astimezone(UTC)
    # New York at 16:00 LA is 19:00: still allowed
    assert p.next_allowed(local(2025, 3, 11, 16, 0), "America/New_York") == local(2025, 3, 11, 16).astimezone(UTC)


def test_quiet_hours_configurable_and_no_slot() -> None:
    p = policy(quiet_start=time(12, 0), quiet_end=time(13, 0))  # a lunch-time quiet hour
    assert p.next_allowed(local(2025, 3, 11, 12, 10)) == local(2025, 3, 11, 13).astimezone(UTC)
    closed = CallPolicy(clinic_tz="America/Los_Angeles", clinic_hours={"sun": "closed"})
    assert closed.next_allowed(local(2025, 3, 11, 10)) is None
    with pytest.raises(ValueError, match="timezone"):
        policy().next_allowed(datetime(2025, 3, 11, 10))  # noqa: DTZ001 - the naive time is the point


@given(st.datetimes(min_value=datetime(2024, 1, 1), max_value=datetime(2027, 1, 1)),  # noqa: DTZ001
       st.sampled_from(["America/Los_Angeles", "America/New_York", "Pacific/Honolulu", "Europe/London"]))
@settings(max_examples=200, deadline=None)
def test_property_slot_is_allowed_and_earliest(naive: datetime, ptz: str) -> None:
    p = policy()
    t = naive.replace(tzinfo=UTC)
    slot = p.next_allowed(t, ptz)
    assert slot is not None and slot >= t
    c = slot.astimezone(LA)
    assert c.weekday() < 5  # the clinic is closed at weekends
    last_start = "16:30" if c.weekday() == 4 else "17:30"  # closing time less the 30-minute margin
    assert "09:00" <= c.strftime("%H:%M") < last_start
    pl = slot.astimezone(ZoneInfo(ptz)).time()
    assert time(9) <= pl < time(20)
    if slot > t:  # nothing allowed in between: one minute earlier is not allowed
        assert not p.allowed_at(slot - timedelta(minutes=1), ptz)


def test_retries_limited_and_spaced() -> None:
    p = policy(max_attempts=3)
    now = local(2025, 3, 11, 10)
    assert p.after_attempt(1, "no-answer", now) == (now + timedelta(hours=2)).astimezone(UTC)
    assert p.after_attempt(1, "busy", now) == (now + timedelta(minutes=30)).astimezone(UTC)
    assert p.after_attempt(3, "no-answer", now) is None  # attempts used up
    assert p.after_attempt(1, "completed", now) is None  # not a retryable result
    late = local(2025, 3, 11, 16, 0)
    assert p.after_attempt(1, "no-answer", late) == local(2025, 3, 12, 9).astimezone(UTC)  # next allowed slot
    assert p.after_attempt(1, "no-answer", late, expires_at=local(2025, 3, 11, 23)) is None  # past its expiry


def test_capacity_leaves_inbound_lines() -> None:
    assert outbound_capacity(active_outbound=0, active_inbound=0, max_calls=10, max_outbound=2, reserve_inbound=2) == 2
    assert outbound_capacity(active_outbound=1, active_inbound=0, max_calls=10, max_outbound=2, reserve_inbound=2) == 1
    assert outbound_capacity(active_outbound=0, active_inbound=8, max_calls=10, max_outbound=2, reserve_inbound=2) == 0
    assert outbound_capacity(active_outbound=0, active_inbound=7, max_calls=10, max_outbound=5, reserve_inbound=2) == 1
    assert outbound_capacity(active_outbound=3, active_inbound=0, max_calls=4, max_outbound=5, reserve_inbound=2) == 0


def test_consent_and_opt_out() -> None:
    assert may_contact(ContactRights(True, False), require_consent=True) == (True, "ok")
    assert may_contact(ContactRights(True, True), require_consent=True) == (False, "opted-out")
    assert may_contact(ContactRights(False, False), require_consent=False) == (False, "consent-withdrawn")
    assert may_contact(ContactRights(None, False), require_consent=True) == (False, "no-consent")
    assert may_contact(ContactRights(None, False), require_consent=False) == (True, "ok")


def test_plans_per_family(pack: Pack) -> None:
    treated = date(2025, 3, 7)
    kinds = {wf: [(c.kind, c.day) for c in plan_contacts(pack.workflows[wf], treated)] for wf in pack.workflows}
    assert kinds["neuromodulator-botox"][:2] == [("check-in", 1), ("check-in", 3)]
    assert ("recall", 83) in kinds["neuromodulator-botox"]  # 3-month recall, a week ahead
    assert ("touch-up", 14) in kinds["dermal-filler-ha"] and ("recall", 173) in kinds["dermal-filler-ha"]  # 6 months
    assert ("check-in", 7) in kinds["dermal-filler-ha"]
    for wf in ("laser-diode-hair", "laser-ipl-pigment", "microneedling-face", "peel-medium"):
        assert any(k == "series" for k, _ in kinds[wf]), wf
    last = plan_contacts(pack.workflows["peel-medium"], treated, session=3)  # the series is complete
    assert not any(c.kind == "series" for c in last)
    for contacts in kinds.values():
        days = [d for _, d in contacts]
        assert days == sorted(days) and len(set(days)) == len(days)
