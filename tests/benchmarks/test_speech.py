"""The harness's timing rules on synthetic audio and synthetic packet arrivals (no network)."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.speech import (
    Arrival,
    burst_end,
    is_speech,
    onset_after,
    quiet_since,
    speech_span,
    talking_at,
    talking_steadily,
)


def tone(seconds: float, amplitude: int = 6000) -> np.ndarray:
    t = np.arange(int(seconds * 8000)) / 8000
    return (amplitude * np.sin(2 * np.pi * 440 * t)).astype(np.int16)


def silence(seconds: float) -> np.ndarray:
    return np.zeros(int(seconds * 8000), dtype=np.int16)


def test_speech_span_finds_the_voiced_frames() -> None:
    pcm = np.concatenate([silence(0.2), tone(0.5), silence(0.3)])
    first, last = speech_span(pcm)
    assert first == 10 and last == 34  # 0.2 s = 10 frames of 20 ms; speech ends at 0.7 s


def test_quiet_noise_is_not_speech_and_silence_raises() -> None:
    rng = np.random.default_rng(1)
    assert not is_speech((rng.normal(0, 30, 160)).astype(np.int16))  # about -60 dBFS
    assert is_speech(tone(0.02))
    with pytest.raises(ValueError, match="no speech"):
        speech_span(silence(1.0))


def arrivals(pattern: str, t0: float = 100.0) -> list[Arrival]:
    """'.' silence packet, 'S' speech packet, one per 20 ms from t0."""
    return [Arrival(t0 + 0.02 * i, ch == "S") for i, ch in enumerate(pattern)]


def test_onset_is_the_first_speech_packet_after_the_caller_stopped() -> None:
    a = arrivals("SS......SSS...")
    assert onset_after(a, 100.0) == pytest.approx(100.02)
    assert onset_after(a, 100.05) == pytest.approx(100.16)
    assert onset_after(a, 100.3) is None  # no reply (yet): never a zero


def test_talking_at_and_quiet_since() -> None:
    a = arrivals("SSSS......")
    assert talking_at(a, 100.07)
    assert not talking_at(a, 100.19)
    assert quiet_since(a, 100.26) == pytest.approx(0.2)
    assert quiet_since([], 5.0) == float("inf")


def test_burst_end_waits_for_the_gap_and_ignores_short_pauses() -> None:
    # speech, a 100 ms pause (between sentences), more speech, then silence
    a = arrivals("SSSSS.....SSSS" + "." * 40)
    t_last = 100.0 + 0.02 * 13
    assert burst_end(a, 100.0, gap_s=0.3, now=t_last + 0.1) is None  # the agent may still go on
    assert burst_end(a, 100.0, gap_s=0.3, now=t_last + 0.5) == pytest.approx(t_last)


def test_talking_steadily_is_inside_a_phrase_not_in_a_pause() -> None:
    phrase = [Arrival(100.0 + i * 0.02, True) for i in range(20)]  # 100.00 .. 100.38
    pause = [Arrival(100.4 + i * 0.02, False) for i in range(10)]  # 100.40 .. 100.58
    again = [Arrival(100.6 + i * 0.02, True) for i in range(5)]  # 100.60 .. 100.68
    a = phrase + pause + again
    assert talking_steadily(a, 100.30)
    assert not talking_steadily(a, 100.10)  # only 100 ms of the phrase so far
    assert not talking_steadily(a, 100.50)  # in the pause
    assert not talking_steadily(a, 100.66)  # back in speech, but not for 200 ms yet
    assert talking_steadily(a, 100.66, span_s=0.06)
