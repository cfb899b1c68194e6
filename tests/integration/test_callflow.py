"""Escalation deadlines come from the approved protocol's response-time targets; a caller ID
that belongs to one patient makes a returning patient before the greeting."""

from __future__ import annotations

import asyncio

import pytest

from appliance.calls import CallInfo
from appliance.clinic.context import CallerContext
from appliance.clinic.pack import load_pack
from appliance.clinic.service import DEMO_PACK, clinic_now, new_conversation
from appliance.config import Settings
from appliance.conversation import Escalation
from appliance.live.recorded import response_minutes
from appliance.records.audit import Access
from appliance.records.callstart import caller_context
from appliance.records.store import Records


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
    pid = await records.run(Records.add_patient, STAFF, "Dana Q.", "+1 (415) 555-0100")
    await records.run(Records.add_patient, STAFF, "Eli R.", "415 555 0199")
    caller, found = await caller_context(records, CALL, inbound("4155550100"))
    assert found == pid and caller.known_patient and caller.phone == "4155550100"
    assert caller.name is None and caller.procedure is None  # nothing else from the record is used
    reply = new_conversation(load_pack(DEMO_PACK), Settings(), caller=caller, scheduler=None).start()
    assert "Welcome back" in " ".join(s.text for s in reply.says)
    await records.run(Records.start_call, CALL, "c-1", "inbound", "4155550100", None, found)
    audit = await records.run(lambda r: r.conn.execute("SELECT action, subject FROM audit_events").fetchall())
    assert ("patient.lookup", f"patients:{pid}") in [tuple(a) for a in audit]


@pytest.mark.parametrize("number", ["4155550123", "", "2001", "anonymous"])
async def test_unknown_short_or_withheld_numbers_are_asked(records, number: str) -> None:
    await records.run(Records.add_patient, STAFF, "Dana Q.", "+1 (415) 555-0100")
    caller, found = await caller_context(records, CALL, inbound(number))
    assert found is None and not caller.known_patient
    conv = new_conversation(load_pack(DEMO_PACK), Settings(), caller=caller, scheduler=None)
    greeting = " ".join(s.text for s in conv.start().says)
    assert "welcome back" not in greeting.lower() and greeting.endswith("How can I help?")  # one open question
    reply = await conv.caller_said("hello?")  # nothing that settles it: the new-or-returning question
    assert "new patient" in " ".join(s.text for s in reply.says)


async def test_a_shared_number_is_nobody_in_particular(records) -> None:
    await records.run(Records.add_patient, STAFF, "Dana Q.", "+1 (415) 555-0100")
    await records.run(Records.add_patient, STAFF, "Sam Q.", "415.555.0100")
    caller, found = await caller_context(records, CALL, inbound("14155550100"))
    assert found is None and not caller.known_patient


async def test_outbound_calls_and_a_stuck_store_do_not_look_up(records, monkeypatch) -> None:
    await records.run(Records.add_patient, STAFF, "Dana Q.", "+1 (415) 555-0100")
    caller, found = await caller_context(records, CALL, inbound("4155550100", "outbound"))
    assert found is None and not caller.known_patient

    async def stuck(*_args, **_kwargs):
        await asyncio.sleep(30)

    monkeypatch.setattr(records, "run", stuck)
    monkeypatch.setattr("appliance.records.callstart.LOOKUP_TIMEOUT_S", 0.05)
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


# -- hostile identifiers, a reused Call-ID, a store that cannot write (issue 21) ------------

RED_FLAG = "my lip filler was yesterday and my lip has turned white"
HEADACHE = "I had xeomin last week and now I have a severe headache"


@pytest.fixture
def runner(records, monkeypatch):  # noqa: ANN201
    """The real call runner on the real record store, the voice session replaced by a script."""
    import sys
    import types

    from appliance.callflow import CallRunner
    from tests.records import scripted_call

    module = types.ModuleType("appliance.voice.session")
    module.VoiceSession = scripted_call.ScriptedSession  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "appliance.voice.session", module)
    return CallRunner(Settings(), None, load_pack(DEMO_PACK), records, scheduler=None)  # type: ignore[arg-type]


def rows(records, sql: str, *args):  # noqa: ANN201
    return records.run(lambda r: r.conn.execute(sql, args).fetchall())


async def test_a_call_with_undecodable_identifiers_keeps_its_row_and_escalation(records, runner) -> None:
    from tests.records.scripted_call import run_call

    call_id = "a\udcff\udc80b\x00c@pbx" + "x" * 5000  # bytes that are not UTF-8, a NUL, far too long
    info = CallInfo(call_id=call_id, direction="inbound", remote_number="415\udcff5550100",
                    remote_name="\udce9ve \x1b[31m")
    heard = await run_call(runner, info, [RED_FLAG])
    assert any(a.kind == "transfer" for a in heard[-1].actions)
    (call,) = await rows(records, "SELECT id, pbx_call_id, caller_number, end_reason FROM calls")
    assert len(call[1]) <= 256 and call[1].startswith("a\ufffd\ufffdb?c@pbx")
    assert call[2] == "415\ufffd5550100" and call[3] == "remote-bye"
    escalations = await rows(records, "SELECT severity, category, call_id FROM escalations")
    assert escalations == [("emergency", "vascular-compromise", call[0])]
    assert [t for (t,) in await rows(records, "SELECT topic FROM outbox ORDER BY seq")] == [
        "escalation.raised", "call.summary"]
    turns = await rows(records, "SELECT speaker, text FROM turns WHERE call_id = ? ORDER BY idx", call[0])
    assert ("caller", RED_FLAG) in turns
    queue = await records.invoke(lambda r: r.queue.escalation_queue, STAFF)
    assert [q["category"] for q in queue] == ["vascular-compromise"]


async def test_a_reused_call_id_makes_a_second_call_not_an_overwrite(records, runner) -> None:
    from tests.records.scripted_call import run_call

    first = CallInfo(call_id="same@pbx", direction="inbound", remote_number="4155550101")
    second = CallInfo(call_id="same@pbx", direction="inbound", remote_number="4155550202")
    await run_call(runner, first, [RED_FLAG])
    await run_call(runner, second, ["new patient", "how much is lip filler"])
    calls = await rows(records, "SELECT id, pbx_call_id, caller_number FROM calls ORDER BY id")
    assert [(c[1], c[2]) for c in calls] == [("same@pbx", "4155550101"), ("same@pbx", "4155550202")]
    said = {}
    for cid, *_ in calls:
        said[cid] = [t for s, t in await rows(records, "SELECT speaker, text FROM turns WHERE call_id = ? "
                                                       "ORDER BY idx", cid) if s == "caller"]
    assert said[calls[0][0]] == [RED_FLAG]
    assert said[calls[1][0]] == ["new patient", "how much is lip filler"]
    flags = await rows(records, "SELECT call_id, count(*) FROM escalations GROUP BY call_id")
    assert flags == [(calls[0][0], 1)]
    summaries = {r["id"]: r["summary"]["escalated"] for r in await records.invoke(lambda r: r.review.summaries_for_review, STAFF)}
    assert summaries == {calls[0][0]: True, calls[1][0]: False}


async def test_a_locked_store_journals_the_escalation_transfers_the_caller_and_replays_at_start(
        tmp_path, monkeypatch) -> None:
    """A database that cannot be written (held by another writer) during the whole call: the
    escalation goes to the encrypted journal, the caller hears the approved line and is
    transferred to the on-call injector, and the next start puts the escalation in the queue."""
    import stat
    import sys
    import types

    from appliance.callflow import CallRunner
    from appliance.records.db import connect
    from appliance.records.keys import ensure_key
    from appliance.records.service import AsyncRecords, RecordStore
    from tests.records import scripted_call

    module = types.ModuleType("appliance.voice.session")
    module.VoiceSession = scripted_call.ScriptedSession  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "appliance.voice.session", module)
    settings = Settings.model_validate({"paths": {"data_dir": str(tmp_path / "var")}})
    key = ensure_key(settings.db_key_file)
    records = AsyncRecords(settings.db_path, key)
    await records.open()
    await records.run(lambda r: r.conn.execute("PRAGMA busy_timeout = 20"))
    pack = load_pack(DEMO_PACK)
    runner = CallRunner(settings, None, pack, records, scheduler=None)  # type: ignore[arg-type]
    blocker = connect(settings.db_path, key)
    blocker.execute("BEGIN EXCLUSIVE")  # another writer holds the database for the whole call
    try:
        info = CallInfo(call_id="locked@pbx", direction="inbound", remote_number="4155550303")
        heard = await scripted_call.run_call(runner, info, [HEADACHE])  # urgent, a call-back: no transfer
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    reply = heard[-1]
    transfers = [a for a in reply.actions if a.kind == "transfer"]
    assert transfers and transfers[0].target == pack.clinic.on_call[0].extension
    last = reply.says[-1]
    assert last.provenance == pack.prov("dialogue.escalate_urgent") and not last.interruptible
    journal = settings.db_path.with_name(settings.db_path.name + ".escalations")  # beside the database
    assert journal.exists() and stat.S_IMODE(journal.stat().st_mode) == 0o600
    data = journal.read_bytes()
    assert b"4155550303" not in data and b"locked@pbx" not in data  # encrypted
    await records.close()

    store = RecordStore(settings)
    await store.start()  # replays the journal, closes the call the store never saw end
    try:
        assert store.records is not None
        queue = await store.records.invoke(lambda r: r.queue.escalation_queue, STAFF)
        assert [(q["severity"], q["category"]) for q in queue] == [("urgent", "severe-headache")]
        topics = await rows(store.records, "SELECT topic FROM outbox")
        assert ("escalation.raised",) in topics
        assert not journal.exists()
        assert await store.records.replay_journal(STAFF) == (0, 0)
    finally:
        await store.stop()


async def test_a_phone_call_leaves_no_patient_data_in_the_logs(records, runner, tmp_path, capfd, monkeypatch) -> None:
    """A real SIP call (SIPp on loopback, the real edge and call runner): the caller's number,
    name and words are in the encrypted record and nowhere in the logs."""
    from appliance.config import SipSettings
    from appliance.telephony.edge import SipEdge
    from tests.records import scripted_call
    from tests.telephony.conftest import DATA, free_udp_port, sipp

    said = ["new patient", "my neighbour Brunhildegard Zanzibarella recommended you", HEADACHE]
    monkeypatch.setattr(scripted_call, "DEFAULT", said)
    scenario = tmp_path / "uac_named_caller.xml"
    scenario.write_text((DATA / "uac_wait_bye.xml").read_text(encoding="latin-1").replace(
        '"Caller [call_number]" <sip:555[call_number]@', '"Zanzibarella Quixotic" <sip:4155550177@'),
        encoding="latin-1")
    edge = SipEdge(SipSettings(bind_port=free_udp_port(), rtp_port_min=30000, rtp_port_max=39999), runner)
    await edge.start()
    try:
        rc, out = await sipp(f"127.0.0.1:{edge.port}", "-sf", str(scenario), "-s", "2100", "-m", "1", "-i",
                             "127.0.0.1", "-p", str(free_udp_port()), "-mp", str(free_udp_port()), limit_s=30)
        for _ in range(100):  # bounded: the post-call writes finish after the BYE
            if await rows(records, "SELECT 1 FROM calls WHERE ended_at IS NOT NULL"):
                break
            await asyncio.sleep(0.05)
    finally:
        await asyncio.wait_for(edge.stop(), timeout=5)
    (call,) = await rows(records, "SELECT id, caller_number FROM calls")
    assert call[1] == "4155550177", out  # the call ran and was recorded
    stored = [t for (t,) in await rows(records, "SELECT text FROM turns WHERE speaker = 'caller'")]
    assert stored == said
    captured = capfd.readouterr()
    logs = captured.err + captured.out
    assert "call.started" in logs  # the logs were captured
    for secret in ("4155550177", "5550177", "Zanzibarella", "Quixotic", "Brunhildegard", "neighbour", "xeomin last week",
                   *said):
        assert secret.lower() not in logs.lower(), f"{secret!r} is in the logs"


def test_numbers_and_uris_in_log_fields_become_keyed_tags(tmp_path, capfd) -> None:
    """A call site that forgets `phone()` still logs a tag: the fields are redacted centrally."""
    import re
    import stat

    from appliance import logs

    logs.use_install_key(tmp_path / "secrets")
    tag = logs.phone("+1 (415) 555-0177")
    assert re.fullmatch(r"ph-[0-9a-f]{12}", tag) and tag == logs.phone("14155550177")
    logs.get_logger("test").info("test.numbers", caller="+1 (415) 555-0177", uri="sip:14155550177@pbx.example;x=1",
                                 remote_number="14155550177")
    err = capfd.readouterr().err
    assert "555" not in err and err.count(tag) == 3 and "@pbx.example" in err
    key = tmp_path / "secrets" / "log.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    logs.use_install_key(tmp_path / "secrets")
    assert logs.phone("14155550177") == tag  # the same install key after a restart
