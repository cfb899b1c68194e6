"""SIPREC recording sessions at the SIP edge (no models): the metadata parser (good, malformed,
oversize, entity tricks), who is the patient, the offer and its recvonly answer, and the real
edge against SIPp's recording client: 420 `Unsupported: siprec` with shadow calls off; with
them on, both streams heard (peer-locked), nothing sent back, a malformed body refused with 400."""

from __future__ import annotations

import asyncio
import re
import socket
import time
from pathlib import Path

import pytest

from appliance.config import SipSettings
from appliance.telephony import g711
from appliance.telephony.edge import SipEdge
from appliance.telephony.rtp import RtpPacket
from appliance.telephony.sipmsg import parse
from appliance.telephony.siprec.metadata import MAX_BYTES, MetadataError, assign_roles, parse_metadata
from appliance.telephony.siprec.multipart import MultipartError, parse_multipart
from appliance.telephony.siprec.offer import OfferError, answer_sdp, is_recording_session, parse_offer
from tests.telephony.conftest import free_udp_port, sipp
from tests.telephony.rawsip import RawCaller

DATA = Path(__file__).resolve().parents[1] / "data" / "siprec"


def scenario_parts() -> tuple[str, str]:
    """The SDP and metadata of the SIPp recording client's INVITE (tests/data/siprec/src_call.xml)."""
    text = (DATA / "src_call.xml").read_text()
    body = text.split("Content-Length: [len]\n\n", 1)[1].split("]]>", 1)[0]
    sdp = body.split("Content-Type: application/sdp\n\n", 1)[1].split("\n--rs-boundary-7866", 1)[0]
    meta = body.split("Content-Disposition: recording-session\n\n", 1)[1].split("\n--rs-boundary-7866", 1)[0]
    return sdp, meta


SDP, METADATA = scenario_parts()


def sdp_for(media_port: int, staff_port: int, extra: str = "") -> str:
    return (SDP.replace("[local_ip_type]", "4").replace("[media_ip_type]", "4").replace("[local_ip]", "127.0.0.1")
            .replace("[media_ip]", "127.0.0.1").replace("[media_port]", str(media_port))
            .replace("[$staff_port]", str(staff_port)) + extra).replace("\n", "\r\n")


def multipart(sdp: str, metadata: bytes, boundary: str = "b7866") -> bytes:
    return (f"--{boundary}\r\nContent-Type: application/sdp\r\n\r\n{sdp}\r\n--{boundary}\r\n"
            "Content-Type: application/rs-metadata+xml\r\nContent-Disposition: recording-session\r\n\r\n").encode() \
        + metadata + f"\r\n--{boundary}--\r\n".encode()


def invite_bytes(edge_port: int, caller: RawCaller, body: bytes, *, boundary: str = "b7866",
                 headers: tuple[str, ...] = ("Require: siprec",)) -> bytes:
    lines = [f"INVITE sip:srs@127.0.0.1:{edge_port} SIP/2.0",
             f"Via: SIP/2.0/UDP 127.0.0.1:{caller.port};branch=z9hG4bK{caller.call_id}",
             f"From: <sip:5550106666@127.0.0.1>;tag={caller.tag}", "To: <sip:srs@127.0.0.1>", f"Call-ID: {caller.call_id}",
             "CSeq: 1 INVITE", f"Contact: <sip:src@127.0.0.1:{caller.port}>;+sip.src", "Max-Forwards: 70", *headers,
             f"Content-Type: multipart/mixed;boundary={boundary}", f"Content-Length: {len(body)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def as_message(data: bytes):  # noqa: ANN201
    msg = parse(data)
    assert msg, msg
    return msg


# -------------------------------------------------------------------- metadata


def test_metadata_names_the_participants_and_the_streams_they_send() -> None:
    meta = parse_metadata(METADATA.encode())
    assert [p.aor for p in meta.participants] == ["sip:5550106666@clinic.example", "sip:2001@clinic.example"]
    assert meta.labels == {"UAAMm5GRQKSCMVvLyl4rFw==": "1", "i1Pz3to5hGk8fuXl+PbwCw==": "2"}
    assert [meta.sent_labels(p) for p in meta.participants] == [{"1"}, {"2"}]


def test_the_patient_is_the_caller_else_the_first_stream() -> None:
    meta = parse_metadata(METADATA.encode())
    by_caller = assign_roles(["2", "1"], meta, "+1 555 010 6666")  # the same phone, written differently
    assert by_caller.roles == ("staff", "patient") and by_caller.how == "caller-match"
    assert (by_caller.patient, by_caller.staff) == ("5550106666", "2001")
    unclear = assign_roles(["1", "2"], meta, "recorder")  # From names the recording client, not a party
    assert unclear.roles == ("patient", "staff") and unclear.how == "first-stream"
    no_metadata = assign_roles(["a", "b"], None, "recorder")
    assert no_metadata.roles == ("patient", "staff") and no_metadata.patient == ""


@pytest.mark.parametrize("data, why", [
    (b"<recording><participant></recording>", "malformed XML"),
    (b"<not-recording/>", "root element"),
    (b"\xff\xfe<\x00r\x00", "not UTF-8"),
    (b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
     b'<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]><recording>&c;&c;&c;</recording>', "document type"),
    (b'<!DOCTYPE r SYSTEM "file:///etc/passwd"><recording>&xxe;</recording>', "document type"),
    (b"<recording>&undeclared;</recording>", "malformed XML"),
    (b"<recording>" + b"<x>" * 20 + b"</x>" * 20 + b"</recording>", "too large or too deep"),
])
def test_malformed_or_hostile_metadata_is_refused(data: bytes, why: str) -> None:
    t0 = time.perf_counter()
    with pytest.raises(MetadataError, match=why):
        parse_metadata(data)
    assert time.perf_counter() - t0 < 0.5  # nothing is expanded


def test_oversize_metadata_is_refused_before_parsing() -> None:
    big = METADATA.replace("</recording>", "<!--" + "x" * MAX_BYTES + "--></recording>").encode()
    with pytest.raises(MetadataError, match="larger than"):
        parse_metadata(big)


# -------------------------------------------------------------------- the offer and the answer


def test_multipart_parts_and_malformed_bodies() -> None:
    body = multipart(sdp_for(4000, 4002), METADATA.encode())
    parts = parse_multipart(body, 'multipart/mixed; boundary="b7866"')
    assert [p.content_type for p in parts] == ["application/sdp", "application/rs-metadata+xml"]
    assert parts[1].disposition == "recording-session"
    for ctype, data in (("multipart/mixed", body), ("multipart/mixed;boundary=b7866", body[:-12]),
                        ("multipart/mixed;boundary=b7866", b"--b7866\r\nno blank line--b7866--")):
        with pytest.raises(MultipartError):
            parse_multipart(data, ctype)


def test_the_answer_takes_two_audio_streams_recvonly_and_refuses_the_rest() -> None:
    sdp = sdp_for(4000, 4002, "m=video 4004 RTP/AVP 96\na=label:3\na=sendonly\n")
    caller = RawCaller(5060, "offer-1")
    try:
        msg = as_message(invite_bytes(5060, caller, multipart(sdp, METADATA.encode())))
    finally:
        caller.close()
    assert is_recording_session(msg)
    offer = parse_offer(msg)
    assert [s.label for s in offer.sections] == ["1", "2", "3"] and offer.accepted == [0, 1]
    answer = answer_sdp(offer, host="127.0.0.1", ports=[30000, 30002], session_id=7, version=1).decode()
    m_lines = [ln for ln in answer.splitlines() if ln.startswith("m=")]
    assert m_lines == ["m=audio 30000 RTP/AVP 0", "m=audio 30002 RTP/AVP 0", "m=video 0 RTP/AVP 96"]
    assert answer.count("a=recvonly") == 2 and "a=sendrecv" not in answer and "a=sendonly" not in answer
    assert answer.count("a=rtpmap:0 PCMU/8000") == 2 and "a=label:1" in answer and "a=label:2" in answer


def test_an_offer_without_usable_audio_or_with_bad_metadata_is_refused() -> None:
    caller = RawCaller(5060, "offer-2")
    try:
        no_codec = sdp_for(4000, 4002).replace("RTP/AVP 0", "RTP/AVP 18").replace("a=rtpmap:0 PCMU/8000", "")
        with pytest.raises(OfferError) as e:
            parse_offer(as_message(invite_bytes(5060, caller, multipart(no_codec, METADATA.encode()))))
        assert e.value.status == 488
        with pytest.raises(OfferError) as e:
            parse_offer(as_message(invite_bytes(5060, caller, multipart(sdp_for(4000, 4002), b"<recording>"))))
        assert e.value.status == 400
        srtp = sdp_for(4000, 4002).replace("RTP/AVP", "RTP/SAVP")  # SRTP streams: not keyed here, refused
        with pytest.raises(OfferError) as e:
            parse_offer(as_message(invite_bytes(5060, caller, multipart(srtp, METADATA.encode()))))
        assert e.value.status == 488
    finally:
        caller.close()


# -------------------------------------------------------------------- the edge


class Listening:
    """A stand-in shadow runner: counts each stream's frames until the call ends."""

    def __init__(self) -> None:
        self.calls: list = []
        self.frames: dict[str, int] = {}
        self.started = asyncio.Event()
        self.done = asyncio.Event()

    async def __call__(self, call) -> None:  # noqa: ANN001
        self.calls.append(call)
        self.started.set()

        async def drain(stream) -> None:  # noqa: ANN001
            self.frames[stream.role] = 0
            while await stream.frames.get() is not None:
                self.frames[stream.role] += 1

        await asyncio.gather(*(drain(s) for s in call.streams))
        self.done.set()


@pytest.fixture
async def make_edge():  # noqa: ANN201
    """A real SIP edge on loopback; `shadow`: the runner for recording sessions (None: shadow calls off)."""
    edges: list[SipEdge] = []

    async def make(shadow: Listening | None) -> SipEdge:
        settings = SipSettings(bind_port=free_udp_port(), rtp_port_min=30000, rtp_port_max=39999)
        edge = SipEdge(settings, Listening(), shadow=shadow)
        await edge.start()
        edges.append(edge)
        return edge

    yield make
    for edge in edges:
        await asyncio.wait_for(edge.stop(), timeout=5)


def tone_ulaw(seconds: float) -> bytes:
    import numpy as np

    t = np.arange(int(seconds * 8000)) / 8000
    return g711.ulaw_encode((6000 * np.sin(2 * np.pi * 440 * t)).astype("<i2").tobytes())


async def send_stream(sock: socket.socket, to: tuple[str, int], ulaw: bytes) -> None:
    """20 ms PCMU packets, paced, from `sock` (the port the offer named for this stream)."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    for i in range(len(ulaw) // 160):
        sock.sendto(RtpPacket(0, i, i * 160, 0x5EED, ulaw[i * 160:(i + 1) * 160]).build(), to)
        await asyncio.sleep(max(0.0, start + (i + 1) * 0.02 - loop.time()))


def sipp_src(edge_port: int, scenario: str, staff_port: int, *extra: str) -> list[str]:
    return [f"127.0.0.1:{edge_port}", "-sf", str(DATA / scenario), "-m", "1", "-i", "127.0.0.1",
            "-p", str(free_udp_port()), "-mp", str(free_udp_port()), "-set", "staff_port", str(staff_port), *extra]


async def test_shadow_off_answers_a_recording_session_420_unsupported_siprec(make_edge) -> None:
    edge = await make_edge(None)  # the service passes no shadow runner unless [golive] shadow = true
    code, out = await sipp(*sipp_src(edge.port, "src_refused.xml", free_udp_port()), limit_s=20)
    assert code == 0, out
    assert not edge.calls


async def test_shadow_on_hears_both_sides_and_sends_nothing(make_edge, tmp_path: Path) -> None:
    runner = Listening()
    edge = await make_edge(runner)
    (tmp_path / "caller.ulaw").write_bytes(tone_ulaw(1.5))
    staff = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    staff_port = free_udp_port()
    staff.bind(("127.0.0.1", staff_port))
    staff.setblocking(False)
    stranger = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    stranger.bind(("127.0.0.1", 0))
    try:
        run = asyncio.create_task(sipp(*sipp_src(edge.port, "src_call.xml", staff_port, "-d", "2500"), limit_s=30,
                                       cwd=tmp_path))
        await asyncio.wait_for(runner.started.wait(), 10)
        call = runner.calls[0]
        assert [s.role for s in call.streams] == ["patient", "staff"]
        assert call.info.remote_number == "5550106666" and call.info.local_number == "2001"
        staff_rtp = ("127.0.0.1", call.streams[1].rtp.port)
        stranger.sendto(RtpPacket(0, 1, 160, 1, b"\xff" * 160).build(), staff_rtp)  # not the negotiated peer
        await send_stream(staff, staff_rtp, tone_ulaw(1.5))
        code, out = await run
        assert code == 0, out  # includes SIPp's check of the 200: two m=audio PCMU streams, each a=recvonly
        await asyncio.wait_for(runner.done.wait(), 5)
    finally:
        staff_got = 0
        try:
            while staff.recv(2048):
                staff_got += 1
        except BlockingIOError:
            pass
        staff.close()
        stranger.close()
    assert runner.frames["patient"] > 40 and runner.frames["staff"] > 40, runner.frames
    assert call.streams[1].rtp.rejected >= 1  # the stranger's packet
    assert staff_got == 0 and call.media.suppressed == 0  # nothing was ever sent, nor asked to be
    assert call.state == "ended" and not edge.calls


async def test_malformed_metadata_gets_400_and_the_edge_keeps_answering(make_edge) -> None:
    edge = await make_edge(Listening())
    caller = RawCaller(edge.port, "bad-meta-1")
    try:
        body = multipart(sdp_for(4000, 4002), b"<recording><participant></recording>")
        caller.sock.sendto(invite_bytes(edge.port, caller, body), caller.edge)
        refused = await caller.recv(status=400)
        assert refused.cseq[1] == "INVITE"
        caller.call_id = "bad-body-2"
        caller.sock.sendto(invite_bytes(edge.port, caller, b"--b7866\r\nno parts"), caller.edge)
        await caller.recv(status=400)
        caller.call_id = "options-3"
        caller.send("OPTIONS")
        await caller.recv(status=200)
    finally:
        caller.close()
    assert not edge.calls


async def test_a_reinvite_refresh_and_bye_keep_the_session_listen_only(make_edge) -> None:
    runner = Listening()
    edge = await make_edge(runner)
    caller = RawCaller(edge.port, "reinvite-1")
    try:
        body = multipart(sdp_for(4000, 4002), METADATA.encode())
        caller.sock.sendto(invite_bytes(edge.port, caller, body, headers=(
            "Require: siprec", "Supported: timer", "Session-Expires: 1800;refresher=uac")), caller.edge)
        ok = await caller.recv(status=200, cseq_method="INVITE")
        assert ok.get("Session-Expires") == "1800;refresher=uac"  # the recording client refreshes
        caller.to = ok.get("To") or caller.to
        caller.ack()
        await asyncio.wait_for(runner.started.wait(), 5)
        call = runner.calls[0]
        ports = [s.rtp.port for s in call.streams]
        # The client moves stream 2 and refreshes the session: same ports answered, still recvonly.
        caller.cseq = 2
        moved = invite_bytes(edge.port, caller, multipart(sdp_for(4000, 4010), METADATA.encode()),
                             headers=("Supported: timer", "Session-Expires: 1800;refresher=uac"))
        caller.sock.sendto(moved.replace(b"To: <sip:srs@127.0.0.1>", f"To: {caller.to}".encode())
                           .replace(b"CSeq: 1 INVITE", b"CSeq: 2 INVITE").replace(b";branch=z9hG4bK", b";branch=z9hG4bK2-"),
                           caller.edge)
        again = await caller.recv(status=200, cseq_method="INVITE")
        while again.cseq[0] != 2:  # a late retransmission of the first 200
            again = await caller.recv(status=200, cseq_method="INVITE")
        caller.ack(cseq=2)
        answer = again.body.decode()
        assert [int(p) for p in re.findall(r"m=audio (\d+) RTP/AVP 0", answer)] == ports
        assert answer.count("a=recvonly") == 2 and call.streams[1].rtp.peer == ("127.0.0.1", 4010)
        caller.cseq = 3
        caller.send("UPDATE", headers=("Supported: timer", "Session-Expires: 1800;refresher=uac"))
        refreshed = await caller.recv(status=200, cseq_method="UPDATE")
        assert not refreshed.body
        caller.cseq = 4
        caller.send("BYE")
        await caller.recv(status=200, cseq_method="BYE")
        await asyncio.wait_for(runner.done.wait(), 5)
    finally:
        caller.close()
    assert call.state == "ended" and not edge.calls and call.media.suppressed == 0
