"""Whisper (faster-whisper, CTranslate2 int8) on 8 kHz caller audio: the bundled `Transcriber`.

`hear` also returns Whisper's own confidence in the words: exp of the mean per-token log
probability, weighted by segment length (about 0.6-0.9 for clear speech, below 0.4 for
audio it struggled with). The conversation uses it to confirm a symptom it barely heard.
A hearing whose text is a decoder loop ("The nasolabial folds, the nasolabial folds, ..." for "the
nurse didn't pick up and now I've passed out", at 0.83) is capped at `LOOPED_CONFIDENCE`: its
token probabilities say nothing of the caller's words, and an unsure hearing is heard again by the
second listen. A loop is what Whisper itself calls one: text that compresses more than 2.4 times
(its `compression_ratio_threshold`, past which it would decode again at a higher temperature,
which the appliance's greedy decoding does not do).

One `WhisperTranscriber` per loaded model (held by `Engines`), shared by all calls: its lock
keeps two calls from running the model at once. The model is faster-whisper's `WhisperModel`
in this process, or `appliance.inference.proxies.RemoteWhisper` in a worker process.
"""

from __future__ import annotations

import math
import threading
import zlib
from typing import Any

from appliance.config import DEFAULT_VOCABULARY
from appliance.voice.audio import pcm_to_float, resample
from appliance.voice.interfaces import Heard, Transcriber

__all__ = ["Heard", "Transcriber", "WhisperTranscriber", "confidence", "looped"]

LOOP_RATIO = 2.4  # Whisper's compression_ratio_threshold
LOOPED_CONFIDENCE = 0.3  # a decoder loop's hearing: unsure whatever its token probabilities say


def looped(text: str) -> bool:
    """The text is a decoder loop: it compresses (zlib) more than `LOOP_RATIO` times."""
    data = text.strip().encode()
    return bool(data) and len(data) / len(zlib.compress(data)) > LOOP_RATIO


def confidence(segments: list[Any]) -> float | None:
    """Whisper's confidence in the kept segments' words (`text`, `avg_logprob`): exp of the mean
    token log probability, weighted by text length; capped when a segment is a decoder loop."""
    weight = sum(max(1, len(s.text)) for s in segments)
    if not weight or not "".join(s.text for s in segments).strip():
        return None
    mean = sum(s.avg_logprob * max(1, len(s.text)) for s in segments) / weight
    value = round(math.exp(min(0.0, mean)), 3)
    return min(value, LOOPED_CONFIDENCE) if any(looped(s.text) for s in segments) else value


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
        return Heard(text, confidence(kept) if text else None)
