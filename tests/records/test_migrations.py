"""Versioned migrations: a database at the previous schema version migrates and keeps its data."""

from __future__ import annotations

from pathlib import Path

import pytest

from appliance.records.db import connect
from appliance.records.errors import SchemaError
from appliance.records.migrations import LATEST, current_version, migrate, migrations
from appliance.records.store import Records
from appliance.records.summary import build_summary
from tests.records.conftest import PHI, SYSTEM
from tests.records.helpers import booking_call


def test_migrations_are_numbered_in_order_each_number_once() -> None:
    versions = [m.version for m in migrations()]
    assert versions == sorted(set(versions)) and versions[0] == 1 and versions[-1] == LATEST
    assert LATEST >= 2


def test_previous_version_migrates_and_keeps_its_data(db_path: Path, key: bytes) -> None:
    """A schema-5 database (calls named by the PBX's Call-ID, no call key) migrates to the latest."""
    conn = connect(db_path, key)
    assert migrate(conn, target=5) == 5
    conn.execute("INSERT INTO patients (name, phone, created_at, updated_at) VALUES (?, ?, 't', 't')",
                 (PHI["name"], PHI["phone"]))
    conn.execute("INSERT INTO calls (pbx_call_id, direction, started_at) VALUES ('pbx-call-1', 'inbound', 't')")
    conn.execute("INSERT INTO escalations (call_id, severity, category, created_at) VALUES (1, 'urgent', 'x', 't')")
    conn.close()

    records = Records.open(db_path, key)  # start-up applies the missing migration
    try:
        assert current_version(records.conn) == LATEST
        assert records.get_patient(SYSTEM, 1)["name"] == PHI["name"]
        assert records.conn.execute("SELECT severity, outbox_msg_id FROM escalations").fetchall() == [("urgent", None)]
        outcome = booking_call()
        records.save_outcome(SYSTEM, "pbx-call-1", outcome, build_summary(outcome))  # new tables work
        assert records.get_summary(SYSTEM, "pbx-call-1")["intent"] == "booking"
        versions = [r[0] for r in records.conn.execute("SELECT version FROM schema_version ORDER BY version")]
        assert versions == [m.version for m in migrations()]
    finally:
        records.close()


def test_version_6_escalations_gain_an_empty_evidence_and_new_ones_keep_theirs(db_path: Path, key: bytes) -> None:
    """Schema 7 adds `escalations.evidence` (why the red flag fired); older escalations keep theirs empty."""
    from appliance.conversation import Escalation

    conn = connect(db_path, key)
    assert migrate(conn, target=6) == 6
    conn.execute("INSERT INTO calls (call_key, pbx_call_id, direction, started_at) "
                 "VALUES ('call-old', 'pbx-call-1', 'inbound', 't')")
    conn.execute("INSERT INTO escalations (call_id, severity, category, detail, created_at) "
                 "VALUES (1, 'urgent', 'x', 'rf-old', 't')")
    conn.close()

    records = Records.open(db_path, key)
    try:
        assert current_version(records.conn) == LATEST
        esc = Escalation("urgent", "allergy", 2, "mn-rf-allergy", 'mn-rf-allergy: lexicon match of "hives"')
        records.record_escalation(SYSTEM, "call-old", esc)
        rows = records.conn.execute("SELECT detail, evidence FROM escalations ORDER BY id").fetchall()
        assert rows == [("rf-old", ""), ("mn-rf-allergy", 'mn-rf-allergy: lexicon match of "hives"')]
    finally:
        records.close()


def test_reopening_applies_nothing_twice(db_path: Path, key: bytes) -> None:
    Records.open(db_path, key).close()
    conn = connect(db_path, key)
    try:
        assert migrate(conn) == LATEST
        assert conn.execute("SELECT count(*) FROM schema_version").fetchone()[0] == len(migrations())
    finally:
        conn.close()


def test_a_newer_database_is_refused(db_path: Path, key: bytes) -> None:
    Records.open(db_path, key).close()
    conn = connect(db_path, key)
    conn.execute("INSERT INTO schema_version VALUES (?, 'future', 't')", (LATEST + 1,))
    conn.close()
    with pytest.raises(SchemaError, match="newer"):
        Records.open(db_path, key)


def test_version_2_database_gains_the_console_tables_and_keeps_its_data(db_path: Path, key: bytes) -> None:
    """A store written before the console moved in (schema 2): users, escalations, summaries and
    an undelivered outbox message survive, and the console's queue, review and delivery work on them."""
    conn = connect(db_path, key)
    assert migrate(conn, target=2) == 2
    conn.executescript(
        "INSERT INTO staff_users (username, display_name, role, password_hash, created_at) "
        "VALUES ('nina', 'Nina', 'clinician', '$argon2id$x', 't');"
        "INSERT INTO patients (name, phone, created_at, updated_at) VALUES ('Pat Q.', '4155550100', 't', 't');"
        "INSERT INTO calls (pbx_call_id, direction, patient_id, started_at) "
        "VALUES ('pbx-old', 'inbound', 1, '2026-01-05T10:00:00.000000+00:00');"
        "INSERT INTO escalations (call_id, severity, category, created_at) "
        "VALUES (1, 'urgent', 'filler-swelling', '2026-01-05T10:01:00.000000+00:00');"
        "INSERT INTO call_summaries (call_id, summary, created_at) VALUES (1, '{\"intent\": \"booking\", "
        "\"procedure\": \"lip filler\", \"slots\": {}}', '2026-01-05T10:05:00.000000+00:00');"
        "INSERT INTO outbox (msg_id, topic, payload, created_at) VALUES ('m-old', 'call.summary', '{}', 't');")
    conn.close()

    records = Records.open(db_path, key)
    try:
        assert current_version(records.conn) == LATEST
        nina = records.users.staff_user("nina")
        assert nina is not None and nina["role"] == "clinician" and nina["extension"] is None
        queue = records.queue.escalation_queue(SYSTEM)
        assert [(e["patient_label"], e["status"]) for e in queue] == [("Pat Q.", "open")]
        assert queue[0]["deadline_at"] == "2026-01-05T10:16:00.000000+00:00"  # the severity's default target
        reviewed = records.review.review_summary(SYSTEM, 1, "nina", "Booking: lip filler consult.", finalize=True)
        assert reviewed["status"] == "final" and reviewed["corrections"] == 1 and reviewed["procedure"] == "lip filler"
        records.outbox_set_endpoints(["console"], now=0.0)  # the old undelivered message reaches the new consumer
        due = records.outbox_due(SYSTEM, "console", now=0.0)
        assert [m.msg_id for m in due][:1] == ["m-old"]
        assert records.verify_audit().ok
    finally:
        records.close()
