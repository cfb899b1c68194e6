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


def test_migrations_are_numbered_without_gaps() -> None:
    assert [m.version for m in migrations()] == list(range(1, LATEST + 1))
    assert LATEST >= 2


def test_previous_version_migrates_and_keeps_its_data(db_path: Path, key: bytes) -> None:
    conn = connect(db_path, key)
    assert migrate(conn, target=LATEST - 1) == LATEST - 1
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
        assert versions == list(range(1, LATEST + 1))
    finally:
        records.close()


def test_reopening_applies_nothing_twice(db_path: Path, key: bytes) -> None:
    Records.open(db_path, key).close()
    conn = connect(db_path, key)
    try:
        assert migrate(conn) == LATEST
        assert conn.execute("SELECT count(*) FROM schema_version").fetchone()[0] == LATEST
    finally:
        conn.close()


def test_a_newer_database_is_refused(db_path: Path, key: bytes) -> None:
    Records.open(db_path, key).close()
    conn = connect(db_path, key)
    conn.execute("INSERT INTO schema_version VALUES (?, 'future', 't')", (LATEST + 1,))
    conn.close()
    with pytest.raises(SchemaError, match="newer"):
        Records.open(db_path, key)
