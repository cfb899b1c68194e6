"""Go-live on the outbound scheduler (the real SQLCipher store): a demo pack dials test phones only,
the pilot dials only its live workflows and call types, and the supervised period holds each call
until a staff member releases it. A call the appliance may not make goes to staff as a task."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from appliance.config import GoLiveSettings
from appliance.golive import store as golive_store
from appliance.golive.outbound import OutboundGate, contact_hold_id
from appliance.golive.policy import Pilot, is_test_outbound, outbound_hold, pbx_host
from appliance.scheduler.store import ScheduleStore
from tests.scheduler.conftest import STAFF, SYSTEM, treatment

LA = ZoneInfo("America/Los_Angeles")
LEASE = timedelta(seconds=120)
DAY1 = datetime(2025, 3, 8, 10, 5, tzinfo=LA)  # treated Friday 7 March: day 1 is Saturday 10:00
LAN_PBX = "192.168.10.2"


def test_the_outbound_gate_decisions_are_pure() -> None:
    lab = GoLiveSettings()
    assert pbx_host("127.0.0.1:5060") == "127.0.0.1" and pbx_host("[::1]:5060") == "::1" and pbx_host(None) is None
    assert is_test_outbound(lab, number="+15550102233", pbx="127.0.0.1")  # the lab's PBX on loopback
    assert not is_test_outbound(lab, number="+15550102233", pbx=LAN_PBX)
    assert is_test_outbound(GoLiveSettings(test_numbers=("5550102233",)), number="5550102233", pbx=LAN_PBX)
    everything = Pilot.of(lab)
    assert outbound_hold(demo=False, test_call=False, pilot=everything, kind="check-in", workflow="x") is None
    assert "demo" in (outbound_hold(demo=True, test_call=False, pilot=everything, kind="check-in", workflow="x") or "")
    assert outbound_hold(demo=True, test_call=True, pilot=everything, kind="check-in", workflow="x") is None
    pilot = Pilot.of(GoLiveSettings(pilot=True, live_workflows=("neuromodulator-botox",),
                                    live_call_types=("inbound-new", "outbound-aftercare")))
    assert outbound_hold(demo=False, test_call=False, pilot=pilot, kind="check-in",
                         workflow="neuromodulator-botox") is None
    assert "dermal-filler-ha workflow" in (outbound_hold(demo=False, test_call=False, pilot=pilot, kind="check-in",
                                                         workflow="dermal-filler-ha") or "")
    assert "recall calls" in (outbound_hold(demo=False, test_call=False, pilot=pilot, kind="recall",
                                            workflow="neuromodulator-botox") or "")


def _held_tasks(store: ScheduleStore) -> list[tuple[str, str, str, int | None]]:
    return [(r[0], r[1], r[2], r[3]) for r in store.conn.execute(
        "SELECT severity, category, detail, call_id FROM escalations ORDER BY id").fetchall()]


def _contact(store: ScheduleStore, plan: int) -> dict[str, object]:
    return store.contacts(STAFF, plan_id=plan)[0]


def test_a_demo_pack_on_the_clinics_pbx_dials_nobody_and_hands_the_check_in_to_staff(store: ScheduleStore) -> None:
    store.gate = OutboundGate(GoLiveSettings(), demo=True, pbx=LAN_PBX)
    plan = store.record_treatment(STAFF, treatment(), datetime(2025, 3, 7, 12, tzinfo=LA))
    assert store.claim_due(SYSTEM, DAY1, "w1", LEASE, 5) == []
    day1 = _contact(store, plan)
    assert day1["state"] == "cancelled" and str(day1["disposition"]).startswith("hold: the loaded pack is demo")
    ((severity, category, detail, call_id),) = _held_tasks(store)
    ref = store.conn.execute("SELECT ref FROM patients").fetchone()[0]
    assert (severity, category, call_id) == ("routine", "aftercare-call-held", None)
    assert f"patient {ref}" in detail and "day-1 check-in" in detail and "Please call the patient" in detail
    outbox = store.conn.execute("SELECT topic FROM outbox").fetchall()
    assert ("escalation.raised",) in outbox  # staff are told over the LAN like any escalation
    assert store.claim_due(SYSTEM, DAY1 + timedelta(hours=1), "w1", LEASE, 5) == []  # not retried, not re-raised
    assert len(_held_tasks(store)) == 1


def test_a_demo_pack_still_calls_a_listed_test_phone(store: ScheduleStore) -> None:
    store.gate = OutboundGate(GoLiveSettings(test_numbers=("+15550102233",)), demo=True, pbx=LAN_PBX)
    store.record_treatment(STAFF, treatment(), datetime(2025, 3, 7, 12, tzinfo=LA))
    assert len(store.claim_due(SYSTEM, DAY1, "w1", LEASE, 5)) == 1
    assert _held_tasks(store) == []


def test_the_pilot_dials_its_live_workflow_and_hands_the_filler_check_in_to_staff(store: ScheduleStore) -> None:
    store.gate = OutboundGate(GoLiveSettings(pilot=True, live_workflows=("neuromodulator-botox",)), demo=False,
                              pbx=LAN_PBX)
    botox = store.record_treatment(STAFF, treatment(), datetime(2025, 3, 7, 12, tzinfo=LA))
    filler = store.record_treatment(STAFF, treatment(name="Ria Moss", phone="+1 555 010 4455", procedure="dermal-filler-ha",
                                                     product="Juvederm", area="lips"),
                                    datetime(2025, 3, 7, 12, tzinfo=LA))
    claims = store.claim_due(SYSTEM, DAY1, "w1", LEASE, 5)
    assert [c.plan_id for c in claims] == [botox]
    assert _contact(store, filler)["disposition"] == "hold: the dermal-filler-ha workflow is not live in the pilot"
    assert [t[1] for t in _held_tasks(store)] == ["aftercare-call-held"]
    # An admin turns the filler workflow on: the next filler contact is dialled.
    golive_store.change_state(store, STAFF, "golive.workflow.enable", "workflow:dermal-filler-ha",
                              enabled_workflows=["dermal-filler-ha"])
    later = store.record_treatment(STAFF, treatment(name="Ria Moss", phone="+1 555 010 4455",
                                                    procedure="dermal-filler-ha", product="Juvederm", area="lips",
                                                    treated_on=DAY1.date()), DAY1)
    claims = store.claim_due(SYSTEM, DAY1 + timedelta(days=2), "w1", LEASE, 5)  # Monday (closed Sunday)
    assert later in [c.plan_id for c in claims]


@pytest.mark.parametrize("verb", ["released", "discarded"])
def test_the_supervised_period_holds_each_call_until_staff_review_it(store: ScheduleStore, verb: str) -> None:
    store.gate = OutboundGate(GoLiveSettings(supervised=True), demo=False, pbx=LAN_PBX)
    plan = store.record_treatment(STAFF, treatment(), datetime(2025, 3, 7, 12, tzinfo=LA))
    assert store.claim_due(SYSTEM, DAY1, "w1", LEASE, 5) == []
    day1 = _contact(store, plan)
    (held,) = golive_store.holds(store, STAFF)
    assert held["id"] == contact_hold_id(int(str(day1["id"]))) and held["kind"] == "aftercare-call"
    assert held["payload"]["contact"] == "check-in" and held["payload"]["day"] == 1
    assert day1["state"] == "due"
    assert store.claim_due(SYSTEM, DAY1 + timedelta(minutes=1), "w1", LEASE, 5) == []  # still waiting, one hold
    assert len(golive_store.holds(store, STAFF, status=None)) == 1
    golive_store.claim_hold(store, STAFF, held["id"], verb, "nurse")
    claims = store.claim_due(SYSTEM, DAY1 + timedelta(minutes=2), "w1", LEASE, 5)
    if verb == "released":
        assert [c.plan_id for c in claims] == [plan]
    else:
        assert claims == [] and _contact(store, plan)["state"] == "cancelled"
        assert str(_contact(store, plan)["disposition"]).startswith("discarded: discarded in review by nurse")
    assert _held_tasks(store) == []  # a reviewer's decision is not a staff task
