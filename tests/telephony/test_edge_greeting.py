"""A real softphone (baresip) calls the appliance: what the caller hears is transcribed by Whisper."""

from __future__ import annotations

import asyncio
import re
import wave
from pathlib import Path

import numpy as np
import pytest

from appliance.calls import AudioIn, CallMedia, HangUp
from tests.telephony.conftest import free_udp_port
from tests.telephony.peers import write_baresip_config

GREETING = "Thank you for calling the clinic. How can I help you today?"


def synth(text: str, out: Path, tmp: Path, pad_s: float = 0.0) -> bytes:
    import subprocess

    raw = tmp / "raw.wav"
    subprocess.run(["espeak-ng", "-v", "en-us", "-s", "140", "-w", str(raw), text], check=True)
    subprocess.run(["sox", str(raw), "-r", "8000", "-c", "1", "-b", "16", str(out), "pad", "0", str(pad_s)],
                   check=True)
    with wave.open(str(out)) as w:
        return w.readframes(w.getnframes())


def piper_8k(text: str) -> bytes:
    import soxr
    from piper import PiperVoice

    from appliance.config import Settings
    from appliance.models.resolver import resolve_all

    voice = PiperVoice.load(str(resolve_all(Settings(), ("tts",))["tts"].path))
    chunks = list(voice.synthesize(text))
    pcm = np.frombuffer(b"".join(c.audio_int16_bytes for c in chunks), dtype=np.int16)
    return soxr.resample(pcm, chunks[0].sample_rate, 8000).astype("<i2").tobytes()


def transcribe(path: Path) -> str:
    from faster_whisper import WhisperModel

    from appliance.config import Settings
    from appliance.models.resolver import resolve_all

    model = WhisperModel(str(resolve_all(Settings(), ("asr",))["asr"].path), device="cpu", compute_type="int8")
    segments, _ = model.transcribe(str(path), language="en", beam_size=1)
    return " ".join(s.text for s in segments)


def words(text: str) -> list[str]:
    return re.findall(r"[a-z]+", text.lower())


@pytest.mark.models
@pytest.mark.slow
async def test_caller_hears_the_greeting(make_edge, tmp_path: Path) -> None:
    greeting = await asyncio.to_thread(piper_8k, GREETING)
    # The caller speaks, then listens: baresip hangs up when its source file ends (~8 s).
    await asyncio.to_thread(synth, "I would like to book an appointment.", tmp_path / "speech.wav", tmp_path, 6.0)
    heard_energy: list[float] = []
    outcome: list[str] = []

    async def handler(call: CallMedia) -> None:
        call.send_audio(greeting)
        while True:
            ev = await call.recv()
            if isinstance(ev, AudioIn):
                heard_energy.append(float(np.abs(np.frombuffer(ev.pcm, "<i2")).mean()))
            elif isinstance(ev, HangUp):
                outcome.append(ev.reason)
                return

    edge = await make_edge(handler)
    cfg = tmp_path / "baresip"
    sip_port = free_udp_port()
    write_baresip_config(cfg, sip_port, tmp_path / "speech.wav", f"<sip:caller@127.0.0.1:{sip_port}>;regint=0;audio_codecs=PCMU")
    proc = await asyncio.create_subprocess_exec(
        "baresip", "-f", str(cfg), "-e", f"/dial sip:100@127.0.0.1:{edge.port}", "-t", "12",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out, _ = await asyncio.wait_for(proc.communicate(), 30)
    for _ in range(50):
        if outcome:
            break
        await asyncio.sleep(0.1)
    assert outcome == ["remote-bye"], out.decode(errors="replace")[-1500:]  # baresip hung up on exit
    assert max(heard_energy) > 500  # the caller's speech reached the pipeline
    recordings = sorted((cfg / "rec").glob("*dec*.wav"))
    assert recordings, list((cfg / "rec").iterdir())
    with wave.open(str(recordings[0])) as w:
        assert w.getnframes() / w.getframerate() > len(greeting) / 16000  # the whole greeting was heard
    text = await asyncio.to_thread(transcribe, recordings[0])
    expected = set(words(GREETING))
    got = set(words(text))
    assert len(expected & got) >= 0.7 * len(expected), text
