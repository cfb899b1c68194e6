"""Shadow on the phone line, end to end: `appliance run` with `[golive] shadow = true` and its
real models, SIPp as the PBX's SIPREC recording client (RFC 7866 INVITE with metadata and two
audio streams), a recorded patient who reports a red flag and a recorded receptionist.

The appliance answers recvonly, sends no RTP at all, hears both sides, runs the patient's turn
through the clinic engine silently and stores what it would have done: the would-be emergency
escalation is in the shadow record, and no escalation, page, call record or outbox message
exists. A clinician reads the shadow call in the console; every read is audited.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
import wave
from pathlib import Path

import httpx
import numpy as np
import pytest

from appliance.telephony import g711
from appliance.telephony.rtp import RtpPacket
from benchmarks.corpus import telephone_speech
from tests.conftest import free_port
from tests.foundation.helpers import ApplianceProcess
from tests.staff.conftest import PASSWORD, open_test_repo
from tests.telephony.capture import LoopbackCapture
from tests.telephony.conftest import free_udp_port, sipp

pytestmark = [pytest.mark.models, pytest.mark.slow]

DATA = Path(__file__).resolve().parents[1] / "data" / "siprec"
RTP_MIN, RTP_MAX = 33000, 33999
PATIENT = "Since my lip filler yesterday my lip has turned white and it really hurts."
RECEPTIONIST = ("Harbor Light Aesthetics, this is Sam. How can I help you today?",
                "Oh no. Please stay on the line, I am getting the nurse for you right now.")
CALL_MS = 14000  # the recording lasts this long after the ACK, then SIPp sends BYE


def words(text: str) -> set[str]:
    return set(re.findall(r"[a-z]+", text.lower()))


def speech(tmp_path: Path, text: str, name: str) -> np.ndarray:
    path = telephone_speech(text, tmp_path / f"{name}.wav", "piper")
    with wave.open(str(path)) as w:
        return np.frombuffer(w.readframes(w.getnframes()), "<i2")


def timeline(parts: list[tuple[float, np.ndarray]], total_s: float) -> np.ndarray:
    """Speech placed at the given seconds on a silent track of `total_s`."""
    out = np.zeros(int(total_s * 8000), "<i2")
    for at, pcm in parts:
        a = int(at * 8000)
        out[a:a + len(pcm)] = pcm[: len(out) - a]
    return out


def config(tmp_path: Path, sip_port: int, console_port: int) -> Path:
    cfg = tmp_path / "appliance.toml"
    cfg.write_text(f'[paths]\ndata_dir = "{tmp_path / "var"}"\n\n'
                   f"[sip]\nbind_port = {sip_port}\nrtp_port_min = {RTP_MIN}\nrtp_port_max = {RTP_MAX}\n\n"
                   f"[console]\nport = {console_port}\n\n[golive]\nshadow = true\n")
    return cfg


async def send_side(sock: socket.socket, to: tuple[str, int], pcm: np.ndarray) -> None:
    """The receptionist's side, as the recording client forks it: 20 ms PCMU packets, paced,
    from the port the offer named for stream 2. (SIPp's rtp_stream plays to the first m-line
    only, from its own media port; it cannot address the second.)"""
    ulaw = g711.ulaw_encode(pcm.tobytes())
    loop = asyncio.get_running_loop()
    start = loop.time()
    for i in range(len(ulaw) // 160):
        sock.sendto(RtpPacket(0, i, i * 160, 0x5AFF, ulaw[i * 160:(i + 1) * 160], i == 0).build(), to)
        await asyncio.sleep(max(0.0, start + (i + 1) * 0.02 - loop.time()))


def answer_of(messages: Path) -> str:
    """The 200 OK to the INVITE, as SIPp received it (its -trace_msg file)."""
    text = messages.read_text(errors="replace")
    ok = re.search(r"SIP/2\.0 200 OK.*?CSeq: 1 INVITE.*?(v=0.*?)(?:\n\n|-{20,}|$)", text, re.S)
    assert ok, text[-3000:]
    return ok.group(1)


def query(tmp_path: Path, sql: str) -> list[tuple]:
    from appliance.records.db import connect
    from appliance.records.keys import read_key

    var = tmp_path / "var"
    conn = connect(var / "appliance.db", read_key(var / "secrets" / "db.key"), create=False)
    try:
        return [tuple(r) for r in conn.execute(sql)]
    finally:
        conn.close()


async def console_pages(port: int) -> tuple[str, str]:
    """A clinician signs in and opens the shadow calls list and the first shadow call."""
    async with httpx.AsyncClient(base_url=f"https://127.0.0.1:{port}", verify=False, timeout=30) as c:  # noqa: S501 (self-signed)
        form = await c.get("/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', form.text).group(1)
        signed = await c.post("/login", data={"username": "nina", "password": PASSWORD, "csrf_token": token})
        assert signed.status_code == 303, signed.text
        listing = await c.get("/golive/shadow")
        assert listing.status_code == 200, listing.text
        sid = re.search(r'data-shadow="(\d+)"', listing.text).group(1)
        one = await c.get(f"/golive/shadow/{sid}")
        assert one.status_code == 200, one.text
        return listing.text, one.text


async def test_a_recorded_call_is_heard_in_shadow_and_would_have_escalated(tmp_path: Path) -> None:
    repo = await open_test_repo(tmp_path / "var")  # the appliance's own store: a clinician to read the console
    from appliance.staff.auth import hash_password

    await repo.add_user(username="nina", display_name="Nina", role="clinician", pw_hash=hash_password(PASSWORD),
                        extension=None, actor="system:test")
    await repo.close()
    patient = await asyncio.to_thread(speech, tmp_path, PATIENT, "patient")
    staff = [await asyncio.to_thread(speech, tmp_path, t, f"staff{i}") for i, t in enumerate(RECEPTIONIST)]
    (tmp_path / "caller.ulaw").write_bytes(g711.ulaw_encode(timeline([(3.5, patient)], 12.0).tobytes()))
    staff_track = timeline([(0.2, staff[0]), (9.5, staff[1])], 13.5)
    sip_port, console_port, staff_port = free_udp_port(), free_port(), free_udp_port()
    staff_sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    staff_sock.bind(("127.0.0.1", staff_port))
    staff_sock.setblocking(False)
    sniffer = None
    with contextlib.suppress(PermissionError):  # AF_PACKET: needs CAP_NET_RAW (CI runs as root)
        sniffer = LoopbackCapture().__enter__()
    app = ApplianceProcess(config(tmp_path, sip_port, console_port))
    try:
        await asyncio.to_thread(app.wait_event, "appliance.ready", 240)
        messages = tmp_path / "sipp-messages.log"
        run = asyncio.create_task(sipp(
            f"127.0.0.1:{sip_port}", "-sf", str(DATA / "src_call.xml"), "-m", "1", "-i", "127.0.0.1",
            "-p", str(free_udp_port()), "-mp", str(free_udp_port()), "-set", "staff_port", str(staff_port),
            "-d", str(CALL_MS), "-trace_msg", "-message_file", str(messages), limit_s=60, cwd=tmp_path))
        answered = await asyncio.to_thread(app.wait_event, "siprec.answered", 20)
        assert answered["roles"] == ["patient", "staff"] and answered["metadata"] is True, answered
        await send_side(staff_sock, ("127.0.0.1", answered["rtp_ports"][1]), staff_track)
        code, out = await run
        assert code == 0, out
        finished = await asyncio.to_thread(app.wait_event, "shadow.finished", 60)  # logged once stored
        stored = next(e for e in app.events if e.get("event") == "shadow.stored")
        listing, page = await console_pages(console_port)
    finally:
        app.stop()
        app.kill()
        if sniffer is not None:
            sniffer.stop()
        sent_to_staff = 0
        with contextlib.suppress(BlockingIOError):
            while staff_sock.recv(2048):
                sent_to_staff += 1
        staff_sock.close()

    # The answer: both streams, recvonly, PCMU, a port each.
    sdp = answer_of(messages)
    m_lines = re.findall(r"m=audio (\d+) RTP/AVP 0", sdp)
    assert len(m_lines) == 2 and all(int(p) for p in m_lines) and sdp.count("a=recvonly") == 2, sdp
    assert "sendrecv" not in sdp and "sendonly" not in sdp
    # Not one RTP packet from the appliance, to SIPp's media port or to the second stream's port.
    assert sent_to_staff == 0 and finished["rtp_sends_refused"] == 0
    if sniffer is not None:  # without CAP_NET_RAW only the port the test owns is checked
        rtp_ports = answered["rtp_ports"]
        assert sniffer.sent_to(rtp_ports) > 500 and sniffer.sent_from(rtp_ports) == {}, sniffer.flows.most_common(8)

    # What the appliance heard, and what it would have done.
    (record_json, would, outcome), = query(tmp_path, "SELECT record, would_escalate, outcome FROM shadow_calls")
    import json

    record = json.loads(record_json)
    said = {t["speaker"]: " ".join(x["text"] for x in record["transcript"] if x["speaker"] == t["speaker"])
            for t in record["transcript"]}
    # The patient's stream heard as the patient's (Whisper tiny may hear "lip filler" as "lips are").
    assert {"lip", "white", "hurts"} <= words(said.get("patient", "")), record["transcript"]
    assert {"nurse"} <= words(said.get("staff", "")) or {"help"} <= words(said.get("staff", "")), record["transcript"]
    assert would == "emergency" and outcome == "escalated", (would, outcome)
    assert any(e["severity"] == "emergency" and e["category"] == "vascular-compromise"
               for e in record["escalations"]), record["escalations"]
    assert any("911" in s["text"] for r in record["replies"] for s in r["says"]), record["replies"]
    assert stored["shadow_id"] >= 1 and finished["would_escalate"] == "emergency"

    # Nothing was live: no escalation, no page, no call record, no booking, no outbox message.
    assert query(tmp_path, "SELECT count(*) FROM escalations") == [(0,)]
    assert query(tmp_path, "SELECT count(*) FROM outbox") == [(0,)]
    assert query(tmp_path, "SELECT count(*) FROM calls") == [(0,)]
    assert query(tmp_path, "SELECT count(*) FROM appointments") == [(0,)]
    assert not [e for e in app.events if e.get("event") in ("call.escalation", "paging.started", "call.transfer")]

    # The console shows it; each read is in the audit trail.
    assert "5550106666" in listing and "emergency" in listing
    assert "vascular-compromise" in page and "Would have escalated" in page and "lip" in page.lower()
    actions = {a for (a,) in query(tmp_path, "SELECT action FROM audit_events WHERE action LIKE 'shadow.%'")}
    assert {"shadow.create", "shadow.list", "shadow.read"} <= actions
    # No patient data in the logs: not the number, not the words.
    logs = "".join(app.raw)
    assert "5550106666" not in logs and "turned white" not in logs.lower()
