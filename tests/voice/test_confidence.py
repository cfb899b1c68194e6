"""The ASR's confidence in a caller's words reaches the conversation with the words.

Whisper's own measure (exp of the mean token log probability) is high for clear speech and
absent when nothing was heard; the voice session hands it to a conversation that asks for it
(`caller_said(text, confidence=...)`), so a symptom heard with low confidence can be confirmed
instead of guessed. Conversations that do not take it are called as before.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import pytest

from appliance.config import VoiceSettings
from appliance.conversation import Reply, Say, reply_items
from appliance.voice.engines import Engines
from appliance.voice.interfaces import Heard, Transcriber
from appliance.voice.processors.transcription import SecondListen

from .helpers import ScriptedConversation, espeak, noise, piper, silence
from .test_session import call

pytestmark = [pytest.mark.models]


def test_clear_speech_is_heard_with_high_confidence_and_noise_with_none(engines: Engines) -> None:
    asr = engines.asr
    heard = asr.hear(piper(engines, "I would like to book a consultation for lip filler."))
    assert "consultation" in heard.text.lower()
    assert heard.confidence is not None and 0.5 < heard.confidence <= 1.0, heard
    assert asr.hear(silence(1.0)).confidence is None


async def test_reply_items_passes_confidence_and_the_second_listen_only_where_they_are_taken() -> None:
    seen: list[tuple[str, float | None, str | None]] = []

    class Takes:
        async def caller_said(self, text: str, confidence: float | None = None, also_heard: str | None = None) -> Reply:
            seen.append((text, confidence, also_heard))
            return Reply(says=(Say("ok"),))

    class ConfidenceOnly:
        async def caller_said(self, text: str, confidence: float | None = None) -> Reply:
            seen.append((text, confidence, None))
            return Reply()

    class DoesNot:
        async def caller_said(self, text: str) -> Reply:
            seen.append((text, None, None))
            return Reply()

    assert [i async for i in reply_items(Takes(), "hello", 0.42, "hello there")][0] == Say("ok")  # type: ignore[arg-type]
    assert [i async for i in reply_items(ConfidenceOnly(), "hey", 0.42, "hay")] == [Reply()]  # type: ignore[arg-type]
    assert [i async for i in reply_items(DoesNot(), "hi", 0.42, "high")] == [Reply()]  # type: ignore[arg-type]
    assert seen == [("hello", 0.42, "hello there"), ("hey", 0.42, None), ("hi", None, None)]


@dataclass
class ConfidenceConversation(ScriptedConversation):
    confidences: list[float | None] = field(default_factory=list)

    async def caller_said(self, text: str, confidence: float | None = None) -> Reply:
        self.confidences.append(confidence)
        return await super().caller_said(text)


async def test_the_voice_session_hands_the_confidence_to_the_conversation(engines: Engines) -> None:
    caller = silence(4.0) + piper(engines, "Hello, I have a question about my appointment.") + noise(3.0)
    conv = ConfidenceConversation()
    await call(engines, caller, conv)
    assert conv.heard and conv.confidences and len(conv.confidences) == len(conv.heard)
    assert conv.confidences[0] is not None and 0.3 < conv.confidences[0] <= 1.0, conv.confidences


@dataclass
class HeardConversation(ScriptedConversation):
    heard_again: list[tuple[float | None, str | None]] = field(default_factory=list)

    async def caller_said(self, text: str, confidence: float | None = None, also_heard: str | None = None) -> Reply:
        self.heard_again.append((confidence, also_heard))
        return await super().caller_said(text)


@dataclass
class Prompts:
    """The real transcriber, with the prompt of each pass it ran written down."""

    asr: Transcriber
    prompts: list[str | None] = field(default_factory=list)

    def hear(self, pcm8k: bytes, vocabulary: str | None = None) -> Heard:
        self.prompts.append(vocabulary)
        return self.asr.hear(pcm8k, vocabulary)


def test_the_second_listen_setting(engines: Engines) -> None:
    vs = VoiceSettings()
    on = SecondListen.of(vs, engines.relisten)
    assert on is not None and on.below == vs.second_listen_below == 0.7 and on.other is engines.relisten
    assert on.vocabulary == f"{vs.vocabulary} {vs.symptom_words}" and "Hives" in on.vocabulary
    assert SecondListen.of(VoiceSettings(second_listen_below=0), engines.relisten) is None  # off
    mute = SecondListen.of(VoiceSettings(symptom_words=" "), engines.relisten)
    assert mute is not None and mute.vocabulary == "" and mute.other is engines.relisten  # the other recogniser only
    alone = SecondListen.of(VoiceSettings(second_recogniser=False), engines.relisten)
    assert alone is not None and alone.other is None and "Hives" in alone.vocabulary  # the prompted pass only
    assert SecondListen.of(VoiceSettings(symptom_words=" ", second_recogniser=False), engines.relisten) is None
    assert SecondListen.of(VoiceSettings(symptom_words=" ")) is None  # nothing to listen with


def test_the_other_hearings_ride_along_only_where_they_differ() -> None:
    first = "My lips are gone right and bloody."
    assert SecondListen.also_heard(first, "my lips are gone, right, and bloody") is None  # same words
    assert SecondListen.also_heard(first, "", "  ") is None
    assert SecondListen.also_heard(first, "My lips have gone white and blotchy.") == "My lips have gone white and blotchy."
    both = SecondListen.also_heard(first, "My lips are gone white", "My lips have gone white and blotchy.",
                                   "my lips are gone white.")  # the third repeats the first other hearing
    assert both == "My lips are gone white. My lips have gone white and blotchy."  # one sentence each


async def test_an_unsure_turn_is_heard_again_with_the_symptom_words_and_by_the_other_recogniser(
        engines: Engines) -> None:
    """espeak-ng's voice is one Whisper tiny is unsure of (median confidence 0.61 on the safety
    corpus); `second_listen_below = 1.0` hears every turn again, so the test does not rest on one
    clip's confidence."""
    settings = VoiceSettings(second_listen_below=1.0)
    spy, other = Prompts(engines.asr), Prompts(engines.relisten)
    caller = silence(2.0) + espeak("tell them the blister's bigger", wpm=160) + noise(3.0)
    conv = HeardConversation()
    _media, session = await call(replace(engines, asr=spy, relisten=other), caller, conv, settings=settings)
    assert conv.heard and len(conv.heard_again) == len(conv.heard), conv.heard
    second = f"{settings.vocabulary} {settings.symptom_words}"
    unsure = [c for c, _ in conv.heard_again if c is not None]  # every turn with words is below 1.0
    assert unsure and spy.prompts.count(second) >= len(unsure), spy.prompts  # each heard again, with the symptom words
    assert len(other.prompts) >= len(unsure), other.prompts  # and by Moonshine (which takes no prompt)
    assert all("second_listen_ms" in t.extra for t in session.metrics.turns), [t.extra for t in session.metrics.turns]
    for text, (_confidence, again) in zip(conv.heard, conv.heard_again, strict=True):
        assert again is None or again.lower() != text.lower()  # only words that differ ride along
