"""The store's rules: audited access, no double booking, the outbox, recordings, retention."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from appliance.conversation import Escalation
from appliance.records.audit import Access
from appliance.records.errors import RecordsError, SlotTakenError
from appliance.records.store import Records
from appliance.records.summary import build_summary
from tests.records.conftest import PHI, SYSTEM
from tests.records.helpers import booking_call, concern_call

ALICE = Access("staff:alice", "console:view")
T0 = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)  # a slot time


def _events(records: Records) -> list[tuple[str, str, str, str | None]]:
    return [tuple(r) for r in records.conn.execute(
        "SELECT actor, action, subject, call_id FROM audit_events ORDER BY seq")]


def test_every_phi_read_and_write_is_audited(records: Records) -> None:
    pid = records.add_patient(SYSTEM, PHI["name"], PHI["phone"])
    records.start_call(SYSTEM, "pbx-call-1", "inbound", PHI["phone"])
    records.get_patient(ALICE, pid)
    records.find_patients_by_phone(ALICE, PHI["phone"])
    records.get_transcript(ALICE, "pbx-call-1")
    assert _events(records) == [
        ("system:test", "patient.create", f"patient:{pid}", "pbx-call-1"),
        ("system:test", "call.create", "call:1", "pbx-call-1"),
        ("staff:alice", "patient.read", f"patient:{pid}", None),
        ("staff:alice", "patient.search", f"patients:{pid}", None),
        ("staff:alice", "transcript.read", "call:1", None),
    ]
    reason = records.conn.execute("SELECT reason FROM audit_events WHERE seq = 3").fetchone()[0]
    assert reason == "console:view"
    assert records.verify_audit().ok
    assert all(PHI["name"] not in " ".join(map(str, e)) for e in _events(records))  # events name ids, not people


def test_a_failed_write_leaves_no_audit_event(records: Records) -> None:
    with pytest.raises(RecordsError):
        records.end_call(SYSTEM, "no-such-call", "x", "y")
    assert _events(records) == []


def test_a_provider_slot_cannot_be_booked_twice(records: Records) -> None:
    a = records.add_patient(SYSTEM, "A")
    b = records.add_patient(SYSTEM, "B")
    first = records.book_appointment(SYSTEM, a, "np-1", T0, T0 + timedelta(minutes=30), "botox")
    with pytest.raises(SlotTakenError) as err:
        records.book_appointment(SYSTEM, b, "np-1", T0, T0 + timedelta(minutes=30), "filler")
    assert err.value.code == "slot-taken"
    records.book_appointment(SYSTEM, b, "np-2", T0, T0 + timedelta(minutes=30))  # another provider: fine
    records.appointments.cancel_appointment(SYSTEM, first)
    records.book_appointment(SYSTEM, b, "np-1", T0, T0 + timedelta(minutes=30))  # freed by the cancellation
    booked = records.conn.execute("SELECT count(*) FROM appointments WHERE status = 'booked'").fetchone()[0]
    assert booked == 2


def test_outcome_is_stored_with_summary_redacted_copy_and_outbox(records: Records) -> None:
    records.start_call(SYSTEM, "pbx-call-1", "inbound", PHI["phone"])
    live = records.record_escalation(SYSTEM, "pbx-call-1", Escalation("urgent", "filler-swelling", 1, "swelling"))
    outcome = concern_call()
    msg = records.save_outcome(SYSTEM, "pbx-call-1", outcome, build_summary(outcome))
    assert records.conn.execute("SELECT count(*) FROM escalations").fetchone()[0] == 1  # not stored twice
    assert len(records.get_transcript(SYSTEM, "pbx-call-1")) == 3
    assert records.get_summary(SYSTEM, "pbx-call-1")["escalated"] is True
    redacted = records.redacted_transcript("pbx-call-1") or ""
    assert "[NAME]" in redacted and "Zanzibarella" not in redacted and "Quixotic" not in redacted
    pending = records.outbox_pending(SYSTEM)
    assert [(m.msg_id, m.topic) for m in pending] == [(live, "escalation.raised"), (msg, "call.summary")]
    assert pending[1].payload["summary"]["intent"] == "clinical-concern"


def test_outbox_relay_is_ordered_and_idempotent(records: Records) -> None:
    records.start_call(SYSTEM, "pbx-call-1", "inbound", None)
    ids = [records.record_escalation(SYSTEM, "pbx-call-1", Escalation("routine", f"c{i}", i)) for i in range(5)]
    first = records.outbox_pending(SYSTEM, limit=3)
    assert [m.msg_id for m in first] == ids[:3] and all(m.attempts == 1 for m in first)
    assert records.outbox_delivered([m.msg_id for m in first]) == 3
    assert records.outbox_delivered([m.msg_id for m in first]) == 0  # a redelivery changes nothing
    rest = records.outbox_pending(SYSTEM)
    assert [m.msg_id for m in rest] == ids[3:]
    again = records.outbox_pending(SYSTEM)
    assert [m.attempts for m in again] == [2, 2]  # not acknowledged: offered again (at least once)


def test_outbox_message_rolls_back_with_its_data(records: Records) -> None:
    records.start_call(SYSTEM, "pbx-call-1", "inbound", None)
    a = records.add_patient(SYSTEM, "A")
    records.book_appointment(SYSTEM, a, "np-1", T0, T0 + timedelta(minutes=30))
    before = records.conn.execute("SELECT count(*) FROM outbox").fetchone()[0]
    with pytest.raises(SlotTakenError):
        records.book_appointment(SYSTEM, a, "np-1", T0, T0 + timedelta(minutes=30))
    assert records.conn.execute("SELECT count(*) FROM outbox").fetchone()[0] == before


def test_recording_is_refused_when_off(db_path: Path, key: bytes) -> None:
    records = Records.open(db_path, key)
    try:
        records.start_call(SYSTEM, "pbx-call-1", "inbound", None)
        with pytest.raises(RecordsError, match="recording is off"):
            records.add_recording(SYSTEM, "pbx-call-1", b"\0\0" * 800, 8000)
        assert records.conn.execute("SELECT count(*) FROM recordings").fetchone()[0] == 0
    finally:
        records.close()


def test_recording_round_trip_when_on(records: Records) -> None:
    records.start_call(SYSTEM, "pbx-call-1", "inbound", None)
    pcm = bytes(range(256)) * 64
    rid = records.add_recording(SYSTEM, "pbx-call-1", pcm, 8000)
    assert records.get_recording(ALICE, rid) == (pcm, 8000)
    assert ("staff:alice", "recording.read", f"recording:{rid}", None) in _events(records)


def test_retention_purge_deletes_only_old_data_and_is_audited(records: Records) -> None:
    now = datetime.now(UTC)
    records.start_call(SYSTEM, "old", "inbound", None, started_at=now - timedelta(days=400))
    records.start_call(SYSTEM, "new", "inbound", None, started_at=now - timedelta(days=1))
    for call in ("old", "new"):
        outcome = booking_call()
        records.save_outcome(SYSTEM, call, outcome, build_summary(outcome))
        records.add_recording(SYSTEM, call, b"\1\2" * 100, 8000)
    long_ago = (now - timedelta(days=60)).isoformat(timespec="microseconds")
    records.conn.execute("UPDATE recordings SET created_at = ? WHERE call_id = 1", (long_ago,))
    msgs = records.outbox_pending(SYSTEM)
    records.outbox_delivered([m.msg_id for m in msgs])
    records.conn.execute("UPDATE outbox SET delivered_at = ? WHERE seq = ?", (long_ago, msgs[0].seq))
    job = Access("system:retention", "retention")
    done = records.purge(job, {"recordings": 30, "transcripts": 365, "summaries": None, "outbox": 30}, now=now)
    assert done == {"recordings": 1, "transcripts": 4 + 1, "outbox": 1}
    assert records.conn.execute("SELECT call_id FROM recordings").fetchall() == [(2,)]
    assert records.conn.execute("SELECT DISTINCT call_id FROM turns").fetchall() == [(2,)]
    assert records.conn.execute("SELECT count(*) FROM call_summaries").fetchone()[0] == 2  # kept (None)
    assert records.conn.execute("SELECT count(*) FROM outbox").fetchone()[0] == 1
    purges = [e for e in _events(records) if e[1] == "records.purge"]
    assert [e[2].split(" ")[0] for e in purges] == ["recordings:1", "transcripts:5", "outbox:1"]
    assert all(e[0] == "system:retention" for e in purges)
    assert records.verify_audit().ok
