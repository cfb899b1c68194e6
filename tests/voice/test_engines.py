"""`Engines` and the engine wrappers without a model: protocol checks, the synthesiser's cache
and pins, the transcriber's vocabulary, and no state kept inside third-party objects."""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from appliance.config import Settings
from appliance.errors import ModelError
from appliance.voice.asr import WhisperTranscriber
from appliance.voice.engines import WRAPPERS, Engines
from appliance.voice.interfaces import Synthesizer, Transcriber, TurnDetector, VoiceActivity

from .fakes import ToneSynthesizer, fake_engines, tone


def _parts() -> dict[str, object]:
    e = fake_engines(["hello"])
    return {"vad": e.vad, "turn": e.turn, "asr": e.asr, "relisten": e.relisten, "tts": e.tts, "llm": e.llm}


def test_engines_of_checks_every_role_against_its_protocol() -> None:
    parts = _parts()
    assert isinstance(Engines.of(parts).tts, ToneSynthesizer)
    with pytest.raises(ModelError, match="no engine for llm"):
        Engines.of({k: v for k, v in parts.items() if k != "llm"})
    with pytest.raises(ModelError, match="engine for asr, tts lacks"):
        Engines.of({**parts, "asr": object(), "tts": "not a voice"})


def test_the_synthesizer_caches_marked_lines_and_keeps_pins() -> None:
    synth = ToneSynthesizer()
    synth._cache_items = 1  # a one-line cache shows the eviction
    assert synth.synthesize("Good morning.", cache=True) == synth.synthesize("Good morning.", cache=True)
    assert synth.rendered == ["Good morning."]
    synth.synthesize("Two words.", cache=True)
    assert synth.cached("Good morning.") is None and synth.cached("Two words.") is not None
    synth.pin("First part. Second part here.")
    assert synth.cached("First part.") == ToneSynthesizer.WORD * 2
    synth.synthesize("Other.", cache=True)
    synth.synthesize("Another.", cache=True)
    assert synth.cached("Second part here.") == ToneSynthesizer.WORD * 3  # pins are never evicted
    synth.synthesize("Uncached line.")
    assert synth.cached("Uncached line.") is None


@dataclass
class _Segment:
    text: str
    no_speech_prob: float = 0.1
    avg_logprob: float = -0.2


class _Whisper:
    """faster-whisper's `transcribe`, recording the prompt it was given."""

    def __init__(self) -> None:
        self.prompts: list[str | None] = []

    def transcribe(self, audio: np.ndarray, **options: Any) -> tuple[list[_Segment], None]:
        self.prompts.append(options["initial_prompt"])
        return [_Segment(" Hello there.")], None


def test_the_transcriber_uses_its_vocabulary_unless_the_call_names_one() -> None:
    model = _Whisper()
    asr = WhisperTranscriber(model, vocabulary="Botox, Dysport")
    pcm = tone(0.5, 300.0)
    heard = asr.hear(pcm)
    assert heard.text == "Hello there." and heard.confidence == round(float(np.exp(-0.2)), 3)
    asr.hear(pcm, "Juvederm")
    asr.hear(pcm, "")
    assert model.prompts == ["Botox, Dysport", "Juvederm", None]
    assert asr.hear(pcm[:100]).confidence is None  # too short to transcribe


def test_wrappers_keep_no_state_in_the_objects_they_wrap() -> None:
    settings = Settings()
    kinds = {"vad": VoiceActivity, "turn": TurnDetector, "asr": Transcriber, "relisten": Transcriber,
             "tts": Synthesizer}
    for role, kind in kinds.items():
        raw = SimpleNamespace()
        engine = WRAPPERS[role](raw, settings)
        assert isinstance(engine, kind), role
        assert vars(raw) == {}, role
    first, second = (WRAPPERS["tts"](SimpleNamespace(), settings) for _ in range(2))
    assert first is not second  # one wrapper (lock, cache) per loaded voice
