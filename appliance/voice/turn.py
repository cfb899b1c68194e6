"""Smart Turn v3 (bundled ONNX): is the caller's utterance complete? Blocking: run in a thread."""

from __future__ import annotations

from typing import Any

import numpy as np

from appliance.voice.audio import pcm_to_float, resample

_SECONDS = 8
_RATE = 16000


def turn_complete_probability(session: Any, pcm8k: bytes) -> float:
    """Probability that the utterance (8 kHz PCM, up to its last 8 s) is a finished turn."""
    from pipecat.audio.turn.smart_turn._whisper_features import compute_whisper_log_mel_features

    x = resample(pcm_to_float(pcm8k), 8000, _RATE)
    n = _SECONDS * _RATE
    x = x[-n:] if x.size > n else np.pad(x, (n - x.size, 0))
    feats = compute_whisper_log_mel_features(x, do_normalize=True)[None, ...]
    out = session.run(None, {"input_features": feats.astype(np.float32)})
    return float(np.asarray(out[0]).reshape(-1)[0])
