"""Backups: encrypted, integrity-checked, restored by a verified round trip; key rotation."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from appliance.records.backup import MAGIC, create_backup, restore_backup, verify_backup
from appliance.records.db import connect, content_digest
from appliance.records.errors import BackupError, WrongKeyError
from appliance.records.keys import pending_key_path, read_key, write_key
from appliance.records.migrations import LATEST
from appliance.records.rotate import rekey, resolve_key
from appliance.records.store import Records
from appliance.records.summary import build_summary
from tests.records.conftest import PHI, SYSTEM, flip_byte
from tests.records.helpers import booking_call


def _populate(records: Records) -> None:
    records.add_patient(SYSTEM, PHI["name"], PHI["phone"], PHI["dob"], PHI["email"], PHI["address"])
    records.start_call(SYSTEM, "pbx-call-1", "inbound", PHI["phone"])
    outcome = booking_call()
    records.save_outcome(SYSTEM, "pbx-call-1", outcome, build_summary(outcome))
    records.add_recording(SYSTEM, "pbx-call-1", os.urandom(64_000), 8000)


def _digest(db_path: Path, key: bytes) -> tuple[str, dict[str, int]]:
    conn = connect(db_path, key, create=False)
    try:
        return content_digest(conn)
    finally:
        conn.close()


def test_backup_restore_round_trip(records: Records, db_path: Path, key: bytes, tmp_path: Path) -> None:
    _populate(records)
    out = tmp_path / "b1.appliance-backup"
    info = create_backup(db_path, key, out)
    assert out.read_bytes().startswith(MAGIC)
    assert oct(out.stat().st_mode & 0o777) == oct(0o600)
    assert info.manifest["rows"]["patients"] == 1 and info.manifest["rows"]["recordings"] == 1
    assert verify_backup(out, key)["content_sha256"] == info.manifest["content_sha256"]
    at_backup = _digest(db_path, key)[0]  # the backup's own audit event is inside it
    records.add_patient(SYSTEM, "Someone Later")  # changes after the backup
    records.close()

    kept = restore_backup(out, key, db_path, key)
    assert kept is not None and kept.exists()  # the replaced database is kept aside
    r = Records.open(db_path, key)
    try:
        rows = r.conn.execute("SELECT name FROM patients ORDER BY id").fetchall()
        assert rows == [(PHI["name"],)]
        assert r.get_transcript(SYSTEM, "pbx-call-1")[1]["text"].startswith("Hi, my name is")
        report = r.verify_audit()
        assert report.ok
        last = r.conn.execute("SELECT action FROM audit_events ORDER BY seq DESC LIMIT 2").fetchall()
        assert last == [("transcript.read",), ("db.restore",)]
    finally:
        r.close()
    assert at_backup != _digest(db_path, key)[0]  # the restore added its audit events, nothing else changed


def test_restore_onto_an_empty_box(records: Records, db_path: Path, key: bytes, tmp_path: Path) -> None:
    _populate(records)
    out = tmp_path / "b.bak"
    create_backup(db_path, key, out)
    new_db = tmp_path / "other" / "appliance.db"
    new_db.parent.mkdir()
    new_key = os.urandom(32)
    assert restore_backup(out, key, new_db, new_key) is None
    r = Records.open(new_db, new_key)
    try:
        assert r.get_patient(SYSTEM, 1)["email"] == PHI["email"]
    finally:
        r.close()
    with pytest.raises(WrongKeyError):
        connect(new_db, key, create=False)  # re-encrypted under the box's own key


@pytest.mark.parametrize("where", ["manifest", "payload", "mac", "truncate"])
def test_a_damaged_backup_is_refused_and_nothing_changes(records: Records, db_path: Path, key: bytes,
                                                         tmp_path: Path, where: str) -> None:
    _populate(records)
    out = tmp_path / "b.bak"
    create_backup(db_path, key, out)
    records.close()
    before = _digest(db_path, key)
    size = out.stat().st_size
    if where == "manifest":
        data = out.read_bytes()
        version = f'"schema_version": {LATEST}'.encode()
        assert version in data
        out.write_bytes(data.replace(version, f'"schema_version": {LATEST + 1}'.encode()))
    elif where == "payload":
        flip_byte(out, size // 2)
    elif where == "mac":
        flip_byte(out, size - 1)
    else:
        os.truncate(out, size - 100)
    with pytest.raises(BackupError):
        restore_backup(out, key, db_path, key)
    assert _digest(db_path, key) == before
    assert not list(tmp_path.glob("appliance.db.before-restore-*"))


def test_backup_under_another_key_names_the_key(records: Records, db_path: Path, key: bytes, tmp_path: Path) -> None:
    out = tmp_path / "b.bak"
    create_backup(db_path, key, out)
    with pytest.raises(WrongKeyError, match="another database key"):
        verify_backup(out, os.urandom(32))


def test_backup_never_overwrites(records: Records, db_path: Path, key: bytes, tmp_path: Path) -> None:
    out = tmp_path / "b.bak"
    out.write_bytes(b"precious")
    with pytest.raises(BackupError, match="exists"):
        create_backup(db_path, key, out)
    assert out.read_bytes() == b"precious"


def test_rekey_rotates_and_keeps_everything(records: Records, db_path: Path, key: bytes, key_file: Path,
                                            tmp_path: Path) -> None:
    _populate(records)
    old_backup = tmp_path / "before-rekey.bak"
    create_backup(db_path, key, old_backup)
    records.close()
    digest = _digest(db_path, key)[0]
    rekey(db_path, key_file)
    new = read_key(key_file)
    assert new != key and not pending_key_path(key_file).exists()
    assert oct(key_file.stat().st_mode & 0o777) == oct(0o600)
    with pytest.raises(WrongKeyError):
        connect(db_path, key, create=False)
    r = Records.open(db_path, new)
    try:
        assert r.verify_audit().ok  # the chain survives rotation
        assert r.conn.execute("SELECT action FROM audit_events ORDER BY seq DESC LIMIT 1").fetchone() == ("db.rekey",)
        assert r.get_patient(SYSTEM, 1)["name"] == PHI["name"]
    finally:
        r.close()
    assert digest != _digest(db_path, new)[0]  # only the rekey event was added
    restore_backup(old_backup, key, db_path, new)  # an old backup restores with the old key
    assert Records.open(db_path, new).get_patient(SYSTEM, 1)["phone"] == PHI["phone"]


def test_interrupted_rotation_is_finished_or_abandoned(records: Records, db_path: Path, key: bytes,
                                                      key_file: Path) -> None:
    _populate(records)
    records.close()
    # Crash before the database switched: the pending key is dropped, the old key stays.
    write_key(pending_key_path(key_file), os.urandom(32))
    assert resolve_key(db_path, key_file) == key
    assert not pending_key_path(key_file).exists()
    # Crash after the database switched but before the key file: the pending key is adopted.
    new = os.urandom(32)
    conn = connect(db_path, key, create=False)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.execute(f"PRAGMA rekey = \"x'{new.hex()}'\"")
    conn.close()
    write_key(pending_key_path(key_file), new)
    assert resolve_key(db_path, key_file) == new
    assert read_key(key_file) == new and not pending_key_path(key_file).exists()
    assert Records.open(db_path, new).get_patient(SYSTEM, 1)["name"] == PHI["name"]


def test_a_missing_key_file_is_an_error_not_a_new_key(records: Records, db_path: Path, key_file: Path) -> None:
    from appliance.records.keys import KeyError_

    records.close()
    key_file.unlink()
    with pytest.raises(KeyError_, match="cannot read the database key"):
        resolve_key(db_path, key_file)
    assert not key_file.exists()
