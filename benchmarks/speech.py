"""Speech on the wire: which 20 ms packets carry speech, when a reply starts and when it stops.

Pure functions over decoded 8 kHz 16-bit PCM and over (arrival time, carries speech) pairs,
so the harness's timing rules are unit-tested without a network. A packet carries speech when
its RMS level is above `SPEECH_DBFS`: the appliance sends digital silence (µ-law 0xFF decodes
to 0) between replies, and Piper's quietest voiced frames stay well above -45 dBFS.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

FRAME = 160  # samples per 20 ms packet at 8 kHz
SPEECH_DBFS = -45.0


def rms_dbfs(pcm: np.ndarray) -> float:
    if pcm.size == 0:
        return float("-inf")
    rms = float(np.sqrt(np.mean(np.square(pcm.astype(np.float64)))))
    return 20.0 * np.log10(rms / 32768.0) if rms > 0 else float("-inf")


def is_speech(pcm: np.ndarray, threshold_dbfs: float = SPEECH_DBFS) -> bool:
    return rms_dbfs(pcm) > threshold_dbfs


def frames(pcm: np.ndarray) -> list[np.ndarray]:
    """Split into 20 ms frames, the last one zero-padded."""
    n = -(-pcm.size // FRAME)
    padded = np.zeros(n * FRAME, dtype=np.int16)
    padded[: pcm.size] = pcm
    return [padded[i * FRAME:(i + 1) * FRAME] for i in range(n)]


def speech_span(pcm: np.ndarray, threshold_dbfs: float = SPEECH_DBFS) -> tuple[int, int]:
    """(first, last) index of the frames that carry speech; ValueError if none does."""
    voiced = [i for i, f in enumerate(frames(pcm)) if is_speech(f, threshold_dbfs)]
    if not voiced:
        raise ValueError("the audio carries no speech above the threshold")
    return voiced[0], voiced[-1]


@dataclass(frozen=True)
class Arrival:
    t: float  # time.monotonic() when the packet arrived
    speech: bool


def onset_after(arrivals: Sequence[Arrival], t0: float) -> float | None:
    """Arrival time of the first speech packet after t0 (None: no reply yet)."""
    for a in arrivals:
        if a.t > t0 and a.speech:
            return a.t
    return None


def talking_at(arrivals: Sequence[Arrival], t: float, window_s: float = 0.1) -> bool:
    """Did speech arrive within `window_s` before t (the far end was talking at t)?"""
    return any(a.speech and t - window_s <= a.t <= t for a in arrivals)


def talking_steadily(arrivals: Sequence[Arrival], t: float, span_s: float = 0.2, gap_s: float = 0.1) -> bool:
    """Has the far end been talking without a break for the last `span_s` before t (speech
    packets, none more than `gap_s` apart, the last within `gap_s` of t)? Where a person would
    cut in: inside a phrase, not in the pause between two sentences."""
    times = [a.t for a in arrivals if a.speech and t - span_s - gap_s <= a.t <= t]
    if not times or t - times[-1] > gap_s or times[0] > t - span_s + gap_s:
        return False
    return all(b - a <= gap_s for a, b in zip(times, times[1:], strict=False))


def burst_end(arrivals: Sequence[Arrival], t0: float, gap_s: float, now: float) -> float | None:
    """The arrival time of the last speech packet of the burst that is under way at t0, once
    no speech has followed it for `gap_s` (before `now`); None while the burst may go on."""
    last: float | None = None
    for a in arrivals:
        if a.t < t0 - gap_s:
            continue
        if not a.speech:
            continue
        if last is not None and a.t - last >= gap_s:
            return last
        last = a.t
    if last is None:
        return None
    return last if now - last >= gap_s else None


def quiet_since(arrivals: Sequence[Arrival], now: float) -> float:
    """Seconds since the last speech packet arrived (inf if none ever did)."""
    for a in reversed(arrivals):
        if a.speech:
            return now - a.t
    return float("inf")
