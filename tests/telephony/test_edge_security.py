"""Security at the edge: source allow-list, RTP from the wrong address, torture messages."""

from __future__ import annotations

import asyncio
import re
import socket
import sys
from pathlib import Path

import numpy as np

from appliance.calls import AudioIn, DtmfIn
from appliance.telephony import g711
from appliance.telephony.dtmf import digit_packets
from appliance.telephony.rtp import RtpPacket
from appliance.telephony.sdp import parse_sdp
from appliance.telephony.sipmsg import parse
from tests.telephony.conftest import Recorder, sipp, sipp_uac

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "data" / "sip"))
from rfc4475 import MESSAGES  # noqa: E402

SDP = ("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
       "m=audio {port} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n")


def udp(host: str = "127.0.0.1") -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((host, 0))
    s.setblocking(False)
    return s


async def recv_sip(sock: socket.socket, want: int | None = None, limit_s: float = 5.0):
    loop = asyncio.get_running_loop()
    async with asyncio.timeout(limit_s):
        while True:
            data = await loop.sock_recv(sock, 65535)
            msg = parse(data)
            if msg and (want is None or msg.status == want):
                return msg


async def raw_call(edge, sip_sock: socket.socket, rtp_port: int, call_id: str) -> tuple[str, tuple[str, int]]:
    port = sip_sock.getsockname()[1]
    body = SDP.format(port=rtp_port)
    invite = (f"INVITE sip:100@127.0.0.1:{edge.port} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK{call_id}\r\n"
              f"From: <sip:5551000@127.0.0.1>;tag=t1\r\nTo: <sip:100@127.0.0.1>\r\nCall-ID: {call_id}\r\nCSeq: 1 INVITE\r\n"
              f"Contact: <sip:caller@127.0.0.1:{port}>\r\nContent-Type: application/sdp\r\n"
              f"Content-Length: {len(body)}\r\n\r\n{body}")
    sip_sock.sendto(invite.encode(), ("127.0.0.1", edge.port))
    ok = await recv_sip(sip_sock, 200)
    media = parse_sdp(ok.body)
    to = ok.get("To")
    ack = (f"ACK sip:100@127.0.0.1:{edge.port} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bKack{call_id}\r\n"
           f"From: <sip:5551000@127.0.0.1>;tag=t1\r\nTo: {to}\r\nCall-ID: {call_id}\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n")
    sip_sock.sendto(ack.encode(), ("127.0.0.1", edge.port))
    return to, (media.host, media.port)


async def test_rtp_only_from_the_negotiated_peer(make_edge) -> None:
    got: list[bytes] = []
    digits: list[str] = []
    up = asyncio.Event()
    done = asyncio.Event()

    async def handler(call) -> None:
        up.set()
        while not done.is_set():
            try:
                ev = await asyncio.wait_for(call.recv(), 0.2)
            except TimeoutError:
                continue
            if isinstance(ev, AudioIn):
                got.append(ev.pcm)
            elif isinstance(ev, DtmfIn):
                digits.append(ev.digit)
        await call.hangup()

    edge = await make_edge(handler)
    sip_sock, legit, intruder = udp(), udp(), udp()
    _, target = await raw_call(edge, sip_sock, legit.getsockname()[1], "rtp-bleed-1")
    await asyncio.wait_for(up.wait(), 5)
    tone = (np.sin(np.arange(160) * 2 * np.pi * 440 / 8000) * 8000).astype("<i2").tobytes()
    loud = np.full(160, 30000, dtype="<i2").tobytes()
    for i in range(50):  # 1 s of a 440 Hz tone from the peer, and a loud square wave from an intruder
        legit.sendto(RtpPacket(0, 1000 + i, 160 * i, 1, g711.ulaw_encode(tone)).build(), target)
        intruder.sendto(RtpPacket(0, 5000 + i, 160 * i, 2, g711.ulaw_encode(loud)).build(), target)
        await asyncio.sleep(0.02)
    for j, p in enumerate(digit_packets("9")):
        legit.sendto(RtpPacket(101, 1050 + j, 160 * 60, 1, p, marker=j == 0).build(), target)
    for j, p in enumerate(digit_packets("3")):
        intruder.sendto(RtpPacket(101, 6000 + j, 99999, 2, p, marker=j == 0).build(), target)
    await asyncio.sleep(0.5)
    done.set()
    await asyncio.sleep(0.3)
    assert len(got) >= 40
    pcm = np.frombuffer(b"".join(got), dtype="<i2")
    assert np.max(np.abs(pcm)) < 9000  # the intruder's 30000-level samples never reached the pipeline
    assert np.max(np.abs(pcm)) > 6000  # the peer's tone did, at 16-bit resolution
    assert digits == ["9"]
    for s in (sip_sock, legit, intruder):
        s.close()


async def test_invite_from_non_allowed_source_is_refused(make_edge) -> None:
    rec = Recorder()
    edge = await make_edge(rec, allowed_sources=("127.0.0.1/32",))
    rc, _ = await sipp(*sipp_uac(edge, "uac_call.xml", "-d", "500", "-recv_timeout", "3000", local_ip="127.0.0.3"),
                       limit_s=10)
    assert rc != 0  # no answer at all
    assert not rec.answered.is_set() and not edge.calls
    assert edge.sip.stats["refused"] >= 1
    rc, out = await sipp(*sipp_uac(edge, "uac_call.xml", "-d", "200"), limit_s=15)  # the allowed PBX still gets through
    assert rc == 0, out


async def test_torture_messages_answered_4xx_or_dropped_and_calls_still_work(make_edge) -> None:
    rec = Recorder()
    edge = await make_edge(rec)
    sock = udp()
    loop = asyncio.get_running_loop()
    statuses: dict[str, list[int]] = {}
    invalid_ids: set[str] = set()
    for name, (_section, expected, data) in MESSAGES.items():
        sock.sendto(data, ("127.0.0.1", edge.port))
        m = re.search(rb"(?im)^(?:call-id|i)\s*:\s*(\S+)", data)
        cid = m.group(1).decode("latin-1") if m else None
        statuses[name] = []
        if expected == "invalid" and cid:
            invalid_ids.add(cid)
        try:
            async with asyncio.timeout(0.3):
                while True:
                    msg = parse(await loop.sock_recv(sock, 65535))
                    if msg and msg.status and msg.call_id == cid:
                        statuses[name].append(msg.status)
        except TimeoutError:
            pass
        if expected == "invalid":
            assert all(400 <= s < 500 for s in statuses[name]), (name, statuses[name])
    assert not invalid_ids & {c.info.call_id for c in rec.calls}  # no invalid INVITE became a call
    for call in list(rec.calls):  # valid torture INVITEs (e.g. the RFC 2543 one) may be answered
        await call.hangup()
    sock.close()
    rc, out = await sipp(*sipp_uac(edge, "uac_call.xml", "-d", "300"), limit_s=15)
    assert rc == 0, out
    assert any(c.info.remote_number.startswith("555") for c in rec.calls)
