"""A model worker dies in the middle of a phone call: the call goes on and reaches a person.

kamailio is the clinic PBX, the appliance runs as `appliance run` (registered as extension
2100) with its real models in worker processes, and a baresip softphone calls it with a
synthesised caller who reports a red flag. Once the escalation is logged, the speech worker
is killed (SIGKILL), or crashed natively (a real SIGSEGV, injected with the test-only
`APPLIANCE_TEST_FAULT=signal:usr1`). The caller must hear the fallback line (transcribed from
baresip's recording), the transfer must be attempted, the red flag and the failure must be in
the encrypted database, and the next call must be answered normally by the restarted worker.
"""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import pytest

from tests.foundation.helpers import ApplianceProcess
from tests.integration.test_phone_call import appliance_config, baresip_call, caller_wav, transcribe, words
from tests.telephony.peers import kamailio

pytestmark = [pytest.mark.models, pytest.mark.slow]


def _worker_pid(app: ApplianceProcess, name: str) -> int:
    for e in app.events:
        if e.get("event") == "model.worker_ready" and e.get("worker") == name:
            return int(e["pid"])
    raise AssertionError("no model.worker_ready for " + name)


def _events_after(app: ApplianceProcess, name: str, after: str) -> list[dict]:
    seen, out = False, []
    for e in list(app.events):
        seen = seen or e.get("event") == after
        if seen and e.get("event") == name:
            out.append(e)
    return out


async def _stored(tmp_path: Path, sql: str) -> list[tuple]:
    from appliance.records.db import connect
    from appliance.records.keys import read_key

    def query() -> list[tuple]:
        var = tmp_path / "var"
        conn = connect(var / "appliance.db", read_key(var / "secrets" / "db.key"), create=False)
        try:
            return [tuple(r) for r in conn.execute(sql)]
        finally:
            conn.close()

    return await asyncio.to_thread(query)


@pytest.mark.parametrize("how", ["sigkill", "native-crash"])
async def test_a_dead_speech_worker_mid_call_hands_the_caller_to_a_person(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, how: str) -> None:
    if how == "native-crash":
        monkeypatch.setenv("APPLIANCE_TEST_FAULT", "signal:usr1")
    async with kamailio(tmp_path) as kport:
        app = ApplianceProcess(appliance_config(tmp_path, kport))
        try:
            await asyncio.to_thread(app.wait_event, "appliance.ready", 240)
            await asyncio.to_thread(app.wait_event, "sip.registered", 30)
            speech_pid = _worker_pid(app, "speech")
            source = await asyncio.to_thread(
                caller_wav, tmp_path, "I had Botox on Tuesday, and since then I've had a severe headache "
                "that won't go away.", 14.0, 34.0)
            call = asyncio.create_task(baresip_call(tmp_path, kport, source, seconds=56))
            await asyncio.to_thread(app.wait_event, "call.escalation", 50)
            await asyncio.sleep(1.5)
            os.kill(speech_pid, signal.SIGUSR1 if how == "native-crash" else signal.SIGKILL)
            recording = await call
            await asyncio.to_thread(app.wait_event, "call.finished", 60)
            died = await asyncio.to_thread(app.wait_event, "model.worker_died", 5)
            await asyncio.to_thread(app.wait_event, "model.worker_restarted", 120)
            # The next caller is answered normally by the restarted worker.
            (tmp_path / "second").mkdir()
            quiet = await asyncio.to_thread(caller_wav, tmp_path / "second", "Hello?", 1.0, 14.0)
            second = await baresip_call(tmp_path / "second", kport, quiet, seconds=16)
            code, _ = app.stop()
        finally:
            app.kill()
    assert code == 0, "".join(app.raw[-40:])
    assert died["worker"] == "speech" and died["how"] == ("killed by SIGSEGV" if how == "native-crash"
                                                          else "killed by SIGKILL"), died
    heard = await asyncio.to_thread(transcribe, recording)
    # The fallback line, protected and synthesised at start-up: it plays though Piper is gone.
    # (Its last words may be cut: the emergency line's transfer, already ringing the on-call
    # clinician when the worker died, hands the call over as soon as it connects.)
    assert {"trouble", "end", "hold"} <= words(heard), heard
    failed = [e for e in app.events if e.get("event") == "voice.model_failed"]
    assert failed and failed[0]["role"] in ("vad", "asr", "tts", "turn"), failed
    transfers = _events_after(app, "voice.transfer", "voice.model_failed")
    assert transfers and transfers[0]["target"] == "201", transfers  # the on-call NP: an urgent flag was raised
    stored = await _stored(tmp_path, "SELECT severity, category FROM escalations")
    assert ("urgent", "system-failure") in stored, stored
    assert any(sev == "urgent" and cat != "system-failure" for sev, cat in stored), stored
    greeting = await asyncio.to_thread(transcribe, second)
    assert {"thank", "calling"} <= words(greeting), greeting
