"""RFC 4733 telephone-events (DTMF digits): decode incoming events, encode outgoing digits."""

from __future__ import annotations

import struct
from dataclasses import dataclass

DIGITS = "0123456789*#ABCD"
EVENT = struct.Struct("!BBH")


@dataclass(frozen=True)
class DtmfEvent:
    digit: str
    end: bool
    volume: int
    duration: int  # timestamp units


def decode_event(payload: bytes) -> DtmfEvent | None:
    if len(payload) < EVENT.size:
        return None
    event, flags, duration = EVENT.unpack_from(payload)
    if event >= len(DIGITS):
        return None
    return DtmfEvent(DIGITS[event], bool(flags & 0x80), flags & 0x3F, duration)


def encode_event(digit: str, duration: int, end: bool, volume: int = 10) -> bytes:
    return EVENT.pack(DIGITS.index(digit.upper()), (0x80 if end else 0) | (volume & 0x3F), duration & 0xFFFF)


class DtmfReceiver:
    """Reports each event once, on its first packet; retransmitted and end packets that share
    the event's RTP timestamp are ignored (RFC 4733 §2.5.1.2)."""

    def __init__(self) -> None:
        self._seen: list[int] = []

    def feed(self, timestamp: int, payload: bytes) -> str | None:
        ev = decode_event(payload)
        if ev is None or timestamp in self._seen:
            return None
        self._seen.append(timestamp)
        del self._seen[:-16]
        return ev.digit


def digit_packets(digit: str, *, duration_ms: int = 160, packet_ms: int = 20, rate: int = 8000,
                  end_repeats: int = 3) -> list[bytes]:
    """The payloads for one digit: progress packets every `packet_ms`, then the end packet
    repeated `end_repeats` times. All share the event's timestamp; the first carries the marker."""
    if digit.upper() not in DIGITS:
        raise ValueError(f"not a DTMF digit: {digit!r}")
    step = rate * packet_ms // 1000
    total = rate * duration_ms // 1000
    out = [encode_event(digit, d, False) for d in range(step, total, step)]
    out += [encode_event(digit, total, True)] * end_repeats
    return out


def info_digit(content_type: str, body: bytes) -> str | None:
    """The digit of a SIP INFO (`application/dtmf-relay` "Signal=5", or `application/dtmf`), or None."""
    ctype, text, digit = content_type.lower(), body.decode("utf-8", "replace"), None
    if "dtmf-relay" in ctype:
        for line in text.splitlines():
            k, _, v = line.partition("=")
            if k.strip().lower() == "signal":
                digit = v.strip()
    elif "application/dtmf" in ctype:
        digit = text.strip()
    return digit.upper() if digit and len(digit) == 1 and digit.upper() in DIGITS else None
