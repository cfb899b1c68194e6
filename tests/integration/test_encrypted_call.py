"""A call encrypted end to end on the LAN: kamailio with its TLS module as the clinic PBX, the
appliance (`appliance run`, real models) registered over TLS with `srtp = "required"`, a baresip
caller and the NP's desk phone (201) both over TLS with SRTP (SDES).

The caller reports an emergency sign; the appliance must transcribe it, escalate and transfer the
caller to 201, all while a packet capture on loopback (what an eavesdropper on the LAN records)
sees no SIP in clear text and no RTP payload that is G.711 audio: the bytes are ciphertext, and
Whisper hears nothing of the caller's words in them."""

from __future__ import annotations

import asyncio
import re
import wave
from pathlib import Path

import numpy as np
import pytest

from appliance.telephony import g711
from benchmarks.corpus import telephone_speech, write_wav
from tests.conftest import free_port
from tests.foundation.helpers import ApplianceProcess
from tests.integration.test_phone_call import words
from tests.telephony.audio import recordings, tone
from tests.telephony.audio import write_wav as write_pcm
from tests.telephony.capture import LoopbackCapture, Packet, entropy_bits
from tests.telephony.conftest import free_udp_port
from tests.telephony.tlspeers import Certs, TlsPbx, kamailio_tls, make_certs, tls_phone

pytestmark = [pytest.mark.models, pytest.mark.slow]

SAID = "I can't see properly out of my left eye since this morning, everything is blurry."
SPOKEN = {"see", "eye", "left", "morning", "blurry", "properly"}
RTP_MIN, RTP_MAX = 33000, 33199  # the appliance's RTP ports in this test


def appliance_config(tmp_path: Path, pbx: TlsPbx, certs: Certs, mode: str) -> tuple[Path, int]:
    pw = tmp_path / "sip.password"
    pw.write_text("not-checked-by-the-sample-pbx\n")
    pw.chmod(0o600)
    port = free_udp_port()
    cfg = tmp_path / "appliance.toml"
    cfg.write_text(
        f'[paths]\ndata_dir = "{tmp_path / "var"}"\n\n'
        f'[sip]\nmode = "{mode}"\nbind_port = {port}\n'
        + (f'registrar = "127.0.0.1:{pbx.tls_port}"\nusername = "2100"\npassword_file = "{pw}"\n'
           "register_expires = 120\n" if mode == "register" else
           f'outbound_proxy = "127.0.0.1:{pbx.tls_port}"\n')  # a trunk: calls come from the PBX's address
        + 'extension = "2100"\n'
        f"rtp_port_min = {RTP_MIN}\nrtp_port_max = {RTP_MAX}\n"
        f'transport = "tls"\nsrtp = "required"\ntls_ca = "{certs.ca}"\n'
        f'tls_cert = "{certs.box.cert}"\ntls_key = "{certs.box.key}"\n'
        f"\n[console]\nport = {free_port()}\n")
    return cfg, port


def caller_wav(folder: Path) -> Path:
    speech = telephone_speech(SAID, folder / "speech.wav", "piper")
    with wave.open(str(speech)) as w:
        pcm = np.frombuffer(w.readframes(w.getnframes()), "<i2")
    out = folder / "caller.wav"
    write_wav(out, np.concatenate([np.zeros(8 * 8000, "<i2"), pcm, np.zeros(60 * 8000, "<i2")]), 8000)
    return out


def transcribe_pcm(pcm: bytes) -> str:
    from faster_whisper import WhisperModel

    from appliance.config import Settings
    from appliance.models.resolver import resolve_all
    from appliance.voice.audio import pcm_to_float, resample

    model = WhisperModel(str(resolve_all(Settings(), ("asr",))["asr"].path), device="cpu", compute_type="int8")
    segments, _ = model.transcribe(resample(pcm_to_float(pcm), 8000, 16000), language="en", beam_size=1)
    return " ".join(s.text for s in segments)


def as_g711(packets: list[Packet]) -> bytes:
    """What an eavesdropper gets by decoding each RTP payload as G.711 µ-law (12-byte header,
    the 10-byte SRTP tag dropped): 16-bit PCM."""
    return b"".join(g711.ulaw_decode(p.payload[12:-10]) for p in packets if len(p.payload) > 22)


def stored(var: Path, sql: str) -> list[tuple]:
    from appliance.records.db import connect
    from appliance.records.keys import read_key

    conn = connect(var / "appliance.db", read_key(var / "secrets" / "db.key"), create=False)
    try:
        return [tuple(r) for r in conn.execute(sql)]
    finally:
        conn.close()


@pytest.mark.parametrize("mode", [pytest.param("register", marks=pytest.mark.variant), "trunk"])
async def test_an_emergency_call_over_tls_and_srtp_is_heard_escalated_transferred_and_unreadable_on_the_wire(
        tmp_path: Path, mode: str) -> None:
    certs = await asyncio.to_thread(make_certs, tmp_path / "certs")
    source = await asyncio.to_thread(caller_wav, tmp_path)
    nurse_src = write_pcm(tmp_path / "nurse.wav", tone(700.0, 120))
    async with kamailio_tls(tmp_path, certs) as pbx:
        cfg, sip_port = appliance_config(tmp_path, pbx, certs, mode)
        app = ApplianceProcess(cfg)
        desk = tls_phone(tmp_path / "np201", pbx, certs, "201", srtp=True, source=nurse_src)
        caller = tls_phone(tmp_path / "caller", pbx, certs, "5550107301", srtp=True, answer="manual", source=source)
        capture: LoopbackCapture | None = None
        try:
            await asyncio.to_thread(app.wait_event, "appliance.ready", 240)
            if mode == "register":
                await asyncio.to_thread(app.wait_event, "sip.registered", 30)
            for phone in (desk, caller):
                await phone.start()
                await phone.wait_for("200 OK", limit_s=15)
            capture = LoopbackCapture().__enter__()
            # Registered: the PBX routes 2100 to the box. Trunk: the call arrives straight from the
            # PBX's side of the LAN (loopback is the allowed source), over TLS to the box's port.
            caller.command("/dial 2100" if mode == "register" else f"/dial sip:2100@127.0.0.1:{sip_port};transport=tls")
            transfer = await asyncio.to_thread(app.wait_event, "voice.transfer", 120)
            await asyncio.sleep(4.0)  # caller and NP connected
            caller.command("/hangup")
            finished = await asyncio.to_thread(app.wait_event, "call.finished", 60)
            await asyncio.sleep(0.5)
            capture.stop()
            code, _ = app.stop()
        finally:
            if capture is not None:
                capture.stop()
            for phone in (caller, desk):
                await phone.stop()
            app.kill()
            (tmp_path / "appliance.log").write_text("".join(app.raw))
    log = "".join(app.raw[-60:])
    assert code == 0, log
    answered = next(e for e in app.events if e.get("event") == "call.answered")
    assert answered["transport"] == "tls" and answered["srtp"] is True, answered

    # Heard, escalated and handed to the NP, as on a plain call.
    var = tmp_path / "var"
    said = " ".join(t for (t,) in await asyncio.to_thread(stored, var, "SELECT text FROM turns WHERE speaker = "
                                                                      "'caller'"))
    assert len(words(said) & SPOKEN) >= 3, said
    escalations = await asyncio.to_thread(stored, var, "SELECT severity, category FROM escalations")
    assert ("emergency", "vision-change") in escalations, escalations
    assert transfer["ok"] is True and transfer["target"] == "201", (transfer, log)
    assert finished["outcome"] == "escalated", finished
    assert recordings(desk.rec), desk.tail()  # the NP's phone took the call (SRTP mandatory on it)

    # What the LAN saw: SIP only as TLS records, RTP only as ciphertext.
    sip = capture.between({pbx.tls_port, sip_port}, "tcp")
    assert sum(len(p.payload) for p in sip) > 5000, len(sip)  # the whole call's signalling was captured
    assert not [p for p in sip if re.search(rb"SIP/2\.0|INVITE sip:|a=crypto", p.payload)]
    rtp = [p for p in capture.between(set(range(RTP_MIN, RTP_MAX + 1)), "udp") if p.payload[:1] == b"\x80"]
    to_box = [p for p in rtp if RTP_MIN <= p.dport <= RTP_MAX]
    assert len(to_box) > 500, len(to_box)  # more than 10 s of the caller's and the NP's audio
    payload = b"".join(p.payload[12:-10] for p in to_box)
    assert entropy_bits(payload) > 7.9, entropy_bits(payload)  # ciphertext (G.711 speech: ~5-6 bits)
    heard = await asyncio.to_thread(transcribe_pcm, as_g711(to_box))
    assert not (words(heard) & SPOKEN), heard
