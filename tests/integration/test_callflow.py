"""Escalation deadlines come from the approved protocol's response-time targets."""

from __future__ import annotations

from appliance.callflow import response_minutes
from appliance.clinic.pack import load_pack
from appliance.clinic.service import DEMO_PACK
from appliance.conversation import Escalation


def test_response_minutes_follow_the_workflow_of_the_red_flag() -> None:
    pack = load_pack(DEMO_PACK)
    filler = pack.workflows["dermal-filler-ha"].response_time
    flag = next(f for f in pack.workflows["dermal-filler-ha"].red_flags if f.severity == "urgent")
    assert response_minutes(pack, Escalation("urgent", flag.category, 2, flag.id)) == filler.urgent_minutes
    routine = Escalation("routine", "clinical-question", 2, "outside the approved protocol")
    strictest = min(w.response_time.routine_hours for w in pack.workflows.values()) * 60
    assert response_minutes(pack, routine) == strictest
