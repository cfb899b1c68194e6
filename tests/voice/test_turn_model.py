"""Smart Turn v3 on real speech: its features come from faster-whisper's public extractor.

The model was trained on the Hugging Face Whisper extractor's features; Pipecat 1.14 carries a
numpy copy of that extractor in a private module, which is the reference here while it can be
imported. The probabilities on known audio (espeak-ng through G.711) are pinned as measured
with the reference extractor, so a change of extractor that moves them is caught either way.
"""

from __future__ import annotations

import numpy as np
import pytest

from appliance.config import Settings
from appliance.models.resolver import resolve_all
from appliance.voice.audio import pcm_to_float, resample
from appliance.voice.engines import LOADERS
from appliance.voice.turn import SmartTurn, log_mel_features, turn_features

from .helpers import espeak

pytestmark = pytest.mark.models

# (what the caller says, Smart Turn's probability with the reference extractor, measured)
KNOWN = (
    ("I'd like to book an appointment for next Tuesday.", 0.9108),
    ("Yes.", 0.9816),
    ("My lips are swollen and I", 0.1950),
)


@pytest.fixture(scope="module")
def smart_turn() -> SmartTurn:
    settings = Settings()
    return SmartTurn(LOADERS["turn"](resolve_all(settings, ("turn",))["turn"], settings))


@pytest.fixture(scope="module")
def speech() -> dict[str, bytes]:
    return {text: espeak(text) for text, _ in KNOWN}


def _eight_seconds(pcm8k: bytes) -> np.ndarray:
    x = resample(pcm_to_float(pcm8k), 8000, 16000)
    return np.pad(x, (128000 - x.size, 0)) if x.size < 128000 else x[-128000:]


def test_features_match_the_reference_extractor(smart_turn: SmartTurn, speech: dict[str, bytes]) -> None:
    reference = pytest.importorskip("pipecat.audio.turn.smart_turn._whisper_features")
    for text, pcm in speech.items():
        x = _eight_seconds(pcm)
        old = reference.compute_whisper_log_mel_features(x, do_normalize=True)
        new = log_mel_features(x)
        assert new.shape == old.shape == (80, 800) and new.dtype == np.float32
        assert float(np.abs(new - old).max()) < 1e-4, text
        p_old = float(np.asarray(smart_turn.session.run(None, {"input_features": old[None]})[0]).reshape(-1)[0])
        assert abs(smart_turn.complete_probability(pcm) - p_old) < 1e-3, text


def test_known_speech_gets_the_known_verdicts(smart_turn: SmartTurn, speech: dict[str, bytes]) -> None:
    for text, measured in KNOWN:
        p = smart_turn.complete_probability(speech[text])
        assert abs(p - measured) < 0.02, (text, p)
        assert (p >= 0.5) == (measured >= 0.5)


def test_short_and_long_utterances_make_eight_seconds_of_features() -> None:
    for seconds in (0.05, 3.0, 11.0):
        pcm = (np.sin(np.arange(int(seconds * 8000)) * 0.3) * 8000).astype("<i2").tobytes()
        feats = turn_features(pcm)
        assert feats.shape == (1, 80, 800) and np.isfinite(feats).all()
