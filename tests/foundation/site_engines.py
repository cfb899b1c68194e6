"""Factories a site could name in `[models] engines` (here: the scripted fakes of tests/voice)."""

from __future__ import annotations

from appliance.config import Settings
from tests.voice.fakes import FixedTurn, LevelVad, ScriptedTranscriber, SilentLanguageModel, ToneSynthesizer


def vad(settings: Settings) -> LevelVad:
    return LevelVad()


def turn(settings: Settings) -> FixedTurn:
    return FixedTurn()


def asr(settings: Settings) -> ScriptedTranscriber:
    return ScriptedTranscriber(["hello"])


def relisten(settings: Settings) -> ScriptedTranscriber:
    return ScriptedTranscriber(["hello"])


def tts(settings: Settings) -> ToneSynthesizer:
    return ToneSynthesizer()


def llm(settings: Settings) -> SilentLanguageModel:
    return SilentLanguageModel()


def not_an_engine(settings: Settings) -> object:
    return object()
