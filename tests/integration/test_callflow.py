"""Escalation deadlines come from the approved protocol's response-time targets; a caller ID
that belongs to one patient makes a returning patient before the greeting."""

from __future__ import annotations

import asyncio

import pytest

from appliance.callflow import caller_context, response_minutes
from appliance.calls import CallInfo
from appliance.clinic.context import CallerContext
from appliance.clinic.pack import load_pack
from appliance.clinic.service import DEMO_PACK, clinic_now, new_conversation
from appliance.config import Settings
from appliance.conversation import Escalation
from appliance.records.audit import Access


def test_response_minutes_follow_the_workflow_of_the_red_flag() -> None:
    pack = load_pack(DEMO_PACK)
    filler = pack.workflows["dermal-filler-ha"].response_time
    flag = next(f for f in pack.workflows["dermal-filler-ha"].red_flags if f.severity == "urgent")
    assert response_minutes(pack, Escalation("urgent", flag.category, 2, flag.id)) == filler.urgent_minutes
    routine = Escalation("routine", "clinical-question", 2, "outside the approved protocol")
    strictest = min(w.response_time.routine_hours for w in pack.workflows.values()) * 60
    assert response_minutes(pack, routine) == strictest


# -- caller ID: a returning patient is recognised before the greeting ----------------------

STAFF = Access(actor="system:test", reason="test")
CALL = Access(actor="system:call", reason="call", call_id="c-1")


@pytest.fixture
def records(async_records):  # noqa: ANN201
    return async_records


def inbound(number: str, direction: str = "inbound") -> CallInfo:
    return CallInfo(call_id="c-1", direction=direction, remote_number=number)  # type: ignore[arg-type]


async def test_a_known_number_is_a_returning_patient_linked_to_the_call(records) -> None:
    pid = await records.call("add_patient", STAFF, "Dana Q.", "+1 (415) 555-0100")
    await records.call("add_patient", STAFF, "Eli R.", "415 555 0199")
    caller, found = await caller_context(records, CALL, inbound("4155550100"))
    assert found == pid and caller.known_patient and caller.phone == "4155550100"
    assert caller.name is None and caller.procedure is None  # nothing else from the record is used
    reply = new_conversation(load_pack(DEMO_PACK), Settings(), caller=caller, scheduler=None).start()
    assert "Welcome back" in " ".join(s.text for s in reply.says)
    await records.call("start_call", CALL, "c-1", "inbound", "4155550100", None, found)
    audit = await records.run(lambda r: r.conn.execute("SELECT action, subject FROM audit_events").fetchall())
    assert ("patient.lookup", f"patients:{pid}") in [tuple(a) for a in audit]


@pytest.mark.parametrize("number", ["4155550123", "", "2001", "anonymous"])
async def test_unknown_short_or_withheld_numbers_are_asked(records, number: str) -> None:
    await records.call("add_patient", STAFF, "Dana Q.", "+1 (415) 555-0100")
    caller, found = await caller_context(records, CALL, inbound(number))
    assert found is None and not caller.known_patient
    reply = new_conversation(load_pack(DEMO_PACK), Settings(), caller=caller, scheduler=None).start()
    assert "new patient" in " ".join(s.text for s in reply.says)


async def test_a_shared_number_is_nobody_in_particular(records) -> None:
    await records.call("add_patient", STAFF, "Dana Q.", "+1 (415) 555-0100")
    await records.call("add_patient", STAFF, "Sam Q.", "415.555.0100")
    caller, found = await caller_context(records, CALL, inbound("14155550100"))
    assert found is None and not caller.known_patient


async def test_outbound_calls_and_a_stuck_store_do_not_look_up(records, monkeypatch) -> None:
    await records.call("add_patient", STAFF, "Dana Q.", "+1 (415) 555-0100")
    caller, found = await caller_context(records, CALL, inbound("4155550100", "outbound"))
    assert found is None and not caller.known_patient

    async def stuck(*_args, **_kwargs):
        await asyncio.sleep(30)

    monkeypatch.setattr(records, "call", stuck)
    monkeypatch.setattr("appliance.callflow.LOOKUP_TIMEOUT_S", 0.05)
    caller, found = await caller_context(records, CALL, inbound("4155550100"))
    assert found is None and not caller.known_patient and caller.phone == "4155550100"


# -- shadow mode: a test call reports to the page, stores nothing --------------------------

async def test_a_test_calls_conversation_is_reported_not_stored() -> None:
    from appliance.callflow import ShadowConversation
    from appliance.clinic.engine import ClinicConversation

    events: list[dict] = []
    pack = load_pack(DEMO_PACK)
    conv = ShadowConversation(ClinicConversation(pack, now=clinic_now(pack), caller=CallerContext()), events.append,
                              "test-1")
    conv.start()
    assert events[0]["type"] == "agent" and "Thank you for calling" in events[0]["text"] and events[0]["approved"]
    events.clear()
    items = [i async for i in conv.caller_said_stream("my lip filler was yesterday and my lip has turned white")]
    assert events[0] == {"type": "caller", "text": "my lip filler was yesterday and my lip has turned white"}
    assert [e["type"] for e in events[1:]] == ["agent", "escalation"]
    assert events[2] == {"type": "escalation", "severity": "emergency", "category": "vascular-compromise",
                         "paged": False}
    assert any(a.kind == "transfer" for a in items[-1].actions)  # the voice session still gets the actions
    events.clear()
    told = await conv.transfer_failed("201", "test call: transfers are not placed")
    assert told.says and [e["type"] for e in events] == ["agent", "escalation"]
    assert events[1]["category"] == "transfer-failed"
    assert conv.records is None and len(conv.ended("remote-bye").escalations) == 2
