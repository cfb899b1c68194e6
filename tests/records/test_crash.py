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


def test_sigkill_mid_call_keeps_the_transcript_and_the_next_start_closes_the_call(tmp_path: Path) -> None:
    """The service is killed during a call: the turns committed as the call went survive, and
    the next start closes the call (reason `crash`) and shows it, with its escalation, to staff."""
    import asyncio
    import selectors

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    data_dir = tmp_path / "var"
    proc = subprocess.Popen([sys.executable, str(HERE / "crash_call.py"), str(data_dir)], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True, env=env, cwd=ROOT)
    assert proc.stdout is not None
    try:
        with selectors.DefaultSelector() as sel:
            sel.register(proc.stdout, selectors.EVENT_READ)
            assert sel.select(timeout=120), "the call's turns were never committed while it was going on"
        assert proc.stdout.readline().strip() == "ready"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
    asyncio.run(_recovered(data_dir))


async def _recovered(data_dir: Path) -> None:
    from appliance.config import Settings
    from appliance.records.audit import Access
    from appliance.records.service import RecordStore
    from appliance.staff.app import create_app
    from appliance.staff.auth import RateLimiter, Sessions, hash_password
    from appliance.staff.repo import StaffRepo
    from appliance.staff.web import ConsoleContext
    from tests.records.crash_call import LINES
    from tests.staff.conftest import PASSWORD, client_for, login

    store = RecordStore(Settings.model_validate({"paths": {"data_dir": str(data_dir)}}))
    await store.start()
    try:
        records = store.records
        assert records is not None
        (call,) = await records.run(lambda r: r.conn.execute(
            "SELECT id, ended_at IS NOT NULL, end_reason, outcome FROM calls").fetchall())
        assert call[1:] == (1, "crash", "crash")
        said = await records.run(lambda r: r.conn.execute(
            "SELECT text FROM turns WHERE call_id = ? AND speaker = 'caller' ORDER BY idx", (call[0],)).fetchall())
        assert [t for (t,) in said] == LINES
        repo = StaffRepo(records)
        await repo.add_user(username="nina", display_name="Nina", role="clinician", pw_hash=hash_password(PASSWORD),
                            extension=None, actor="system:test")
        ctx = ConsoleContext(repo=repo, sessions=Sessions(900, time.time), limiter=RateLimiter(clock=time.time))
        async with client_for(create_app(ctx)) as client:
            assert (await login(client, "nina")).status_code == 303
            assert (await client.get("/api/calls")).json() == []  # no longer shown as live
            escalations = (await client.get("/api/escalations")).json()
            assert [e["category"] for e in escalations] == ["severe-headache"]
            summaries = (await client.get("/api/summaries")).json()
            assert [s["id"] for s in summaries] == [call[0]]
            detail = (await client.get(f"/api/summaries/{call[0]}")).json()
            assert [t["text"] for t in detail["transcript"] if t["speaker"] == "caller"] == LINES
            assert detail["summary"]["escalated"] is True
        report = await records.run(Records.verify_audit)
        assert report.ok, report
        assert await records.run(lambda r: r.calls.recover_open_calls(Access("system:test", "test"))) == []
    finally:
        await store.stop()
