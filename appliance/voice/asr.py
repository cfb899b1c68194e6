"""Whisper (faster-whisper, CTranslate2 int8) on 8 kHz caller audio. One lock per model.

`hear` also returns Whisper's own confidence in the words: exp of the mean per-token log
probability, weighted by segment length (about 0.6-0.9 for clear speech, below 0.4 for
audio it struggled with). The conversation uses it to confirm a symptom it barely heard.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from typing import Any

from appliance.config import DEFAULT_VOCABULARY
from appliance.voice.audio import pcm_to_float, resample


@dataclass(frozen=True)
class Heard:
    text: str
    confidence: float | None  # None when nothing was heard


class Transcriber:
    """Blocking `transcribe(pcm8k)`: call from a worker thread (the session does)."""

    def __init__(self, model: Any, vocabulary: str = DEFAULT_VOCABULARY) -> None:
        self._model = model
        self._prompt = vocabulary or None
        self._lock = threading.Lock()

    def transcribe(self, pcm8k: bytes) -> str:
        return self.hear(pcm8k).text

    def hear(self, pcm8k: bytes) -> Heard:
        audio = resample(pcm_to_float(pcm8k), 8000, 16000)
        if audio.size < 1600:  # < 0.1 s
            return Heard("", None)
        with self._lock:
            segments, _info = self._model.transcribe(
                audio, language="en", beam_size=1, best_of=1, temperature=0.0,
                initial_prompt=self._prompt, condition_on_previous_text=False,
                without_timestamps=True, vad_filter=False, no_speech_threshold=0.6,
            )
            kept = [s for s in segments if s.no_speech_prob < 0.8 or s.avg_logprob > -0.7]
        text = " ".join(s.text.strip() for s in kept).strip()
        weight = sum(max(1, len(s.text)) for s in kept)
        if not text or not weight:
            return Heard(text, None)
        mean = sum(s.avg_logprob * max(1, len(s.text)) for s in kept) / weight
        return Heard(text, round(math.exp(min(0.0, mean)), 3))


def transcriber_for(model: Any, vocabulary: str = DEFAULT_VOCABULARY) -> Transcriber:
    """One Transcriber (and lock) per loaded model and vocabulary."""
    cache: dict[str, Transcriber] = model.__dict__.setdefault("_appliance_transcribers", {})
    if vocabulary not in cache:
        cache[vocabulary] = Transcriber(model, vocabulary)
    return cache[vocabulary]
