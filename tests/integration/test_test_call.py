"""A test call from the console in headless Chromium, over WebRTC, to `appliance run` with its
real models and the demo pack.

Chromium's fake microphone plays a synthesised caller: silence while the greeting plays, then
a red flag. What the browser hears is recorded in the page (MediaRecorder on the remote
stream) and transcribed by Whisper: it holds the greeting. The page lists the red flag as an
escalation that would have been raised, and in shadow mode nothing reaches the record store.
"""

from __future__ import annotations

import base64
import subprocess
import sys
import wave
from pathlib import Path

import numpy as np
import pytest

from benchmarks.corpus import telephone_speech, write_wav
from tests.browser import chromium_page, needs_chromium, sign_in
from tests.conftest import free_port
from tests.foundation.helpers import ApplianceProcess
from tests.integration.test_phone_call import transcribe, words
from tests.telephony.conftest import free_udp_port

playwright_api = pytest.importorskip("playwright.async_api")
pytestmark = [pytest.mark.models, pytest.mark.slow, needs_chromium]

PASSWORD = "correct horse battery"
RED_FLAG = "Since my lip filler yesterday, my lip has turned white and it hurts a lot."
LEAD_S = 16.0  # the greeting plays first (the fake microphone starts when the call is placed)

# Record what the page plays: the remote stream, as WebM/Opus, returned base64-encoded.
RECORD_JS = """async (ms) => {
  const audio = document.getElementById("tc-audio");
  const t0 = Date.now();
  while (!audio.srcObject && Date.now() - t0 < 20000) { await new Promise(r => setTimeout(r, 100)); }
  if (!audio.srcObject) { return ""; }
  const rec = new MediaRecorder(audio.srcObject, {mimeType: "audio/webm;codecs=opus"});
  const parts = [];
  rec.ondataavailable = (ev) => parts.push(ev.data);
  const stopped = new Promise(r => { rec.onstop = r; });
  rec.start(1000);
  await new Promise(r => setTimeout(r, ms));
  rec.stop();
  await stopped;
  const buf = new Uint8Array(await new Blob(parts).arrayBuffer());
  let s = "";
  for (let i = 0; i < buf.length; i += 8192) { s += String.fromCharCode.apply(null, buf.subarray(i, i + 8192)); }
  return btoa(s);
}"""


def caller_wav(tmp_path: Path) -> Path:
    speech = telephone_speech(RED_FLAG, tmp_path / "speech.wav", "piper")
    with wave.open(str(speech)) as w:
        pcm = np.frombuffer(w.readframes(w.getnframes()), "<i2")
    out = tmp_path / "mic.wav"
    write_wav(out, np.concatenate([np.zeros(int(LEAD_S * 8000), "<i2"), pcm, np.zeros(8000 * 20, "<i2")]), 8000)
    return out


def config(tmp_path: Path) -> Path:
    cfg = tmp_path / "appliance.toml"
    cfg.write_text(f'[paths]\ndata_dir = "{tmp_path / "var"}"\n\n[sip]\nbind_port = {free_udp_port()}\n\n'
                   f"[console]\nport = {free_port()}\n")
    return cfg


def add_user(cfg: Path, name: str, role: str) -> None:
    subprocess.run([sys.executable, "-m", "appliance", "--config", str(cfg), "staff", "add-user", name, "--role", role,
                    "--password-stdin"], input=PASSWORD + "\n", text=True, check=True, capture_output=True, timeout=120)


async def test_browser_test_call_hears_the_greeting_and_pages_nobody(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    add_user(cfg, "nina", "clinician")
    app = ApplianceProcess(cfg)
    try:
        base = app.wait_event("appliance.ready")["console"].rstrip("/")
        mic = caller_wav(tmp_path)
        # A fake microphone that plays the caller's file once; the page may play audio unprompted;
        # WebRTC may use 127.0.0.1 (the console's address here).
        async with chromium_page(tmp_path / "chromium", "--use-fake-ui-for-media-stream",
                                 "--use-fake-device-for-media-stream", f"--use-file-for-fake-audio-capture={mic}%noloop",
                                 "--autoplay-policy=no-user-gesture-required",
                                 "--allow-loopback-in-peer-connection") as page:
            await sign_in(page, base, "nina", PASSWORD)
            await page.wait_for_url(f"{base}/escalations")
            await page.click("a[href='/test-call']")
            await page.click("#tc-start")
            expect = playwright_api.expect
            await expect(page.locator("#tc-status")).to_contain_text("Connected", timeout=30_000)
            heard = await page.evaluate(RECORD_JS, int((LEAD_S + 20) * 1000))
            log = page.locator("#tc-log")
            await expect(log).to_contain_text("Would escalate: emergency", timeout=30_000)
            escalations = await page.request.get(f"{base}/api/escalations?include_resolved=true")
            queue = await escalations.json()
            await page.click("#tc-hangup")
            await expect(page.locator("#tc-status")).to_contain_text("Call ended")
            transcript_on_page = await log.inner_text()
        app.wait_event("testcall.ended", timeout=30)
        code, _ = app.stop()
    finally:
        app.kill()

    assert heard, "the page never got the appliance's audio"
    webm = tmp_path / "heard.webm"
    webm.write_bytes(base64.b64decode(heard))
    text = transcribe(webm)
    assert {"thank", "calling", "harbor", "light"} <= words(text), text
    # The page showed the running transcript: the greeting, and what Whisper on the box heard.
    assert "Clinic: Thank you for calling" in transcript_on_page
    assert "You:" in transcript_on_page and "lip" in transcript_on_page.lower()
    # Shadow mode: the red flag was shown, not recorded, paged or transferred.
    assert escalations.status == 200
    assert queue == []
    names = [e.get("event") for e in app.events]
    assert "call.escalation" not in names and "testcall.started" in names
    assert code == 0
