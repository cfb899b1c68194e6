"""The maintenance commands, run as the installer would: `appliance db|audit|backup|restore|records`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from appliance.config import load_settings
from appliance.records.db import connect
from appliance.records.keys import ensure_key, read_key
from appliance.records.store import Records
from tests.conftest import ROOT
from tests.records.conftest import PHI, SYSTEM, flip_byte, phi_leaks


def appliance(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "APPLIANCE_CONFIG"}
    return subprocess.run([sys.executable, "-m", "appliance", "--config", str(config), *args],
                          capture_output=True, text=True, timeout=120, cwd=ROOT, env=env, check=False)


@pytest.fixture
def config(write_config) -> Path:
    path = write_config("[database.retention]\nrecordings_days = 7\n")
    s = load_settings(path)
    records = Records.open(s.db_path, ensure_key(s.db_key_file))
    try:
        for i in range(8):
            pid = records.add_patient(SYSTEM, f"{PHI['name']} {i}", PHI["phone"])
            records.get_patient(SYSTEM, pid)
    finally:
        records.close()
    return path


def test_db_check_and_audit_verify_pass_on_a_sound_database(config: Path) -> None:
    done = appliance(config, "db", "check")
    assert done.returncode == 0, done.stderr
    assert "ok   page HMACs and structure" in done.stdout and "16 events chain correctly" in done.stdout
    done = appliance(config, "audit", "verify", "--json")
    assert done.returncode == 0 and json.loads(done.stdout)["events"] == 16


def test_db_check_fails_on_flipped_bytes(config: Path) -> None:
    s = load_settings(config)
    flip_byte(s.db_path, 5 * 4096 + 123)
    done = appliance(config, "db", "check", "--json")
    assert done.returncode == 1
    report = json.loads(done.stdout)
    assert not report["ok"] and any("HMAC verification failed for page 6" in p for p in report["integrity_problems"])


def test_audit_verify_names_the_first_altered_event(config: Path) -> None:
    s = load_settings(config)
    conn = connect(s.db_path, read_key(s.db_key_file), create=False)
    conn.execute("DROP TRIGGER audit_events_no_update")
    conn.execute("UPDATE audit_events SET reason = 'nothing to see' WHERE seq = 11")
    conn.close()
    done = appliance(config, "audit", "verify")
    assert done.returncode == 1
    assert "first bad event: seq 11: event 11: contents altered" in done.stdout


def test_wrong_key_is_a_clear_error(config: Path) -> None:
    s = load_settings(config)
    s.db_key_file.write_text(os.urandom(32).hex() + "\n")
    done = appliance(config, "db", "check")
    assert done.returncode == 2
    assert "error [db-wrong-key]" in done.stderr and "does not open this database" in done.stderr
    assert "Traceback" not in done.stderr


def test_backup_rekey_restore_purge(config: Path, tmp_path: Path) -> None:
    s = load_settings(config)
    bak = tmp_path / "nightly.bak"
    done = appliance(config, "backup", str(bak))
    assert done.returncode == 0, done.stderr
    assert "(verified)" in done.stdout and phi_leaks(bak.read_bytes()) == []
    old_key = tmp_path / "old.key"
    old_key.write_bytes(s.db_key_file.read_bytes())
    old_key.chmod(0o600)
    done = appliance(config, "db", "rekey")
    assert done.returncode == 0, done.stderr
    assert read_key(s.db_key_file) != read_key(old_key)
    done = appliance(config, "restore", str(bak), "--yes")
    assert done.returncode == 2 and "another database key" in done.stderr
    done = appliance(config, "restore", str(bak), "--yes", "--key-file", str(old_key))
    assert done.returncode == 0, done.stderr
    assert "verified round trip" in done.stdout
    done = appliance(config, "records", "purge")
    assert done.returncode == 0, done.stderr
    assert "recordings: 0 rows purged" in done.stdout and "outbox: 0 rows purged" in done.stdout
    done = appliance(config, "audit", "verify")
    assert done.returncode == 0 and "chain intact" in done.stdout
    for leftover in s.db_path.parent.iterdir():
        assert not leftover.name.endswith((".partial", ".rekey", ".new")), leftover
