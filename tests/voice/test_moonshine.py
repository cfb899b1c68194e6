"""The second recogniser (Moonshine base, `appliance.voice.moonshine`) on telephone audio.

It runs the `moonshine-cpp` wheel's model files with the appliance's own onnxruntime, so the
decoding loop and the token table are the appliance's: these tests hold them to real speech.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from appliance.errors import ModelError
from appliance.voice.engines import Engines
from appliance.voice.moonshine import MAX_SECONDS, MoonshineTranscriber, read_tokens

from .helpers import espeak, piper_fixed, silence

pytestmark = [pytest.mark.models]


def _words(text: str) -> set[str]:
    return set(text.lower().replace(",", " ").replace(".", " ").replace("'", " ").split())


def test_moonshine_hears_a_caller_through_g711_with_its_confidence(engines: Engines) -> None:
    assert isinstance(engines.relisten, MoonshineTranscriber)
    heard = engines.relisten.hear(piper_fixed(engines, "My throat feels tight and I can't breathe properly."))
    assert {"throat", "tight", "breathe"} <= _words(heard.text), heard
    assert heard.confidence is not None and 0.5 < heard.confidence <= 1.0, heard
    # the token table's word boundaries, case and apostrophes; no quote marks around the words
    assert "can't breathe" in heard.text and heard.text[0] == "M" and "\u2581" not in heard.text, heard


def test_moonshine_is_not_whisper_on_a_voice_whisper_struggles_with(engines: Engines) -> None:
    """The two recognisers are different models: on the same unclear audio their words differ,
    which is what the second listen is for (the symptom word itself is checked by the benchmark)."""
    audio = espeak("my lips have gone white and blotchy since the filler", wpm=160)
    first, other = engines.asr.hear(audio), engines.relisten.hear(audio)
    assert first.text and other.text
    assert _words(first.text) != _words(other.text), (first, other)


def test_silence_and_a_click_are_heard_as_nothing(engines: Engines) -> None:
    assert engines.relisten.hear(silence(0.05)).text == ""  # under 0.1 s: not run
    assert engines.relisten.hear(silence(0.05)).confidence is None
    quiet = engines.relisten.hear(silence(1.5))
    assert len(quiet.text.split()) <= 3, quiet  # no invented sentence on silence


def test_a_token_table_that_is_not_one_is_named(tmp_path: Path) -> None:
    bad = tmp_path / "tokenizer.bin"
    bad.write_bytes(b"\x05<unk>\x03<s>\xff\x00")
    with pytest.raises(ModelError) as e:
        read_tokens(bad)
    assert str(bad) in str(e.value) and "not a Moonshine token table" in str(e.value)
    good = tmp_path / "ok.bin"
    good.write_bytes(b"\x05<unk>\x03<s>\x04</s>\x04\xe2\x96\x81a")
    assert read_tokens(good) == [b"<unk>", b"<s>", b"</s>", "\u2581a".encode()]


class _Lengths:
    """A stand-in for the model that writes down how much audio each pass got."""

    def __init__(self) -> None:
        self.seconds: list[float] = []

    def transcribe(self, audio16k: np.ndarray) -> tuple[str, float | None]:
        self.seconds.append(audio16k.size / 16000)
        return f"piece {len(self.seconds)}", -0.1 * len(self.seconds)


def test_long_audio_is_heard_in_pieces_the_model_takes() -> None:
    model = _Lengths()
    heard = MoonshineTranscriber(model).hear(silence(MAX_SECONDS * 2 + 5.0))
    assert model.seconds == [MAX_SECONDS, MAX_SECONDS, 5.0]
    assert heard.text == "piece 1 piece 2 piece 3"
    assert heard.confidence == round(float(np.exp(-0.2)), 3)  # the pieces' mean, weighted by their words
    assert MoonshineTranscriber(_Lengths()).hear(silence(MAX_SECONDS + 0.05)).text == "piece 1"  # a 50 ms tail: not run
