"""A staged pilot: with only the neuromodulator workflow live, a filler aftercare call becomes a
message for staff with the built-in pilot line; a Botox aftercare call goes on; red flags still
escalate whatever is live."""

from __future__ import annotations

from appliance.clinic.context import CallerContext
from appliance.clinic.engine import ClinicConversation
from appliance.clinic.pack import load_pack
from appliance.clinic.service import DEMO_PACK, clinic_now
from appliance.config import GoLiveSettings
from appliance.golive.lines import PILOT_MESSAGE, PILOT_MESSAGE_PROVENANCE
from appliance.golive.pilot import PilotConversation
from appliance.golive.policy import Pilot

NEUROMODULATORS = ("neuromodulator-botox", "neuromodulator-dysport", "neuromodulator-xeomin")
PILOT = Pilot.of(GoLiveSettings(pilot=True, live_workflows=NEUROMODULATORS))


def call(pilot: Pilot = PILOT) -> PilotConversation:
    pack = load_pack(DEMO_PACK)
    conv = PilotConversation(ClinicConversation(pack, now=clinic_now(pack), caller=CallerContext()), pilot, "c-1")
    conv.start()
    return conv


async def test_a_filler_aftercare_call_becomes_a_message_for_staff() -> None:
    conv = call()
    reply = await conv.caller_said("Hi, I had lip filler last week and I have a question about it")
    assert reply.says[0].text == PILOT_MESSAGE and reply.says[0].provenance == PILOT_MESSAGE_PROVENANCE
    assert conv.diverted == ("inbound-aftercare", "dermal-filler-ha")
    assert conv.inner.s.state == "message"
    reply = await conv.caller_said("Please ask the nurse to call me back about my lips")
    outcome = conv.ended("remote-bye")
    assert outcome.outcome == "message-taken" and outcome.slots["message"].startswith("Please ask")
    assert any(t["kind"] == "message" for t in outcome.slots["staff_tasks"])
    agent = [t for t in outcome.turns if t.speaker == "agent"]
    assert PILOT_MESSAGE in [t.text for t in agent]  # the transcript holds what was said, nothing more


async def test_a_botox_aftercare_call_goes_on() -> None:
    conv = call()
    reply = await conv.caller_said("Hi, I had Botox last week and I have a question about it")
    assert conv.diverted is None and all(s.provenance != PILOT_MESSAGE_PROVENANCE for s in reply.says)


async def test_a_red_flag_escalates_even_on_a_workflow_that_is_not_live() -> None:
    conv = call()
    reply = await conv.caller_said("my lip filler was yesterday and my lip has turned white")
    assert any(a.kind == "escalate" for a in reply.actions) and conv.diverted is None
    assert conv.ended("remote-bye").escalations[0].severity == "emergency"


async def test_a_call_type_not_live_becomes_a_message() -> None:
    conv = call(Pilot.of(GoLiveSettings(pilot=True, live_workflows=NEUROMODULATORS,
                                        live_call_types=("inbound-aftercare",))))
    await conv.caller_pressed("1")  # a new patient
    assert conv.diverted == ("inbound-new", None) and conv.inner.s.state == "message"
