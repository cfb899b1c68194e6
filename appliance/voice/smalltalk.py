"""A minimal conversation for tools: a greeting, then one-sentence small talk from the local LLM.

It gives clinical content never: `appliance simulate` uses it to exercise the voice path
(ASR, LLM first token, TTS) until a clinic conversation is plugged in.
"""

from __future__ import annotations

from appliance.conversation import ConversationOutcome, LanguageModel, Reply, Say, Turn

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
        self.outcome.turns.append(Turn("caller", text))
        if any(w in text.lower() for w in ("goodbye", "bye bye", "that's all")):
            bye = "Thank you for calling. Goodbye."
            self.outcome.turns.append(Turn("agent", bye))
            return Reply(says=(Say(bye, cacheable=True),), end_call=True)
        pieces = [p async for p in self._lm.stream(SYSTEM, text, max_tokens=self._max_tokens)]
        answer = "".join(pieces).strip() or "Sorry, could you say that again?"
        self.outcome.turns.append(Turn("agent", answer))
        return Reply(says=(Say(answer),))

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
