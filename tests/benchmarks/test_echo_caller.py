"""The benchmark caller as a speakerphone: what it hears comes back in what it sends, delayed and
attenuated, so the appliance's echo control is measured on the wire."""

from __future__ import annotations

import socket
import time

import numpy as np

from appliance.telephony.g711 import ULAW_DECODE, ulaw_encode
from appliance.telephony.rtp import RtpPacket, parse_rtp
from benchmarks.rtp_endpoint import RtpEndpoint


def _level_db(pcm: np.ndarray) -> float:
    return float(20 * np.log10(np.sqrt(np.mean(pcm.astype(np.float64) ** 2)) + 1e-9))


def test_what_the_caller_hears_comes_back_delayed_and_attenuated() -> None:
    far = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    far.bind(("127.0.0.1", 0))
    far.settimeout(0.5)
    ep = RtpEndpoint(echo_db=-20.0, echo_delay_s=0.06)
    ep.start(far.getsockname())
    try:
        tone = (8000 * np.sin(2 * np.pi * 440 * np.arange(160) / 8000)).astype("<i2")
        payload = ulaw_encode(tone.tobytes())
        sent_at, back = [], []
        for seq in range(50):  # one second of tone, paced like RTP
            far.sendto(RtpPacket(0, seq, seq * 160, 1234, payload).build(), ("127.0.0.1", ep.port))
            sent_at.append(time.monotonic())
            time.sleep(0.02)
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline:
            try:
                pkt = parse_rtp(far.recv(2048))
            except TimeoutError:
                break
            if pkt is not None:
                back.append((time.monotonic(), ULAW_DECODE[np.frombuffer(pkt.payload, np.uint8)]))
    finally:
        ep.close()
        far.close()
    loud = [(t, pcm) for t, pcm in back if _level_db(pcm) > 30.0]
    assert len(loud) >= 40, len(loud)  # the tone came back ...
    level = np.median([_level_db(pcm) for _, pcm in loud]) - _level_db(tone)
    assert -21.5 < level < -18.5, level  # ... 20 dB down ...
    assert loud[0][0] - sent_at[0] >= 0.05  # ... and not before the echo delay


def test_without_echo_the_caller_sends_silence_while_it_listens() -> None:
    far = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    far.bind(("127.0.0.1", 0))
    far.settimeout(0.5)
    ep = RtpEndpoint()
    ep.start(far.getsockname())
    try:
        tone = ulaw_encode((8000 * np.sin(2 * np.pi * 440 * np.arange(160) / 8000)).astype("<i2").tobytes())
        for seq in range(20):
            far.sendto(RtpPacket(0, seq, seq * 160, 1234, tone).build(), ("127.0.0.1", ep.port))
            time.sleep(0.02)
        got = [parse_rtp(far.recv(2048)) for _ in range(20)]
    finally:
        ep.close()
        far.close()
    assert all(p is not None and _level_db(ULAW_DECODE[np.frombuffer(p.payload, np.uint8)]) < 0 for p in got)
