"""The shadow call's record: the pure account (transcript in time order, would-be replies and
escalations tied to the turn that raised them) and its storage in the real encrypted store,
every write and read audited, purged with the transcripts' retention."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from appliance.conversation import Action, ConversationOutcome, Escalation, Reply, Say
from appliance.golive.shadow import store
from appliance.golive.shadow.record import ShadowLog
from appliance.records.audit import Access
from appliance.records.base import iso
from appliance.records.errors import NotFoundError

WHO = Access("staff:nina", "console:shadow")


def a_call() -> tuple[ShadowLog, ConversationOutcome]:
    log = ShadowLog("call-k1", "pbx-1", "5550106666", iso(), [{"label": "1", "role": "patient"},
                                                              {"label": "2", "role": "staff"}], "caller-match")
    log.would_reply(Reply(says=(Say("Thank you for calling.", "pack@1#greeting"),)), None, 0.0, [])
    staff = log.heard("staff", "2", 0.2, 2.9, "Harbor Light, this is Sam.", 0.8)
    patient = log.heard("patient", "1", 3.5, 7.9, "My lip has turned white since the filler.", 0.7)
    log.heard("staff", "2", 9.5, 12.0, "I'm getting the nurse.", 0.8)
    assert (staff, patient) == (0, 1)
    esc = Escalation("emergency", "vascular-compromise", 1, "fi-rf-blanching", 'exact match of "white"')
    log.would_reply(Reply(says=(Say("Hang up and call 911 now.", "pack@1#dialogue.escalate_emergency"),),
                          actions=(Action("escalate", severity="emergency", category="vascular-compromise"),
                                   Action("transfer", target="201", attended=True))), patient, 8.6, [esc])
    return log, ConversationOutcome(outcome="escalated", escalations=[esc], pack="pack@1")


def test_the_record_keeps_both_sides_in_time_order_and_what_would_have_been_done() -> None:
    log, outcome = a_call()
    log.heard("staff", "2", 1.0, 1.5, "Hello?", None)  # ended later than turn 1, began earlier
    doc = log.document(outcome, "clinical-concern")
    assert [t["start_s"] for t in doc["transcript"]] == [0.2, 1.0, 3.5, 9.5]
    assert [t["speaker"] for t in doc["transcript"]] == ["staff", "staff", "patient", "staff"]
    patient_turn = doc["transcript"][2]["turn"]
    reply = doc["replies"][1]
    assert reply["after"] == patient_turn and reply["actions"][1] == {"kind": "transfer", "target": "201",
                                                                      "severity": None, "category": None}
    assert doc["escalations"] == [{"severity": "emergency", "category": "vascular-compromise",
                                   "flag": "fi-rf-blanching", "evidence": 'exact match of "white"',
                                   "after": patient_turn, "at_s": 8.6}]
    assert doc["replies"][0]["after"] is None and log.would_escalate == "emergency"
    assert doc["outcome"] == "escalated" and doc["intent"] == "clinical-concern"


async def test_stored_encrypted_and_every_read_audited(async_records) -> None:
    log, outcome = a_call()
    access = Access("system:shadow", "shadow call", call_id="pbx-1")
    sid = await async_records.run(lambda r: store.save(
        r, access, log.call_key, log.pbx_call_id, log.caller_number, log.started_at, "remote-bye", outcome.outcome,
        "clinical-concern", log.would_escalate, log.document(outcome, "clinical-concern")))
    rows = await async_records.run(lambda r: store.shadow_calls(r, WHO))
    assert [(r["id"], r["caller_number"], r["would_escalate"]) for r in rows] == [(sid, "5550106666", "emergency")]
    one = await async_records.run(lambda r: store.shadow_call(r, WHO, sid))
    assert one["record"]["escalations"][0]["category"] == "vascular-compromise"
    with pytest.raises(NotFoundError):
        await async_records.run(lambda r: store.shadow_call(r, WHO, sid + 1))
    events = await async_records.run(lambda r: r.conn.execute(
        "SELECT actor, action, subject FROM audit_events WHERE action LIKE 'shadow.%' ORDER BY seq").fetchall())
    assert [tuple(e) for e in events] == [("system:shadow", "shadow.create", f"shadow:{sid}"),
                                          ("staff:nina", "shadow.list", "shadow:1"),
                                          ("staff:nina", "shadow.read", f"shadow:{sid}")]
    # Nothing live came of it: no escalation, no outbox message.
    counts = await async_records.run(lambda r: [r.conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]  # noqa: S608
                                                for t in ("escalations", "outbox", "calls")])
    assert counts == [0, 0, 0]
    retention = Access("system:retention", "retention")
    # Shadow calls are transcripts: the records' retention takes them with the transcripts' days.
    later = datetime.now(UTC) + timedelta(days=2)
    kept = await async_records.run(lambda r: r.purge(retention, {"transcripts": 3}, now=later))
    gone = await async_records.run(lambda r: r.purge(retention, {"transcripts": 1}, now=later))
    left = await async_records.run(lambda r: r.conn.execute("SELECT count(*) FROM shadow_calls").fetchone()[0])
    assert (kept["transcripts"], gone["transcripts"], left) == (0, 1, 0)
