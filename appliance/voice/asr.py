"""Whisper (faster-whisper, CTranslate2 int8) on 8 kHz caller audio: the bundled `Transcriber`.

`hear` also returns Whisper's own confidence in the words: exp of the mean per-token log
probability, weighted by segment length (about 0.6-0.9 for clear speech, below 0.4 for
audio it struggled with). The conversation uses it to confirm a symptom it barely heard.

One `WhisperTranscriber` per loaded model (held by `Engines`), shared by all calls: its lock
keeps two calls from running the model at once. The model is faster-whisper's `WhisperModel`
in this process, or `appliance.inference.proxies.RemoteWhisper` in a worker process.
"""

from __future__ import annotations

import math
import threading
from typing import Any

from appliance.config import DEFAULT_VOCABULARY
from appliance.voice.audio import pcm_to_float, resample
from appliance.voice.interfaces import Heard, Transcriber

__all__ = ["Heard", "Transcriber", "WhisperTranscriber"]


class WhisperTranscriber:
    """`Transcriber` over faster-whisper. Blocking: call from a worker thread (the session does)."""

    def __init__(self, model: Any, vocabulary: str = DEFAULT_VOCABULARY) -> None:
        self._model = model
        self._vocabulary = vocabulary
        self._lock = threading.Lock()

    def transcribe(self, pcm8k: bytes) -> str:
        return self.hear(pcm8k).text

    def hear(self, pcm8k: bytes, vocabulary: str | None = None) -> Heard:
        audio = resample(pcm_to_float(pcm8k), 8000, 16000)
        if audio.size < 1600:  # < 0.1 s
            return Heard("", None)
        prompt = (self._vocabulary if vocabulary is None else vocabulary) or None
        with self._lock:
            segments, _info = self._model.transcribe(
                audio, language="en", beam_size=1, best_of=1, temperature=0.0,
                initial_prompt=prompt, condition_on_previous_text=False,
                without_timestamps=True, vad_filter=False, no_speech_threshold=0.6,
            )
            kept = [s for s in segments if s.no_speech_prob < 0.8 or s.avg_logprob > -0.7]
        text = " ".join(s.text.strip() for s in kept).strip()
        weight = sum(max(1, len(s.text)) for s in kept)
        if not text or not weight:
            return Heard(text, None)
        mean = sum(s.avg_logprob * max(1, len(s.text)) for s in kept) / weight
        return Heard(text, round(math.exp(min(0.0, mean)), 3))
