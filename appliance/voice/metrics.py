"""Per-turn timing metrics of a call, exported as structured events.

Every turn records monotonic timestamps of its stages; `TurnMetrics.as_dict()` gives the
durations the benchmarks and `appliance simulate --json` read. The language model reports
its first token through a context variable, so a conversation engine that calls the model
inside `caller_said` is measured without knowing about the voice pipeline.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from appliance.logs import get_logger

log = get_logger(__name__)

# Called on the event loop as (kind, t_monotonic) when a model call yields its first token.
llm_first_token_hook: ContextVar[Callable[[str, float], None] | None] = ContextVar(
    "llm_first_token_hook", default=None
)


def report_llm_first_token(kind: str, t: float) -> None:
    hook = llm_first_token_hook.get()
    if hook is not None:
        hook(kind, t)


def _ms(a: float | None, b: float | None) -> int | None:
    return None if a is None or b is None else round((b - a) * 1000)


@dataclass
class TurnMetrics:
    """Monotonic timestamps of one turn. `speech_end` is when the caller stopped talking
    (the last voiced frame's end), not when the endpointer decided."""

    index: int
    speech_start: float | None = None
    speech_end: float | None = None
    end_of_turn: float | None = None  # endpointer decision
    transcript_final: float | None = None
    llm_first_token: float | None = None
    reply_ready: float | None = None  # conversation returned its Reply
    tts_first_audio: float | None = None
    first_audio_out: float | None = None  # first reply frame handed to the media
    barge_in_detected: float | None = None  # VAD decided the caller talks over the agent
    barge_in_stopped: float | None = None  # outgoing audio cleared
    barge_in_held: float | None = None  # outgoing audio held at once (before the interruption is decided)
    transcript_chars: int = 0
    asr_early: bool = False  # the final transcript came from a pass started before end of turn
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        end = self.speech_end
        return {
            "turn": self.index,
            "endpoint_ms": _ms(end, self.end_of_turn),
            "asr_ms": _ms(end, self.transcript_final),
            "asr_after_endpoint_ms": _ms(self.end_of_turn, self.transcript_final),
            "llm_first_token_ms": _ms(self.transcript_final, self.llm_first_token),
            "reply_ms": _ms(self.transcript_final, self.reply_ready),
            "tts_first_audio_ms": _ms(self.reply_ready, self.tts_first_audio),
            "voice_to_voice_ms": _ms(end, self.first_audio_out),
            "barge_in_reaction_ms": _ms(self.barge_in_detected, self.barge_in_stopped),
            "barge_in_hold_ms": _ms(self.speech_start, self.barge_in_held),
            "asr_early": self.asr_early,
            "transcript_chars": self.transcript_chars,
            **self.extra,
        }


@dataclass
class CallMetrics:
    """All turns of one call, plus the greeting's first audio."""

    call_id: str = ""
    turns: list[TurnMetrics] = field(default_factory=list)
    greeting: TurnMetrics | None = None  # speech_end = call start: voice_to_voice is time to first word
    events: list[dict[str, Any]] = field(default_factory=list)

    def new_turn(self) -> TurnMetrics:
        turn = TurnMetrics(index=len(self.turns))
        self.turns.append(turn)
        return turn

    def event(self, name: str, **fields: Any) -> None:
        """Record and log a structured event (no transcript text: never PHI in logs)."""
        self.events.append({"event": name, **fields})
        log.info(name, call_id=self.call_id, **fields)

    def emit_turn(self, turn: TurnMetrics) -> None:
        self.event("voice.turn_metrics", **turn.as_dict())

    def as_dict(self) -> dict[str, Any]:
        return {"call_id": self.call_id, "greeting": self.greeting.as_dict() if self.greeting else None,
                "turns": [t.as_dict() for t in self.turns]}
