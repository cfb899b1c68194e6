"""The appliance calls a patient: an aftercare check-in placed by the real scheduler.

kamailio is the clinic PBX; the appliance runs as `appliance run` (register mode, extension
2100) with `[outbound] enabled = true`; the patient is a baresip softphone registered at kamailio
that answers on its own and plays the patient's recorded answers (Piper speech through G.711:
name, date of birth, then what they have to say). The plan is recorded with
`appliance aftercare record-treatment` for a treatment yesterday, so its day-1 check-in is due
now (the pack's clinic hours and the quiet hours are opened to the whole day in a copy).

Two patients are called at once (the scheduler's two outbound lines):
one reports a red flag -> escalated contact, escalation row on the outbound call;
the other has no concern -> completed contact, no escalation, the outbound goodbye.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
import sys
import time
import wave
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from benchmarks.corpus import telephone_speech, write_wav
from tests.foundation.helpers import ApplianceProcess
from tests.integration.test_phone_call import appliance_config
from tests.telephony.conftest import free_udp_port
from tests.telephony.peers import kamailio, write_baresip_config

pytestmark = [pytest.mark.models, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
CLINIC_TZ = ZoneInfo("America/Los_Angeles")  # the demo pack's clinic
NAME, DOB = "Emily Johnson", "1980-03-03"


def answers_wav(tmp_path: Path, label: str, parts: list[tuple[float, str]], tail_s: float) -> Path:
    """Silence, an answer, silence, the next answer...: (seconds of silence before, text) each."""
    chunks = []
    for i, (gap, text) in enumerate(parts):
        chunks.append(np.zeros(int(gap * 8000), "<i2"))
        # Piper without its sampling noise: the same audio every run, so what the flow asserts
        # (a name, a date of birth, a red flag) does not hang on a random prosody
        speech = telephone_speech(text, tmp_path / f"{label}-{i}.wav", "piper-fixed")
        with wave.open(str(speech)) as w:
            chunks.append(np.frombuffer(w.readframes(w.getnframes()), "<i2"))
    chunks.append(np.zeros(int(tail_s * 8000), "<i2"))
    out = tmp_path / f"{label}.wav"
    write_wav(out, np.concatenate(chunks), 8000)
    return out


def open_pack(tmp_path: Path) -> Path:
    """A copy of the demo pack with the clinic open all day, approved for the test."""
    from appliance.clinic.pack import DEMO_PACK

    pack = tmp_path / "pack"
    shutil.copytree(DEMO_PACK, pack)
    clinic = pack / "clinic.yaml"
    text = re.sub(r'(?m)^(  (?:mon|tue|wed|thu|fri|sat|sun)): (?:"[^"]*"|closed)$', r'\1: "00:00-23:59"',
                  clinic.read_text())
    clinic.write_text(text)
    cli(None, "protocol", "approve", str(pack), "--clinician", "Test Clinician", "--credential", "NP (test)")
    return pack


def cli(config: Path | None, *args: str) -> str:
    pre = ["--config", str(config)] if config else []
    proc = subprocess.run([sys.executable, "-m", "appliance", *pre, *args], capture_output=True, text=True,  # noqa: S603
                          timeout=120, cwd=ROOT, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    return proc.stdout


def outbound_config(tmp_path: Path, kport: int, pack: Path) -> Path:
    cfg = appliance_config(tmp_path, kport)
    cfg.write_text(cfg.read_text() + f'\n[clinic]\npack = "{pack}"\n\n[outbound]\nenabled = true\npoll_seconds = 1\n'
                   'quiet_start = "00:00"\nquiet_end = "00:00"\nclosing_margin_minutes = 0\ncall_from = "00:00"\n'
                   "ring_seconds = 30\nlease_seconds = 60\n")
    return cfg


@asynccontextmanager
async def patient(tmp_path: Path, kport: int, number: str, source: Path, seconds: int,
                  linger: bool = True) -> AsyncIterator[Path]:
    """A baresip phone registered at kamailio as `number`; it answers on its own and plays `source`.
    Yields the folder of its recordings (what the patient heard). `seconds` bounds the phone's
    life; with `linger` the block ends when the phone quits by itself (its recordings complete),
    otherwise the phone is stopped as soon as the block is done with it."""
    cfg = tmp_path / f"baresip-{number}"
    port = free_udp_port()
    write_baresip_config(cfg, port, source,
                         f"<sip:{number}@127.0.0.1:{kport}>;regint=600;answermode=auto;audio_codecs=PCMU")
    proc = await asyncio.create_subprocess_exec(
        "baresip", "-f", str(cfg), "-t", str(seconds), stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT, start_new_session=True)
    seen: list[bytes] = []
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 20
        while not any(b"200 OK" in line for line in seen):  # the REGISTER answered
            left = deadline - time.monotonic()
            assert left > 0, b"".join(seen).decode(errors="replace")[-2000:]
            line = await asyncio.wait_for(proc.stdout.readline(), left)
            assert line, b"".join(seen).decode(errors="replace")[-2000:]
            seen.append(line)
        drain = asyncio.create_task(proc.stdout.read())
        yield cfg / "rec"
        if linger:
            await asyncio.wait_for(proc.wait(), seconds + 30)
            await drain
        else:
            drain.cancel()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


def _query(tmp_path: Path, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    from appliance.records.db import connect
    from appliance.records.keys import read_key

    var = tmp_path / "var"
    conn = connect(var / "appliance.db", read_key(var / "secrets" / "db.key"), create=False)
    try:
        return [tuple(r) for r in conn.execute(sql, args)]
    finally:
        conn.close()


async def call_done(app: ApplianceProcess, n: int, within_s: float, event: str = "scheduler.call_done") -> dict[str, Any]:
    """The n-th `event` (`scheduler.call_done`: the contact's outcome is recorded)."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        done = [e for e in app.events if e.get("event") == event]
        if len(done) >= n:
            return done[n - 1]
        if app.proc.poll() is not None:
            break
        await asyncio.sleep(0.5)
    raise AssertionError(f"no outbound call #{n} finished ({event}):\n{''.join(app.raw[-60:])}")


def record_treatment(cfg: Path, phone: str) -> int:
    yesterday = (datetime.now(CLINIC_TZ) - timedelta(days=1)).date()
    out = cli(cfg, "aftercare", "record-treatment", "--name", NAME, "--phone", phone, "--dob", DOB,
              "--procedure", "neuromodulator-botox", "--product", "Botox", "--area", "forehead",
              "--date", yesterday.isoformat())
    m = re.search(r"plan (\d+):", out)
    assert m and "check-in" in out, out
    return int(m.group(1))


def contact(tmp_path: Path, plan: int) -> dict[str, Any]:
    cols = ("id", "state", "disposition", "attempts", "reached", "delivered", "concern", "escalated", "call_id")
    rows = _query(tmp_path, f"SELECT {', '.join(cols)} FROM aftercare_contacts WHERE plan_id = ? "  # noqa: S608
                  "ORDER BY due_at LIMIT 1", (plan,))
    return dict(zip(cols, rows[0], strict=True))


@pytest.mark.timeout(900)
async def test_aftercare_check_in_calls_escalate_and_complete(tmp_path: Path) -> None:
    pack = await asyncio.to_thread(open_pack, tmp_path)
    red_flag = await asyncio.to_thread(answers_wav, tmp_path, "red-flag", [
        (12.0, f"This is {NAME}."), (9.0, "It's March third nineteen eighty."),
        (25.0, "My eyelid is drooping since yesterday.")], 30.0)
    fine = await asyncio.to_thread(answers_wav, tmp_path, "fine", [
        (12.0, f"This is {NAME}."), (9.0, "It's March third nineteen eighty."),
        (30.0, "Yes, I got them."), (10.0, "Everything is fine, no concerns."), (16.0, "No thanks."),
        (8.0, "That's all thank you.")],
        15.0)
    async with kamailio(tmp_path) as kport:
        cfg = outbound_config(tmp_path, kport, pack)
        app = ApplianceProcess(cfg)
        try:
            await asyncio.to_thread(app.wait_event, "appliance.ready", 240)
            await asyncio.to_thread(app.wait_event, "sip.registered", 30)
            await asyncio.to_thread(app.wait_event, "scheduler.started", 10)

            # Both patients are called at once (two outbound lines): one reports a red flag, one is fine.
            async with patient(tmp_path, kport, "5550107701", red_flag, 240, linger=False), \
                    patient(tmp_path, kport, "5550107702", fine, 240, linger=False):
                plan1 = await asyncio.to_thread(record_treatment, cfg, "555-010-7701")
                plan2 = await asyncio.to_thread(record_treatment, cfg, "555-010-7702")
                await call_done(app, 2, 240)
            c1 = await asyncio.to_thread(contact, tmp_path, plan1)
            c2 = await asyncio.to_thread(contact, tmp_path, plan2)
            done = {e["contact"]: e for e in app.events if e.get("event") == "scheduler.call_done"}
            done1, done2 = done[c1["id"]], done[c2["id"]]
            esc = await asyncio.to_thread(
                _query, tmp_path, "SELECT e.severity, e.category, c.direction, c.patient_id IS NOT NULL FROM "
                "escalations e JOIN calls c ON c.id = e.call_id WHERE c.id = ?", (c1["call_id"],))
            turns2 = await asyncio.to_thread(
                _query, tmp_path, "SELECT t.speaker, t.provenance FROM turns t WHERE t.call_id = ? ORDER BY t.idx",
                (c2["call_id"],))
            calls = await asyncio.to_thread(_query, tmp_path, "SELECT direction, outcome FROM calls ORDER BY id")
            code, _ = app.stop()
        finally:
            app.kill()
            (tmp_path / "appliance.log").write_text("".join(app.raw))
    log = "".join(app.raw[-80:])
    assert code == 0, log
    assert done1["state"] == "completed" and done1["result"] == "answered", (done1, log)
    assert c1["state"] == "completed" and c1["concern"] == 1 and c1["escalated"] == 1, (c1, log)
    # The date of birth through 8 kHz audio may be misheard ("marked dirt"): the red flag said at the
    # identity retry is escalated all the same, and the contact is then not retried.
    assert c1["reached"] == 1 or c1["disposition"] == "escalated", (c1, log)
    assert c1["call_id"] is not None and esc, (c1, esc, log)
    assert esc[0][2:] == ("outbound", 1) and esc[0][0] in ("urgent", "emergency"), esc
    assert any(e.get("event") == "call.escalation" for e in app.events)  # stored while the call went on
    assert done2["state"] == "completed", (done2, log)
    assert c2["state"] == "completed" and c2["disposition"] == "completed", (c2, log)
    assert c2["reached"] == 1 and c2["delivered"] == 1 and c2["concern"] == 0 and c2["escalated"] == 0, (c2, log)
    assert _query(tmp_path, "SELECT count(*) FROM escalations e JOIN calls c ON c.id = e.call_id WHERE c.id = ?",
                  (c2["call_id"],)) == [(0,)]
    agent2 = [p for s, p in turns2 if s == "agent"]
    assert agent2[0].endswith("#outbound.opener") and "#outbound.intro_check_in" in " ".join(agent2), agent2
    assert agent2[-1].endswith("#outbound.goodbye"), agent2  # the clinic's own closing line
    assert [d for d, _ in calls] == ["outbound", "outbound"], calls
