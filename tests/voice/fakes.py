"""Scripted engines for whole calls without a model: each satisfies its role's protocol
(`appliance.voice.interfaces`) with a few lines of numpy.

The caller's lines are tones, one frequency per line (`caller_audio`): the fake VAD hears
speech wherever the audio is not silent, and the scripted transcriber knows which line it was
given by the tone's frequency, so an early pass and the final pass of one utterance agree (as
Whisper's would). The synthesiser speaks each word as a short fixed tone.
"""

from __future__ import annotations

import math
import threading
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from appliance.voice.engines import Engines
from appliance.voice.interfaces import Heard
from appliance.voice.tts import CachingSynthesizer
from appliance.voice.vad import WINDOW

RATE = 8000
LINE_BASE_HZ = 400.0
LINE_STEP_HZ = 200.0


def tone(seconds: float, hz: float, level: float = 0.3) -> bytes:
    t = np.arange(int(seconds * RATE)) / RATE
    return (level * 32767 * np.sin(2 * math.pi * hz * t)).astype("<i2").tobytes()


def quiet(seconds: float) -> bytes:
    return bytes(int(seconds * RATE) * 2)


def line_hz(index: int) -> float:
    return LINE_BASE_HZ + LINE_STEP_HZ * index


def caller_audio(lines: Sequence[tuple[float, float]]) -> bytes:
    """The caller's side: for each scripted line i, (silence before it, how long it is said)."""
    return b"".join(quiet(gap) + tone(length, line_hz(i)) for i, (gap, length) in enumerate(lines))


def _dominant_hz(pcm: bytes) -> float | None:
    x = np.frombuffer(pcm, "<i2").astype(np.float32)
    if x.size < RATE // 10 or float(np.abs(x).max()) < 100:
        return None
    spectrum = np.abs(np.fft.rfft(x * np.hanning(x.size)))
    return float(np.fft.rfftfreq(x.size, 1 / RATE)[int(spectrum.argmax())])


@dataclass
class ScriptedTranscriber:
    """`Transcriber`: the scripted line whose tone the utterance carries."""

    lines: Sequence[str]
    confidence: float = 0.92
    calls: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def hear(self, pcm8k: bytes, vocabulary: str | None = None) -> Heard:
        with self._lock:
            self.calls += 1
        hz = _dominant_hz(pcm8k)
        if hz is None:
            return Heard("", None)
        index = round((hz - LINE_BASE_HZ) / LINE_STEP_HZ)
        if not 0 <= index < len(self.lines):
            return Heard("", None)
        return Heard(self.lines[index], self.confidence)


class LevelStream:
    """One call's fake VAD state: a 32 ms window is speech when its level is above -40 dBFS."""

    def __init__(self) -> None:
        self._buf = b""
        self._samples = 0

    def feed(self, pcm: bytes) -> list[tuple[float, float]]:
        self._buf += pcm
        out: list[tuple[float, float]] = []
        while len(self._buf) >= 2 * WINDOW:
            window, self._buf = self._buf[:2 * WINDOW], self._buf[2 * WINDOW:]
            x = np.frombuffer(window, "<i2").astype(np.float32) / 32768
            rms = float(np.sqrt(np.mean(x * x)))
            out.append((self._samples / RATE, 0.95 if rms > 0.01 else 0.02))
            self._samples += WINDOW
        return out


@dataclass
class LevelVad:
    """`VoiceActivity`: speech wherever the caller's audio is not silent."""

    streams: int = 0

    def stream(self) -> LevelStream:
        self.streams += 1
        return LevelStream()


@dataclass
class FixedTurn:
    """`TurnDetector`: every pause ends a finished turn."""

    probability: float = 0.9
    asked: int = 0

    def complete_probability(self, pcm8k: bytes) -> float:
        self.asked += 1
        return self.probability


class ToneSynthesizer(CachingSynthesizer):
    """`Synthesizer`: each word a fixed 60 ms tone and 20 ms of silence (the real cache and pins)."""

    WORD = tone(0.06, 880.0, 0.2) + quiet(0.02)

    def __init__(self) -> None:
        super().__init__()
        self.rendered: list[str] = []

    def render(self, text: str) -> bytes:
        self.rendered.append(text)
        return self.WORD * len(text.split())


@dataclass
class SilentLanguageModel:
    """`LanguageModel` that must not be needed: any use fails the call's test."""

    used: list[str] = field(default_factory=list)

    async def warm(self, system: str) -> None:
        self.used.append("warm")

    async def complete_json(self, system: str, user: str, schema: dict[str, Any], max_tokens: int = 128) -> dict[str, Any]:
        self.used.append("complete_json")
        raise AssertionError("the scripted call asked the language model")

    async def stream(self, system: str, user: str, max_tokens: int = 96) -> AsyncIterator[str]:
        self.used.append("stream")
        raise AssertionError("the scripted call asked the language model")
        yield ""  # an async generator


def fake_engines(lines: Sequence[str]) -> Engines:
    """Scripted engines for one call whose caller says `lines` in order (see `caller_audio`)."""
    return Engines.of({"vad": LevelVad(), "turn": FixedTurn(), "asr": ScriptedTranscriber(lines),
                       "relisten": ScriptedTranscriber(lines), "tts": ToneSynthesizer(),
                       "llm": SilentLanguageModel()})
