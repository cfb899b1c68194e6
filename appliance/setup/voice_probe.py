"""`appliance doctor` check "voice-path": a real test call to the running appliance.

A temporary SIP edge on a free port of the appliance's own address calls the appliance on its
configured SIP address and port, records what it hears (about 12 s from the first sound),
hangs up with a BYE, and transcribes the recording with the bundled Whisper model. The check
passes only when most words of the approved pack's greeting were heard: SIP, RTP, the voice
pipeline, Piper and the pack are all proven by one observation. Nothing answering the SIP
port is a failure (the service is not running), never a pass.

The appliance must accept its own address as a SIP source (sip.allowed_sources); when it
does not, the check says so and how to fix it instead of calling.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
import time
from dataclasses import dataclass
from typing import Any

from appliance.calls import AudioIn, CallMedia, HangUp
from appliance.config import Settings, SipSettings
from appliance.errors import ApplianceError
from appliance.setup.doctor import Check, Result
from appliance.setup.sipprobe import ProbeResult, probe
from appliance.telephony.guard import SourceGuard

NAME = "voice-path"
LISTEN_S = 12.0  # recorded from the first sound heard
FIRST_SOUND_S = 20.0  # how long the greeting may take to start after the answer
ANSWER_S = 15.0
MIN_HEARD = 0.6  # share of the greeting's words the transcript must contain
SILENCE_RMS = 200.0
START_HINT = "start the service (systemctl start appliance) and run doctor again"


@dataclass
class Heard:
    outcome: str  # "answered", "busy", ... (place_call's outcome) or "failed"
    status: int | None
    pcm: bytes = b""
    voiced: bool = False  # any frame above the silence threshold
    hung_up_by_appliance: bool = False
    bye_status: int | None = None  # the appliance's answer to our BYE


def words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9']+", text.lower().replace("’", "'"))


def heard_share(expected: str, transcript: str) -> float:
    """The share of the expected text's distinct words found in the transcript (pure)."""
    want = set(words(expected))
    if not want:
        return 0.0
    return len(want & set(words(transcript))) / len(want)


def greeting_text(s: Settings) -> str:
    from appliance.clinic.promises import Promises
    from appliance.clinic.service import clinic_now, pack_for_calls

    pack = pack_for_calls(s)
    opens = Promises(pack.clinic, pack.dialogue, clinic_now(pack), {}).greeting()  # after hours: that greeting
    greeting = pack.dialogue.greeting_after_hours if opens and pack.dialogue.greeting_after_hours else \
        pack.dialogue.greeting
    text = greeting.replace("{clinic}", pack.clinic.name).replace("{when}", opens or "")
    return re.sub(r"\{[^}]*\}", " ", text)


def call_target(s: Settings) -> str:
    """Where to reach the appliance from this box: its bind address (loopback when it binds all)."""
    host = s.sip.bind_host
    addr = ipaddress.ip_address(host)
    if addr.is_unspecified:
        return "::1" if addr.version == 6 else "127.0.0.1"
    return host


def _free_udp_port(host: str) -> int:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _rms(pcm: bytes) -> float:
    import numpy as np

    samples = np.frombuffer(pcm[: len(pcm) - len(pcm) % 2], "<i2").astype(np.float64)
    return float(np.sqrt(np.mean(samples**2))) if samples.size else 0.0


async def _refuse(call: CallMedia) -> None:
    await call.hangup("doctor-probe")  # nobody should call the probe; if someone does, hang up


def _secure(s: Settings) -> dict[str, Any]:
    """With SIP over TLS the test call is placed as the PBX would: over TLS (the appliance's own
    certificate pinned, and shown as ours) with the appliance's SRTP policy."""
    if s.sip.transport != "tls":
        return {}
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    from appliance.setup.tls import sip_pair
    from appliance.telephony.siptls import fingerprint

    pair = sip_pair(s, generate=False)
    if pair is None:
        raise ApplianceError("SIP over TLS: the appliance has no certificate yet",
                             fix=START_HINT + " (it makes one at its first start)")
    cert, key = pair
    der = x509.load_pem_x509_certificate(cert.read_bytes()).public_bytes(Encoding.DER)
    return {"transport": "tls", "srtp": s.sip.srtp, "tls_cert": cert, "tls_key": key,
            "tls_pbx_sha256": fingerprint(der)}


def _probe_tls(s: Settings, host: str, port: int) -> ProbeResult:
    """OPTIONS to the appliance over TLS, its own certificate pinned (what the test call will use)."""
    from appliance.setup.sipprobe import probe_tls
    from appliance.telephony.siptls import TlsPolicy

    fields = _secure(s)
    policy = TlsPolicy.build(fields["tls_cert"], fields["tls_key"], None, fields["tls_pbx_sha256"])
    return probe_tls(host, port, policy, None, timeout=3.0)


async def place_test_call(s: Settings, host: str) -> Heard:
    """Call the appliance at host:bind_port from a temporary edge; record what is heard."""
    from appliance.telephony.edge import SipEdge

    probe_settings = SipSettings.model_validate({
        "mode": "trunk", "bind_host": host, "bind_port": _free_udp_port(host), "extension": "doctor",
        "allowed_sources": (str(ipaddress.ip_network(host)),), "max_calls": 1,
        "rtp_port_min": s.sip.rtp_port_min, "rtp_port_max": s.sip.rtp_port_max, **_secure(s)})
    edge = SipEdge(probe_settings, _refuse)
    await edge.start()
    try:
        tls = ";transport=tls" if s.sip.transport == "tls" else ""
        uri = f"sip:{s.sip.extension or 'appliance'}@{f'[{host}]' if ':' in host else host}:{s.sip.bind_port}{tls}"
        placed = await edge.place_call(uri, timeout_s=ANSWER_S)
        heard = Heard(placed.outcome, placed.status)
        call = placed.call
        if placed.outcome != "answered" or call is None:
            return heard
        call.send_audio(b"\x00\x00" * 8000 * int(FIRST_SOUND_S + LISTEN_S))  # the line stays open: silence
        chunks: list[bytes] = []
        start = time.monotonic()
        until = start + FIRST_SOUND_S
        try:
            while (left := until - time.monotonic()) > 0:
                try:
                    ev = await asyncio.wait_for(call.recv(), timeout=left)
                except TimeoutError:
                    break
                if isinstance(ev, HangUp):
                    heard.hung_up_by_appliance = ev.reason == "remote-bye"
                    break
                if isinstance(ev, AudioIn):
                    if heard.voiced:
                        chunks.append(ev.pcm)
                    elif _rms(ev.pcm) > SILENCE_RMS:
                        heard.voiced = True
                        chunks.append(ev.pcm)
                        until = time.monotonic() + LISTEN_S
        finally:
            if call.state == "confirmed":  # still up: our BYE, and the appliance's answer to it
                bye = await edge.send_in_dialog(call, "BYE", wait=2.0)
                heard.bye_status = bye.status if bye is not None else None
            call.terminated("doctor")
        heard.pcm = b"".join(chunks)
        return heard
    finally:
        await edge.stop()


def _load_asr(s: Settings) -> object:
    from appliance.models.resolver import ChecksumCache, default_manifest_path, load_manifest, resolve_model
    from appliance.voice.engines import load_asr

    specs = load_manifest(s.models.manifest or default_manifest_path())
    model = resolve_model(specs["asr"], s.models.overrides.get("asr"), ChecksumCache(None))
    return load_asr(model, s)


async def _probe_and_listen(s: Settings, host: str) -> tuple[Heard, str]:
    from appliance.voice.asr import WhisperTranscriber

    loading = asyncio.create_task(asyncio.to_thread(_load_asr, s))  # loads while the call runs
    try:
        heard = await place_test_call(s, host)
    finally:
        asr = await loading
    if not heard.pcm:
        return heard, ""
    text = await asyncio.to_thread(WhisperTranscriber(asr, vocabulary="").transcribe, heard.pcm)
    return heard, text


def check_voice_path(s: Settings) -> list[Result]:
    host, port = call_target(s), s.sip.bind_port
    where = f"{host}:{port}"
    if not SourceGuard(s.sip.allowed_sources).allowed(host):
        return [Result(NAME, "fail", f"the appliance does not accept SIP from its own address {host}, so it "
                       "cannot call itself", f'add "{host}/32" to sip.allowed_sources (next to the PBX) and '
                       "restart the service, or call the appliance from a desk phone to test the voice path")]
    try:
        greeting = greeting_text(s)
    except ApplianceError as e:
        return [Result(NAME, "fail", f"no approved greeting to listen for: {e.message}", e.fix)]
    try:
        answered = probe(host, port, timeout=3.0) if s.sip.transport != "tls" else _probe_tls(s, host, port)
    except ApplianceError as e:
        return [Result(NAME, "unknown", e.message, e.fix)]
    if not answered.answered:
        # Not a failure of the voice path, which cannot be tried: say so, and how to try it.
        return [Result(NAME, "unknown", f"nothing answers SIP at {where} ({answered.status}): the service is "
                       "not running, so the voice path was not tested", START_HINT)]
    try:
        heard, text = asyncio.run(_probe_and_listen(s, host))
    except ApplianceError as e:
        return [Result(NAME, "fail", e.message.splitlines()[0], e.fix)]
    if heard.outcome != "answered":
        status = f"{heard.status}" if heard.status else "no answer"
        fix = ("all lines are busy: run doctor again when calls have ended" if heard.outcome == "busy"
               else "check the service's log (journalctl -u appliance) for why it did not answer")
        return [Result(NAME, "fail", f"the test call to {where} was not answered: {heard.outcome} ({status})", fix)]
    if not heard.voiced:
        return [Result(NAME, "fail", f"the appliance answered the test call at {where} but sent no audible "
                       f"audio within {FIRST_SOUND_S:g} s", "check the service's log (journalctl -u appliance) for "
                       "voice or RTP errors; check no firewall drops UDP in the RTP port range on this box")]
    share = heard_share(greeting, text)
    shown = text if len(text) <= 120 else text[:117] + "..."
    ended = ("the appliance hung up" if heard.hung_up_by_appliance
             else f"BYE answered {heard.bye_status}" if heard.bye_status else "BYE unanswered")
    if share >= MIN_HEARD:
        return [Result(NAME, "pass", f"called {where}: heard {share:.0%} of the greeting's words "
                       f"({len(heard.pcm) // 16000} s recorded; {ended}): {shown!r}")]
    return [Result(NAME, "fail", f"called {where} and heard audio, but only {share:.0%} of the greeting's words "
                   f"(need {MIN_HEARD:.0%}): {shown!r}",
                   "check the service runs the approved pack (`appliance protocol`), and its log for TTS errors; "
                   "a garbled recording points at packet loss on this box")]


def doctor_checks() -> list[tuple[str, Check, str | None]]:
    return [(NAME, check_voice_path, "registration")]
