"""The end-of-turn measuring tool's own arithmetic (no models)."""

from __future__ import annotations

import numpy as np

from appliance.config import VoiceSettings
from appliance.voice.audio import float_to_pcm
from appliance.voice.endpoint_eval import _audio_end, default_strategies
from appliance.voice.policy import end_of_turn


def _tone(seconds: float, level: float = 0.3) -> np.ndarray:
    t = np.arange(int(seconds * 8000)) / 8000
    return level * np.sin(2 * np.pi * 440 * t)


def test_the_audio_ends_at_its_last_sound_not_at_the_end_of_the_buffer() -> None:
    pcm = float_to_pcm(np.concatenate([np.zeros(4000), _tone(1.0), np.zeros(8000)]))
    assert abs(_audio_end(pcm) - 1.5) <= 0.02  # 0.5 s of silence, 1 s of tone, then 1 s of silence


def test_noise_under_the_level_is_not_sound() -> None:
    quiet = float_to_pcm(np.concatenate([_tone(0.5), _tone(1.0, level=0.001)]))  # about -63 dBFS
    assert abs(_audio_end(quiet) - 0.5) <= 0.02


def test_the_appliances_defaults_are_measured_with_its_own_vad_off_level() -> None:
    vs = VoiceSettings()
    defaults = next(s for s in default_strategies(vs) if s.name == "the appliance's defaults")
    assert defaults.vad_off == max(0.05, vs.vad_threshold - 0.15)
    assert defaults.rule == end_of_turn(vs)  # the rule a call builds
    assert defaults.silence_s == vs.silence_ms / 1000
