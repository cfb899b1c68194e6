"""The ASR's confidence in a caller's words reaches the conversation with the words.

Whisper's own measure (exp of the mean token log probability) is high for clear speech and
absent when nothing was heard; the voice session hands it to a conversation that asks for it
(`caller_said(text, confidence=...)`), so a symptom heard with low confidence can be confirmed
instead of guessed. Conversations that do not take it are called as before.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from appliance.conversation import Reply, Say, reply_items
from appliance.voice.engines import Engines

from .helpers import ScriptedConversation, noise, piper, silence
from .test_session import call

pytestmark = [pytest.mark.models]


def test_clear_speech_is_heard_with_high_confidence_and_noise_with_none(engines: Engines) -> None:
    asr = engines.asr
    heard = asr.hear(piper(engines, "I would like to book a consultation for lip filler."))
    assert "consultation" in heard.text.lower()
    assert heard.confidence is not None and 0.5 < heard.confidence <= 1.0, heard
    assert asr.hear(silence(1.0)).confidence is None


async def test_reply_items_passes_confidence_only_where_it_is_taken() -> None:
    seen: list[tuple[str, float | None]] = []

    class Takes:
        async def caller_said(self, text: str, confidence: float | None = None) -> Reply:
            seen.append((text, confidence))
            return Reply(says=(Say("ok"),))

    class DoesNot:
        async def caller_said(self, text: str) -> Reply:
            seen.append((text, None))
            return Reply()

    assert [i async for i in reply_items(Takes(), "hello", 0.42)][0] == Say("ok")  # type: ignore[arg-type]
    assert [i async for i in reply_items(DoesNot(), "hi", 0.42)] == [Reply()]  # type: ignore[arg-type]
    assert seen == [("hello", 0.42), ("hi", None)]


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
