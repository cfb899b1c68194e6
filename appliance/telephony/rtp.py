"""RTP packets (RFC 3550 §5.1): parse and build, plus 16-bit sequence arithmetic."""

from __future__ import annotations

import struct
from dataclasses import dataclass

HEADER = struct.Struct("!BBHII")


@dataclass(frozen=True)
class RtpPacket:
    payload_type: int
    seq: int
    timestamp: int
    ssrc: int
    payload: bytes
    marker: bool = False

    def build(self) -> bytes:
        return HEADER.pack(0x80, (0x80 if self.marker else 0) | (self.payload_type & 0x7F),
                           self.seq & 0xFFFF, self.timestamp & 0xFFFFFFFF, self.ssrc & 0xFFFFFFFF) + self.payload


def parse_rtp(data: bytes) -> RtpPacket | None:
    """A version-2 RTP packet, or None for anything else (RTCP, garbage, truncation)."""
    if len(data) < HEADER.size:
        return None
    b0, b1, seq, ts, ssrc = HEADER.unpack_from(data)
    if b0 >> 6 != 2:
        return None
    pt = b1 & 0x7F
    if 72 <= pt <= 76:  # RTCP sharing the port (RFC 5761)
        return None
    offset = HEADER.size + 4 * (b0 & 0x0F)
    if b0 & 0x10:  # header extension
        if len(data) < offset + 4:
            return None
        (words,) = struct.unpack_from("!H", data, offset + 2)
        offset += 4 + 4 * words
    end = len(data)
    if b0 & 0x20:  # padding
        if end == 0 or data[-1] == 0:
            return None
        end -= data[-1]
    if offset > end:
        return None
    return RtpPacket(pt, seq, ts, ssrc, bytes(data[offset:end]), bool(b1 & 0x80))


def seq_diff(a: int, b: int) -> int:
    """a - b in 16-bit sequence space, in [-32768, 32767]."""
    return ((a - b + 0x8000) & 0xFFFF) - 0x8000


def ts_diff(a: int, b: int) -> int:
    """a - b in 32-bit timestamp space, signed."""
    return ((a - b + 0x80000000) & 0xFFFFFFFF) - 0x80000000
