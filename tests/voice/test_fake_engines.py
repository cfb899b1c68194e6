"""A whole clinic call through the real voice session on scripted engines (no model loaded).

The real `VoiceSession` (Pipecat pipeline, turn-taking, transcription, conversation stage,
speech, transport) runs over `FileCallMedia` with the real `ClinicConversation` on the demo
pack; only the engines are fakes (tests/voice/fakes.py). The caller says that they had lip
filler, then describes blanching: a red flag, so the call escalates and is handed to the
on-call clinician. The whole call costs well under a second of CPU.
"""

from __future__ import annotations

import asyncio
import sys
import time
from datetime import datetime

import pytest

from appliance.clinic.context import CallerContext
from appliance.clinic.engine import ClinicConversation
from appliance.clinic.pack import DEMO_PACK, load_pack
from appliance.config import VoiceSettings
from appliance.voice import engines as engines_module
from appliance.voice.filemedia import FileCallMedia
from appliance.voice.session import VoiceSession

from .fakes import FixedTurn, LevelVad, ScriptedTranscriber, SilentLanguageModel, ToneSynthesizer, caller_audio, fake_engines

CALLER = ("Hi, I had lip filler two days ago.",
          "My lip has gone white and blotchy and it really hurts.")
MODEL_PACKAGES = ("faster_whisper", "ctranslate2", "llama_cpp", "piper", "onnxruntime")
SPEED = 20.0  # the media clock runs 20 times faster than real time


def _no_loading(*_args: object) -> object:
    raise AssertionError("a model loader was called")


async def test_a_red_flag_call_escalates_on_scripted_engines(monkeypatch: pytest.MonkeyPatch) -> None:
    for role in engines_module.LOADERS:
        monkeypatch.setitem(engines_module.LOADERS, role, _no_loading)
    before = set(sys.modules)
    engines = fake_engines(CALLER)
    conversation = ClinicConversation(load_pack(DEMO_PACK), now=datetime(2025, 3, 12, 10, 0), caller=CallerContext())
    # The greeting (15 words) plays in 1.2 s; each line then has 3.5 s for the reply to be said.
    media = FileCallMedia(caller_audio([(2.5, 1.6), (3.5, 2.0)]), tail_s=8.0, speed=SPEED)
    session = VoiceSession(media, conversation, engines, VoiceSettings(endpointing="smart-turn"))

    cpu0, wall0 = time.process_time(), time.monotonic()
    try:
        outcome = await asyncio.wait_for(session.run(), timeout=30)
    finally:
        await media.close()
    cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
    print(f"\nscripted call: {cpu:.3f} s CPU, {wall:.2f} s wall")

    said = [(t.speaker, t.text) for t in outcome.turns]
    assert said[0][0] == "agent" and "Harbor Light Aesthetics" in said[0][1]
    assert ("caller", CALLER[0]) in said and ("caller", CALLER[1]) in said
    assert said.index(("caller", CALLER[0])) < said.index(("caller", CALLER[1]))
    after_filler = said[said.index(("caller", CALLER[0])) + 1]
    assert after_filler[0] == "agent" and "concern" in after_filler[1]
    last = said[-1]
    assert last[0] == "agent" and "on-call nurse practitioner" in last[1] and "911" in last[1]
    assert outcome.outcome == "escalated"
    assert media.transfers == [("201", True)]  # attended, to the on-call clinician
    assert session.hangup_reason == "transfer"

    # The agent's lines were spoken (the fake voice renders each piece once) and played.
    assert isinstance(engines.tts, ToneSynthesizer)
    assert any("Harbor Light Aesthetics" in piece for piece in engines.tts.rendered)
    assert any("911" in piece for piece in engines.tts.rendered)
    assert media.sent_audio_ms() > 3000

    # Every engine was a fake, and each was used as the call uses it.
    assert isinstance(engines.vad, LevelVad) and engines.vad.streams == 1
    assert isinstance(engines.turn, FixedTurn) and engines.turn.asked >= 2
    assert isinstance(engines.asr, ScriptedTranscriber) and engines.asr.calls >= 2
    assert isinstance(engines.llm, SilentLanguageModel) and engines.llm.used == []
    loaded = sorted(m for m in set(sys.modules) - before if m.split(".")[0] in MODEL_PACKAGES)
    assert loaded == [], f"model packages imported during the call: {loaded}"

    assert cpu < 1.0, f"the call took {cpu:.2f} s of CPU"
    assert wall < 5.0, f"the call took {wall:.2f} s"
