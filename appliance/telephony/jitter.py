"""A jitter buffer for one RTP stream: reorders, conceals loss, survives sequence wrap.

Pure: the media loop pushes packets as they arrive and pops one packet's worth of audio per
playout tick. Nothing here reads a clock.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from appliance.telephony.rtp import seq_diff


@dataclass
class JitterStats:
    received: int = 0
    played: int = 0
    late: int = 0
    duplicate: int = 0
    concealed: int = 0
    underruns: int = 0
    resets: int = 0


class JitterBuffer:
    """`push(seq, pcm)`; `pop()` returns PCM for the next slot, or None while (re)buffering.

    `prefetch` packets are collected before playout starts (the delay that absorbs jitter).
    A missing packet is concealed (the last frame repeated at half gain once, then silence)
    when later packets are already waiting; with nothing waiting, the buffer refills first.
    """

    def __init__(self, prefetch: int = 3, capacity: int = 50, frame_bytes: int = 320) -> None:
        self.prefetch = prefetch
        self.capacity = capacity
        self.frame_bytes = frame_bytes
        self._slots: dict[int, bytes] = {}
        self._next: int | None = None  # next sequence number to play (16-bit)
        self._playing = False
        self._last: bytes | None = None
        self._concealed_run = 0
        self.stats = JitterStats()

    def __len__(self) -> int:
        return len(self._slots)

    def push(self, seq: int, pcm: bytes) -> None:
        self.stats.received += 1
        if self._next is not None:
            d = seq_diff(seq, self._next)
            if d < 0:
                if d < -self.capacity * 4:  # far in the past: the sender restarted its sequence
                    self._reset(seq)
                else:
                    self.stats.late += 1
                    return
            elif d >= self.capacity * 4:
                self._reset(seq)
        if seq in self._slots:
            self.stats.duplicate += 1
            return
        self._slots[seq] = pcm
        if self._next is None or (not self._playing and seq_diff(seq, self._next) < 0):
            self._next = seq
        while len(self._slots) > self.capacity:  # overflow: drop the oldest
            base = self._next
            oldest = min(self._slots, key=lambda s: seq_diff(s, base))
            del self._slots[oldest]
            self._next = min(self._slots, key=lambda s: seq_diff(s, oldest))

    def _reset(self, seq: int) -> None:
        self.stats.resets += 1
        self._slots.clear()
        self._next = seq
        self._playing = False

    def pop(self) -> bytes | None:
        if self._next is None:
            return None
        if not self._playing:
            if len(self._slots) < self.prefetch:
                return None
            self._playing = True
        pcm = self._slots.pop(self._next, None)
        if pcm is not None:
            self._next = (self._next + 1) & 0xFFFF
            self._last = pcm
            self._concealed_run = 0
            self.stats.played += 1
            return pcm
        if not self._slots:  # nothing waiting: underrun, refill before playing again
            self.stats.underruns += 1
            self._playing = False
            return None
        self._next = (self._next + 1) & 0xFFFF
        self.stats.concealed += 1
        self._concealed_run += 1
        return self._conceal()

    def _conceal(self) -> bytes:
        size = len(self._last) if self._last else self.frame_bytes
        if self._last is None or self._concealed_run > 1:
            return bytes(size)
        samples = np.frombuffer(self._last, dtype="<i2").astype(np.int32) // 2
        return samples.astype("<i2").tobytes()
