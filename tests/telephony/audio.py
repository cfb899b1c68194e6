"""Test audio: tones, WAV files, and what frequency a recording carries."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np

RATE = 8000


def tone(hz: float, seconds: float, amp: int = 8000) -> bytes:
    t = np.arange(int(RATE * seconds)) / RATE
    return (amp * np.sin(2 * np.pi * hz * t)).astype("<i2").tobytes()


def write_wav(path: Path, pcm: bytes) -> Path:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(pcm)
    return path


def read_wav(path: Path) -> np.ndarray:
    with wave.open(str(path)) as w:
        assert w.getframerate() == RATE and w.getnchannels() == 1
        return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")


def loud_frames(pcm: np.ndarray, threshold: float = 500.0) -> np.ndarray:
    """The 20 ms frames whose mean absolute level is over `threshold`, concatenated."""
    n = len(pcm) // 160
    frames = pcm[: n * 160].reshape(n, 160) if n else np.zeros((0, 160), dtype="<i2")
    return frames[np.abs(frames.astype(np.int32)).mean(axis=1) > threshold].reshape(-1)


def dominant_hz(pcm: np.ndarray) -> float | None:
    """The strongest frequency in the loud part of `pcm` (None if nothing is loud)."""
    loud = loud_frames(pcm).astype(np.float64)
    if len(loud) < 800:  # under 100 ms of signal
        return None
    spectrum = np.abs(np.fft.rfft(loud * np.hanning(len(loud))))
    return float(np.fft.rfftfreq(len(loud), 1 / RATE)[int(np.argmax(spectrum))])


def recordings(rec_dir: Path) -> list[Path]:
    """baresip's decoded (heard) recordings, oldest first."""
    return sorted(rec_dir.glob("*-dec.wav"))
