"""The pure go-live decisions: test calls, the demo gate, the pilot, the supervised period."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from appliance.config import GoLiveSettings
from appliance.golive.policy import Pilot, Supervision, gate, is_test_call


@pytest.mark.parametrize(("source", "number", "expected"), [
    ("127.0.0.1", "5550100", True),      # loopback: a test source by default
    ("192.0.2.50", "5550100", True),     # listed test phone
    ("192.0.2.1", "5550100", False),     # the PBX relaying a patient
    ("192.0.2.1", "7005", True),         # a test extension behind the PBX
    ("192.0.2.10", "5550100", True),     # the box itself (doctor's voice-path call)
    (None, "5550100", False),
    ("not-an-ip", "", False),
])
def test_test_calls(source: str | None, number: str, expected: bool) -> None:
    golive = GoLiveSettings(test_sources=("127.0.0.0/8", "192.0.2.50/32"), test_numbers=("7005",))
    assert is_test_call(golive, source=source, number=number, direction="inbound",
                        own_address="192.0.2.10") is expected


def test_test_numbers_count_for_inbound_calls_only() -> None:
    golive = GoLiveSettings(test_sources=(), test_numbers=("7005",))
    assert not is_test_call(golive, source="192.0.2.1", number="7005", direction="outbound")


def test_the_demo_gate() -> None:
    assert gate(demo=True, test_call=False) == "not-in-service"
    assert gate(demo=True, test_call=True) == "answer"
    assert gate(demo=False, test_call=False) == "answer"


def test_bad_test_sources_are_refused_in_the_config() -> None:
    with pytest.raises(ValueError):
        GoLiveSettings(test_sources=("not-a-network",))
    with pytest.raises(ValueError):
        GoLiveSettings(test_numbers=("12a",))


def test_no_pilot_means_everything_is_live() -> None:
    p = Pilot.of(GoLiveSettings())
    assert p.live("inbound-aftercare", "dermal-filler-ha") and p.live("recall", None)


def test_a_pilot_with_one_workflow_and_what_an_admin_turned_on() -> None:
    golive = GoLiveSettings(pilot=True, live_workflows=("neuromodulator-botox",),
                            live_call_types=("inbound-new", "inbound-aftercare"))
    p = Pilot.of(golive)
    assert p.live("inbound-aftercare", "neuromodulator-botox")
    assert not p.live("inbound-aftercare", "dermal-filler-ha")
    assert not p.live("outbound-aftercare", "neuromodulator-botox")
    assert p.live("inbound-new", None)  # intake before any workflow is known
    assert Pilot.of(golive, ["dermal-filler-ha"]).live("inbound-aftercare", "dermal-filler-ha")


def test_the_supervised_period_ends_only_when_allowed_and_asked() -> None:
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    s = Supervision(True, t0, None)
    days = GoLiveSettings(supervised=True, supervised_days=14)
    assert s.active()
    assert s.may_end(days, t0 + timedelta(days=3), {}, ["a"])[0] is False
    assert s.may_end(days, t0 + timedelta(days=14), {}, ["a"])[0] is True
    calls = GoLiveSettings(supervised=True, supervised_calls=20)
    ok, why = s.may_end(calls, t0, {"a": 20, "b": 3}, ["a", "b"])
    assert not ok and "b" in why
    assert s.may_end(calls, t0, {"a": 20, "b": 20}, ["a", "b"])[0]
    ended = Supervision(True, t0, t0 + timedelta(days=20))
    assert not ended.active() and not ended.may_end(days, t0 + timedelta(days=30), {}, [])[0]
