"""At rest: no PHI in the database file, its WAL or a backup; a wrong key changes nothing."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from appliance.conversation import Escalation
from appliance.records.backup import create_backup
from appliance.records.db import connect
from appliance.records.errors import WrongKeyError
from appliance.records.store import Records
from appliance.records.summary import build_summary
from tests.records.conftest import PHI, SYSTEM, files_bytes, phi_leaks
from tests.records.helpers import concern_call


def _write_phi(records: Records) -> None:
    pid = records.add_patient(SYSTEM, PHI["name"], PHI["phone"], PHI["dob"], PHI["email"], PHI["address"])
    records.start_call(SYSTEM, "pbx-call-1", "inbound", PHI["phone"])
    records.record_escalation(SYSTEM, "pbx-call-1", Escalation("urgent", "filler-swelling", 1, PHI["said"]))
    outcome = concern_call()
    records.save_outcome(SYSTEM, "pbx-call-1", outcome, build_summary(outcome))
    records.add_recording(SYSTEM, "pbx-call-1", (PHI["said"] * 50).encode(), 8000)
    assert records.get_patient(SYSTEM, pid)["name"] == PHI["name"]


def test_the_phi_written_is_readable_and_the_test_scan_finds_plaintext(tmp_path: Path) -> None:
    """The scan is real: the same bytes in a plain file are found."""
    plain = tmp_path / "plain.txt"
    plain.write_text(f"{PHI['name']} {PHI['phone']}")
    assert phi_leaks(files_bytes(plain))


def test_database_and_wal_contain_no_plaintext(records: Records, db_path: Path, key: bytes) -> None:
    _write_phi(records)
    wal = db_path.with_name(db_path.name + "-wal")
    assert wal.exists() and wal.stat().st_size > 0  # the data is (also) in the WAL right now
    assert phi_leaks(files_bytes(db_path)) == []
    assert key.hex().encode() not in files_bytes(db_path)
    records.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    assert phi_leaks(files_bytes(db_path)) == []


def test_backup_contains_no_plaintext(records: Records, db_path: Path, key: bytes, tmp_path: Path) -> None:
    _write_phi(records)
    out = tmp_path / "backup.bin"
    create_backup(db_path, key, out)
    data = out.read_bytes()
    assert len(data) > 4096
    assert phi_leaks(data) == []
    assert key.hex().encode() not in data and key not in data


def test_wrong_key_fails_clearly_and_changes_nothing(records: Records, db_path: Path) -> None:
    _write_phi(records)
    records.close()
    before = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in db_path.parent.iterdir() if p.is_file()}
    with pytest.raises(WrongKeyError) as err:
        Records.open(db_path, os.urandom(32))
    assert err.value.code == "db-wrong-key"
    assert "key" in err.value.message and "nothing was changed" in (err.value.fix or "")
    after = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in db_path.parent.iterdir() if p.is_file()}
    assert after == before


def test_database_file_is_private(records: Records, db_path: Path, key_file: Path) -> None:
    assert oct(db_path.stat().st_mode & 0o777) == oct(0o600)
    assert oct(key_file.stat().st_mode & 0o777) == oct(0o600)


def test_settings_are_wal_and_full_sync(records: Records) -> None:
    assert records.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert records.conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert records.conn.execute("PRAGMA cipher_version").fetchone()[0].startswith("4.")


def test_missing_database_is_not_created_when_asked_not_to(tmp_path: Path, key: bytes) -> None:
    from appliance.records.errors import RecordsError

    with pytest.raises(RecordsError):
        connect(tmp_path / "absent.db", key, create=False)
    assert not (tmp_path / "absent.db").exists()
