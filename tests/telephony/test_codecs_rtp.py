"""G.711 tables, RTP packets, sequence arithmetic, RFC 4733 DTMF."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from appliance.telephony import dtmf, g711
from appliance.telephony.rtp import RtpPacket, parse_rtp, seq_diff, ts_diff

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop  # the G.711 reference implementation in CPython 3.11, used as the oracle

ALL16 = np.arange(-32768, 32768, dtype=np.int16).tobytes()
ALL8 = bytes(range(256))


def test_ulaw_matches_reference_for_every_sample() -> None:
    assert g711.ulaw_encode(ALL16) == audioop.lin2ulaw(ALL16, 2)
    assert g711.ulaw_decode(ALL8) == audioop.ulaw2lin(ALL8, 2)


def test_alaw_matches_reference_for_every_sample() -> None:
    assert g711.alaw_encode(ALL16) == audioop.lin2alaw(ALL16, 2)
    assert g711.alaw_decode(ALL8) == audioop.alaw2lin(ALL8, 2)


def test_decoded_audio_keeps_16_bit_resolution() -> None:
    pcm = (np.sin(np.arange(160) / 5) * 1000).astype("<i2").tobytes()
    back = np.frombuffer(g711.ulaw_decode(g711.ulaw_encode(pcm)), dtype="<i2")
    assert len(set(back.tolist())) > 40  # not squashed to 8-bit steps of 256
    assert np.max(np.abs(back.astype(int) - np.frombuffer(pcm, "<i2"))) < 40
    assert g711.ulaw_decode(bytes([g711.ULAW_SILENCE])) == b"\x00\x00"


def test_rtp_roundtrip_and_rejects() -> None:
    p = RtpPacket(0, 65535, 0xFFFFFFF0, 0x1234, b"\xff" * 160, marker=True)
    q = parse_rtp(p.build())
    assert q == p
    assert parse_rtp(b"\x00" * 11) is None
    assert parse_rtp(b"\x40" + b"\x00" * 20) is None  # version 1
    assert parse_rtp(bytes([0x80, 200]) + b"\x00" * 30) is None  # RTCP SR
    padded = bytes([0xA0]) + p.build()[1:] + b"\x00\x00\x03"
    assert parse_rtp(padded).payload == b"\xff" * 160
    ext = bytes([0x90]) + p.build()[1:12] + b"\xbe\xde\x00\x01" + b"abcd" + b"xy"
    assert parse_rtp(ext).payload == b"xy"
    assert parse_rtp(bytes([0x90]) + p.build()[1:12] + b"\xbe\xde\x00\x09") is None


def test_sequence_and_timestamp_wrap() -> None:
    assert seq_diff(0, 65535) == 1
    assert seq_diff(65535, 0) == -1
    assert seq_diff(100, 50) == 50
    assert ts_diff(10, 0xFFFFFFF0) == 26


def test_dtmf_encode_decode_dedupe() -> None:
    payloads = dtmf.digit_packets("5", duration_ms=100)
    assert len(payloads) == 4 + 3
    events = [dtmf.decode_event(p) for p in payloads]
    assert all(e and e.digit == "5" for e in events)
    assert [e.end for e in events] == [False] * 4 + [True] * 3
    assert events[-1].duration == 800
    rx = dtmf.DtmfReceiver()
    got = [rx.feed(0xFFFFFF00, p) for p in payloads] + [rx.feed(0x00000100, dtmf.encode_event("#", 160, False))]
    assert [g for g in got if g] == ["5", "#"]
    assert dtmf.decode_event(b"\x20\x00\x00\x00") is None  # event 32 is not a digit
    assert dtmf.decode_event(b"\x01") is None
    with pytest.raises(ValueError):
        dtmf.digit_packets("x")
