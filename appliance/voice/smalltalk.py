"""A minimal conversation for tools: a greeting, then one-sentence small talk from the local LLM.

It gives clinical content never: `appliance simulate` uses it to exercise the voice path
(ASR, LLM first token, TTS) until a clinic conversation is plugged in.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

from appliance.conversation import ConversationOutcome, LanguageModel, Reply, Say, Turn

_SENTENCE_END = re.compile(r"[.!?](?=\s)")

GREETING = "Thank you for calling the clinic. How can I help you today?"
SYSTEM = ("You are the friendly receptionist of an aesthetic clinic on the phone. Reply with one short "
          "sentence. Never give medical advice; offer to book a consultation instead.")


class SmallTalkConversation:
    def __init__(self, lm: LanguageModel, max_tokens: int = 40) -> None:
        self._lm = lm
        self._max_tokens = max_tokens
        self.outcome = ConversationOutcome()

    def start(self) -> Reply:
        self.outcome.turns.append(Turn("agent", GREETING))
        return Reply(says=(Say(GREETING, cacheable=True),))

    async def caller_said(self, text: str) -> Reply:
        says: list[Say] = []
        end_call = False
        async for item in self.caller_said_stream(text):
            if isinstance(item, Say):
                says.append(item)
            else:
                end_call = item.end_call
        return Reply(says=tuple(says), end_call=end_call)

    async def caller_said_stream(self, text: str) -> AsyncIterator[Say | Reply]:
        """The reply sentence by sentence, each as soon as the model has produced it."""
        self.outcome.turns.append(Turn("caller", text))
        if any(w in text.lower() for w in ("goodbye", "bye bye", "that's all")):
            bye = "Thank you for calling. Goodbye."
            self.outcome.turns.append(Turn("agent", bye))
            yield Say(bye, cacheable=True)
            yield Reply(end_call=True)
            return
        turn = Turn("agent", "")
        self.outcome.turns.append(turn)  # grows as the sentences come, so agent_heard finds it
        pending = ""
        async for piece in self._lm.stream(SYSTEM, text, max_tokens=self._max_tokens):
            pending += piece
            cut = _SENTENCE_END.search(pending, 11)  # a sentence of at least a few words
            if cut is not None:
                sentence, pending = pending[: cut.end()].strip(), pending[cut.end():]
                turn.text = f"{turn.text} {sentence}".strip()
                yield Say(sentence)
        if pending.strip() or not turn.text:
            sentence = pending.strip() or "Sorry, could you say that again?"
            turn.text = f"{turn.text} {sentence}".strip()
            yield Say(sentence)

    async def caller_pressed(self, digit: str) -> Reply:
        return Reply()

    def agent_heard(self, fraction: float) -> None:
        for turn in reversed(self.outcome.turns):
            if turn.speaker == "agent":
                turn.heard_fraction = fraction
                return

    def ended(self, reason: str) -> ConversationOutcome:
        self.outcome.outcome = reason
        return self.outcome


class FixedReplyConversation(SmallTalkConversation):
    """Answers every caller turn with one fixed, cacheable line (as approved protocol lines are):
    the voice path measured without the language model."""

    def __init__(self, line: str) -> None:
        self._line = line
        self.outcome = ConversationOutcome()

    async def caller_said_stream(self, text: str) -> AsyncIterator[Say | Reply]:
        self.outcome.turns.append(Turn("caller", text))
        self.outcome.turns.append(Turn("agent", self._line))
        yield Say(self._line, cacheable=True)
