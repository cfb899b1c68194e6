"""Tampering is caught: flipped bytes (page HMACs) and altered, deleted or reordered audit events."""

from __future__ import annotations

from pathlib import Path

import pytest

from appliance.records.audit import Access
from appliance.records.db import DatabaseError, connect, integrity_problems
from appliance.records.errors import WrongKeyError
from appliance.records.store import Records
from tests.records.conftest import PHI, SYSTEM, flip_byte

PAGE = 4096


def _fill(records: Records, n: int = 6) -> None:
    for i in range(n):
        pid = records.add_patient(SYSTEM, f"{PHI['name']} {i}", PHI["phone"])
        records.get_patient(Access("staff:alice", "console:view"), pid)


def _raw(db_path: Path, key: bytes):
    """A plain SQLCipher connection with the raw key: what someone with the key could do."""
    return connect(db_path, key, create=False)


def test_a_sound_database_checks_clean(records: Records) -> None:
    _fill(records)
    assert integrity_problems(records.conn) == []
    report = records.verify_audit()
    assert report.ok and report.events == 12


def test_flipped_bytes_fail_cipher_integrity_check(records: Records, db_path: Path, key: bytes) -> None:
    _fill(records, 30)
    records.close()  # checkpoints: every page is in the main file
    pages = db_path.stat().st_size // PAGE
    assert pages > 4
    flip_byte(db_path, 3 * PAGE + 1000)
    conn = _raw(db_path, key)
    try:
        problems = integrity_problems(conn)
    finally:
        conn.close()
    assert any("HMAC" in p and "page 4" in p for p in problems), problems  # page 4 (1-based) is named


def test_a_flipped_first_page_is_refused_at_open(records: Records, db_path: Path, key: bytes) -> None:
    _fill(records)
    records.close()
    flip_byte(db_path, 200)
    with pytest.raises(WrongKeyError):
        _raw(db_path, key)


def test_triggers_refuse_update_and_delete_of_audit_events(records: Records) -> None:
    _fill(records, 1)
    with pytest.raises(DatabaseError, match="append-only"):
        records.conn.execute("UPDATE audit_events SET actor = 'staff:mallory' WHERE seq = 1")
    with pytest.raises(DatabaseError, match="append-only"):
        records.conn.execute("DELETE FROM audit_events WHERE seq = 1")


def _tamper(db_path: Path, key: bytes, *sql: str) -> None:
    conn = _raw(db_path, key)
    try:
        conn.execute("DROP TRIGGER audit_events_no_update")
        conn.execute("DROP TRIGGER audit_events_no_delete")
        for statement in sql:
            conn.execute(statement)
    finally:
        conn.close()


@pytest.mark.parametrize(("sql", "first_bad", "word"), [
    (["UPDATE audit_events SET actor = 'staff:mallory' WHERE seq = 5"], 5, "altered"),
    (["UPDATE audit_events SET at = '2020-01-01T00:00:00.000000+00:00' WHERE seq = 9"], 9, "altered"),
    (["DELETE FROM audit_events WHERE seq = 7"], 8, "missing"),
    (["DELETE FROM audit_events WHERE seq IN (3, 4)"], 5, "missing"),
    # Reorder: swap events 4 and 5 (all fields), keep the seq numbers.
    (["CREATE TEMP TABLE s AS SELECT * FROM audit_events WHERE seq IN (4, 5)",
      "UPDATE audit_events SET (at, actor, action, subject, reason, call_id, prev_hash, hash) = "
      "(SELECT at, actor, action, subject, reason, call_id, prev_hash, hash FROM s WHERE s.seq = 9 - audit_events.seq) "
      "WHERE seq IN (4, 5)"], 4, "does not follow"),
    # Renumber: delete 6 and shift the later events down, keeping their hashes.
    (["DELETE FROM audit_events WHERE seq = 6", "UPDATE audit_events SET seq = seq - 1 WHERE seq > 6"], 6,
     "does not follow"),
])
def test_audit_verify_names_the_first_bad_event(records: Records, db_path: Path, key: bytes,
                                                sql: list[str], first_bad: int, word: str) -> None:
    _fill(records)
    records.close()
    _tamper(db_path, key, *sql)
    reopened = Records.open(db_path, key)
    try:
        report = reopened.verify_audit()
    finally:
        reopened.close()
    assert not report.ok
    assert report.first_bad_seq == first_bad, report
    assert word in report.problem
    assert report.events == first_bad - 1 or word == "missing"


def test_an_anchor_detects_events_removed_from_the_end(records: Records, db_path: Path, key: bytes) -> None:
    _fill(records)
    anchor = records.verify_audit().head
    assert anchor and anchor.startswith("12:")
    records.get_patient(SYSTEM, 1)  # the trail grows: the anchor stays valid
    assert records.verify_audit(anchor).ok
    records.close()
    _tamper(db_path, key, "DELETE FROM audit_events WHERE seq >= 11")
    reopened = Records.open(db_path, key)
    try:
        assert reopened.verify_audit().ok  # without an anchor a truncated chain still checks
        report = reopened.verify_audit(anchor)
    finally:
        reopened.close()
    assert not report.ok and report.first_bad_seq == 12 and "removed from the end" in report.problem
