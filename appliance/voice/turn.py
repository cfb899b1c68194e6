"""Smart Turn v3 (bundled ONNX): is the caller's utterance complete? The bundled `TurnDetector`.

The model takes the last 8 s of the utterance at 16 kHz (silence-padded in front) as Whisper's
80-band log-mel features of a zero-mean, unit-variance waveform: faster-whisper's public
`FeatureExtractor`, the same computation as the Hugging Face Whisper extractor the model was
trained with. Blocking: run in a worker thread. The session is an onnxruntime session in this
process, or `appliance.inference.proxies.RemoteOnnx` in a worker process.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from appliance.voice.audio import pcm_to_float, resample

_SECONDS = 8
_RATE = 16000
_NORM_EPS = 1e-7


@functools.cache
def _features_extractor() -> Any:
    """One filter bank per process, built on first use (a race builds it twice, harmlessly)."""
    from faster_whisper.feature_extractor import FeatureExtractor

    return FeatureExtractor(feature_size=80, sampling_rate=_RATE, chunk_length=_SECONDS)


def log_mel_features(x16k: np.ndarray) -> np.ndarray:
    """(80, 800) float32 log-mel features of exactly 8 s of 16 kHz audio, normalised first."""
    x = np.asarray(x16k, dtype=np.float32)
    x = (x - x.mean()) / np.sqrt(x.var() + _NORM_EPS)
    feats: np.ndarray = _features_extractor()(x, padding=0)
    return feats.astype(np.float32)


def turn_features(pcm8k: bytes) -> np.ndarray:
    """The model's input for an utterance (8 kHz PCM): its last 8 s at 16 kHz, as (1, 80, 800)."""
    x = resample(pcm_to_float(pcm8k), 8000, _RATE)
    n = _SECONDS * _RATE
    x = x[-n:] if x.size > n else np.pad(x, (n - x.size, 0))
    return log_mel_features(x)[None, ...]


class SmartTurn:
    """`TurnDetector` over one Smart Turn ONNX session, shared by all calls."""

    def __init__(self, session: Any) -> None:
        self.session = session

    def complete_probability(self, pcm8k: bytes) -> float:
        out = self.session.run(None, {"input_features": turn_features(pcm8k)})
        return float(np.asarray(out[0]).reshape(-1)[0])
