"""A writer killed with SIGKILL mid-stream loses no committed row (real process, real SQLCipher)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from appliance.records.db import integrity_problems
from appliance.records.store import Records
from tests.conftest import ROOT

HERE = Path(__file__).parent


def _run_and_kill(db_path: Path, key_file: Path, kill_after: int) -> list[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, str(HERE / "crash_writer.py"), str(db_path), str(key_file), "100000"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env, cwd=ROOT)
    assert proc.stdout is not None
    committed: list[str] = []
    deadline = time.monotonic() + 120
    try:
        assert proc.stdout.readline().strip() == "ready"
        while len(committed) < kill_after and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            committed.append(line.strip())
        os.kill(proc.pid, signal.SIGKILL)  # while it is writing the next rows
        proc.wait(timeout=30)
        committed += [x.strip() for x in proc.stdout.read().splitlines() if x.strip()]  # flushed before the kill
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
    return committed


@pytest.mark.parametrize("kill_after", [1, 37, 150])
def test_sigkill_mid_stream_loses_no_committed_row(db_path: Path, key: bytes, key_file: Path, kill_after: int) -> None:
    committed = _run_and_kill(db_path, key_file, kill_after)
    assert len(committed) >= kill_after
    records = Records.open(db_path, key)
    try:
        assert integrity_problems(records.conn) == []
        stored = {r[0] for r in records.conn.execute("SELECT outbox_msg_id FROM escalations")}
        in_outbox = {r[0] for r in records.conn.execute("SELECT msg_id FROM outbox")}
        assert set(committed) <= stored
        assert set(committed) <= in_outbox
        assert len(stored) - len(committed) <= 1  # at most the row committed between print and kill
        report = records.verify_audit()
        assert report.ok, report
        assert report.events >= len(committed) + 1
    finally:
        records.close()
