"""The whole appliance answers a phone call: kamailio as the clinic PBX, the appliance
registered as extension 2100, a baresip softphone dialling it through the PBX.

The caller's voice is synthesised, band-limited to 8 kHz and passed through G.711; what the
caller hears is recorded by baresip and transcribed by Whisper. Nothing here is faked: the
appliance runs as `appliance run` with its real models, pack, SIP edge and encrypted store.
"""

from __future__ import annotations

import asyncio
import re
import wave
from pathlib import Path

import numpy as np
import pytest

from benchmarks.corpus import telephone_speech, write_wav
from tests.conftest import free_port
from tests.foundation.helpers import ApplianceProcess
from tests.telephony.conftest import free_udp_port
from tests.telephony.peers import kamailio, write_baresip_config

pytestmark = [pytest.mark.models, pytest.mark.slow]

EXTENSION = "2100"


def words(text: str) -> set[str]:
    return set(re.findall(r"[a-z0-9]+", text.lower()))


def caller_wav(tmp_path: Path, text: str, lead_s: float, tail_s: float) -> Path:
    """Silence while the greeting plays, the caller's sentence, then silence while they listen."""
    speech = telephone_speech(text, tmp_path / "speech.wav", "piper")
    with wave.open(str(speech)) as w:
        pcm = np.frombuffer(w.readframes(w.getnframes()), "<i2")
    out = tmp_path / "caller.wav"
    write_wav(out, np.concatenate([np.zeros(int(lead_s * 8000), "<i2"), pcm, np.zeros(int(tail_s * 8000), "<i2")]),
              8000)
    return out


def transcribe(path: Path) -> str:
    from faster_whisper import WhisperModel

    from appliance.config import Settings
    from appliance.models.resolver import resolve_all

    model = WhisperModel(str(resolve_all(Settings(), ("asr",))["asr"].path), device="cpu", compute_type="int8")
    # The silences between the agent's lines are cut first (faster-whisper's own Silero VAD): a
    # recording just past Whisper's 30 s window, with 15 s of silence in it, was otherwise read
    # as the greeting alone, its last 10 s of speech (the emergency line) dropped.
    segments, _ = model.transcribe(str(path), language="en", beam_size=1, vad_filter=True,
                                   initial_prompt="Harbor Light Aesthetics, Botox, filler, 911.")
    return " ".join(s.text for s in segments)


async def baresip_call(tmp_path: Path, kport: int, source: Path, seconds: int, *, number: str = "5550106666",
                       home: Path | None = None) -> Path:
    """Dial the appliance's extension through kamailio from `number`; return the recording of what was heard."""
    cfg = home or tmp_path / "baresip"
    port = free_udp_port()
    write_baresip_config(cfg, port, source, f"<sip:{number}@127.0.0.1:{port}>;regint=0;audio_codecs=PCMU")
    proc = await asyncio.create_subprocess_exec(
        "baresip", "-f", str(cfg), "-e", f"/dial sip:{EXTENSION}@127.0.0.1:{kport}", "-t", str(seconds),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out, _ = await asyncio.wait_for(proc.communicate(), seconds + 30)
    recordings = sorted((cfg / "rec").glob("*dec*.wav"))
    assert recordings, out.decode(errors="replace")[-2000:]
    return recordings[0]


def appliance_config(tmp_path: Path, kport: int) -> Path:
    pw = tmp_path / "sip.password"
    pw.write_text("not-checked-by-the-sample-pbx\n")
    pw.chmod(0o600)
    cfg = tmp_path / "appliance.toml"
    cfg.write_text(
        f'[paths]\ndata_dir = "{tmp_path / "var"}"\n\n'
        f'[sip]\nmode = "register"\nbind_port = {free_udp_port()}\nregistrar = "127.0.0.1:{kport}"\n'
        f'username = "{EXTENSION}"\nextension = "{EXTENSION}"\npassword_file = "{pw}"\n'
        f"register_expires = 120\nrtp_port_min = 31000\nrtp_port_max = 31999\n"
        f"\n[console]\nport = {free_port()}\n")
    return cfg


async def _escalations(tmp_path: Path) -> list[tuple[str, str]]:
    from appliance.records.db import connect
    from appliance.records.keys import read_key

    def query() -> list[tuple[str, str]]:
        var = tmp_path / "var"
        conn = connect(var / "appliance.db", read_key(var / "secrets" / "db.key"), create=False)
        try:
            return [tuple(r) for r in conn.execute("SELECT severity, category FROM escalations")]
        finally:
            conn.close()

    return await asyncio.to_thread(query)


async def _agent_turns(tmp_path: Path) -> list[tuple[str | None, float]]:
    from appliance.records.db import connect
    from appliance.records.keys import read_key

    def query() -> list[tuple[str | None, float]]:
        var = tmp_path / "var"
        conn = connect(var / "appliance.db", read_key(var / "secrets" / "db.key"), create=False)
        try:
            return [tuple(r) for r in conn.execute(
                "SELECT provenance, heard_fraction FROM turns WHERE speaker = 'agent' ORDER BY idx")]
        finally:
            conn.close()

    return await asyncio.to_thread(query)


async def test_red_flag_by_phone_speaks_the_emergency_line_escalates_and_survives_a_failed_transfer(tmp_path: Path) -> None:
    async with kamailio(tmp_path) as kport:
        app = ApplianceProcess(appliance_config(tmp_path, kport))
        try:
            await asyncio.to_thread(app.wait_event, "appliance.ready", 180)
            await asyncio.to_thread(app.wait_event, "sip.registered", 30)
            source = await asyncio.to_thread(
                caller_wav, tmp_path, "Hi, it's probably nothing, but my vision is blurry since the filler yesterday.",
                14.0, 28.0)
            recording = await baresip_call(tmp_path, kport, source, seconds=50)
            finished = await asyncio.to_thread(app.wait_event, "call.finished", 60)
            code, _ = app.stop()
        finally:
            app.kill()
    assert code == 0, "".join(app.raw[-40:])
    # Every line the service wrote during the call is a structured JSON event (Pipecat's included).
    assert len(app.events) == len([r for r in app.raw if r.strip()]), [r for r in app.raw if not r.startswith("{")][:5]
    heard = await asyncio.to_thread(transcribe, recording)
    got = words(heard)
    # The approved greeting, then the protected emergency instruction.
    assert {"thank", "calling", "harbor", "light"} <= got, heard
    # Whisper tiny hears Piper's "nine one one" variously ("9-1-1", "911", "my in 111"): check the
    # instruction around it, and that it is not read as "nine hundred eleven".
    # Whisper tiny also hears "hang up" as "hand up" in Piper's 8 kHz voice.
    assert re.search(r"loss of vision,? han[gd] up and call", heard.lower()), heard
    # Nobody answers the on-call extension (not registered at the PBX): the warm transfer fails,
    # and the caller is told who will call back instead of being left in silence. (baresip stops
    # recording when an attended transfer puts it on hold, so this is checked on what was sent.)
    turns = await _agent_turns(tmp_path)
    told = [t for t in turns if t[0] and t[0].endswith("#dialogue.transfer_failed")]
    assert told and told[0][1] == 1.0, turns  # spoken in full, after the emergency line
    assert "hundred" not in got, heard
    assert finished["outcome"] == "escalated" and finished["escalations"] >= 1, finished
    assert any(e.get("event") == "call.escalation" and e.get("severity") == "emergency" for e in app.events)
    stored = await _escalations(tmp_path)
    assert ("emergency", "vision-change") in stored and ("emergency", "transfer-failed") in stored, stored
