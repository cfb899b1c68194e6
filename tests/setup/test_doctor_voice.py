"""`appliance doctor --only voice-path`: a real test call to the running appliance (real SIP,
RTP, Piper greeting, Whisper transcription), and a clear failure when nothing is running."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from appliance.setup.voice_probe import START_HINT, heard_share
from tests.conftest import free_port
from tests.foundation.helpers import ApplianceProcess

ROOT = Path(__file__).resolve().parents[2]


def doctor(config: Path, timeout: float = 180) -> tuple[int, list[dict[str, object]], str]:
    done = subprocess.run([sys.executable, "-m", "appliance", "--config", str(config), "doctor", "--only",
                           "voice-path", "--json"], capture_output=True, text=True, timeout=timeout, cwd=ROOT,
                          check=False)
    try:
        results = json.loads(done.stdout)
    except ValueError:
        results = []
    return done.returncode, results, done.stdout + done.stderr


def test_heard_share_counts_distinct_greeting_words() -> None:
    greeting = "Thank you for calling Glow. Calls may be recorded."
    assert heard_share(greeting, "thank you for calling glow, calls may be recorded") == 1.0
    assert heard_share(greeting, "thank you for calling") == pytest.approx(4 / 9)
    assert heard_share(greeting, "") == 0.0
    assert heard_share("", "anything") == 0.0


@pytest.mark.models
@pytest.mark.slow
@pytest.mark.parametrize("transport", [pytest.param("udp", marks=pytest.mark.variant), "tls"])
def test_voice_path_passes_against_the_running_appliance(write_config, transport: str) -> None:
    """Over TLS the test call is placed as the PBX would (TLS, SRTP required by the appliance)."""
    tls = ('transport = "tls"\nsrtp = "required"\ntls_pbx_sha256 = "' + "00" * 32 + '"\n'
           if transport == "tls" else "")  # a trunk: nothing outbound here, the pin only has to be valid
    config = write_config(f"[sip]\nbind_port = {free_port()}\n{tls}")
    app = ApplianceProcess(config)
    try:
        app.wait_event("appliance.ready", 240)
        code, results, out = doctor(config)
        assert [r["check"] for r in results] == ["voice-path"], out
        r = results[0]
        assert r["status"] == "pass", out
        assert code == 0, out
        assert "of the greeting's words" in str(r["detail"]), out
        assert "BYE answered 200" in str(r["detail"]), out  # hung up cleanly
        # With the service up, its own ports are in use by it: that is not a failure.
        done = subprocess.run([sys.executable, "-m", "appliance", "--config", str(config), "doctor", "--only",
                               "ports", "--json"], capture_output=True, text=True, timeout=120, cwd=ROOT, check=False)
        ports = json.loads(done.stdout)
        assert done.returncode == 0 and all(p["status"] == "pass" for p in ports), done.stdout
        assert all("in use by the running appliance service" in p["detail"] for p in ports), done.stdout
        # The appliance really answered and was hung up on: the call was observed end to end.
        answered = app.wait_event("call.answered", 30)
        app.wait_event("call.remote_bye", 30)
        assert answered["transport"] == transport and answered["srtp"] is (transport == "tls"), answered
    finally:
        app.stop()
        app.kill()


def test_voice_path_is_unknown_with_the_start_hint_when_the_service_is_not_running(write_config) -> None:
    """Never a pass it did not observe, and no failure of a path it could not try: doctor run
    before the service starts (ports free) stays green and says how to test the voice path."""
    code, results, out = doctor(write_config(""), timeout=60)
    assert code == 0, out
    assert len(results) == 1 and results[0]["check"] == "voice-path", out
    assert results[0]["status"] == "unknown", out
    assert results[0]["fix"] == START_HINT, out
    assert "not running" in str(results[0]["detail"]) and "not tested" in str(results[0]["detail"]), out


def test_voice_path_fails_with_the_fix_when_the_appliance_refuses_its_own_address(write_config) -> None:
    config = write_config('[sip]\nbind_port = 5999\nallowed_sources = ["10.1.2.3/32"]\n')
    code, results, out = doctor(config, timeout=60)
    assert code == 1, out
    assert results[0]["status"] == "fail", out
    assert "sip.allowed_sources" in str(results[0]["fix"]) and "127.0.0.1/32" in str(results[0]["fix"]), out
