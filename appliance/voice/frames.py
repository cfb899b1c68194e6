"""The call's own Pipecat frames, between the voice processors.

Caller material (utterances, transcripts, key presses) and the end of a reply (its actions)
are not interruptible: a barge-in drops the agent's pending speech, never what the caller
said nor a transfer the conversation asked for. A `SayFrame` is interruptible unless its
line is protected (`Say(interruptible=False)`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pipecat.frames.frames import DataFrame, InputAudioRawFrame, TextFrame

from appliance.conversation import Action, Say
from appliance.voice.metrics import TurnMetrics


@dataclass
class UtteranceFrame(DataFrame):
    """Caller audio (8 kHz PCM) of one utterance, up to `speech_end` (seconds on the input timeline).

    `final` is the end of the turn; otherwise an early pass asked for during the pause."""

    pcm: bytes
    speech_end: float
    final: bool
    turn: TurnMetrics | None = None
    interruptible: bool = field(default=False, init=False)


@dataclass
class CallerTextFrame(DataFrame):
    """The final transcript of a caller turn."""

    text: str
    turn: TurnMetrics
    confidence: float | None = None  # the ASR's confidence in the words (appliance.voice.asr.Heard)
    also_heard: str | None = None  # the second listen's words, when the first hearing was unsure
    interruptible: bool = field(default=False, init=False)


@dataclass
class DigitFrame(DataFrame):
    """A key the caller pressed, queued in order with the caller's turns."""

    digit: str
    interruptible: bool = field(default=False, init=False)


@dataclass
class SayFrame(TextFrame):
    """One line of a reply, to be spoken; carries the line's provenance and flags."""

    say: Say = field(default_factory=lambda: Say(""))
    reply: int = 0
    turn: TurnMetrics | None = None

    def __post_init__(self) -> None:
        super().__post_init__()  # type: ignore[no-untyped-call]  # pipecat's TextFrame.__post_init__ is unannotated
        self.interruptible = self.say.interruptible

    @property
    def provenance(self) -> str | None:
        return self.say.provenance


@dataclass
class SegmentFrame(DataFrame):
    """Marks where a synthesised piece of a line starts in the outgoing audio (it precedes the audio)."""

    reply: int
    chars: int
    ms: int
    turn: TurnMetrics | None = None


@dataclass
class ReplyDoneFrame(DataFrame):
    """The end of a reply: once its audio has played, the actions are carried out."""

    reply: int
    actions: tuple[Action, ...] = ()
    end_call: bool = False
    turn: TurnMetrics | None = None
    interruptible: bool = field(default=False, init=False)


@dataclass
class TransferFailedFrame(DataFrame):
    """A transfer the conversation asked for did not happen; the caller is still on the line."""

    target: str
    detail: str
    interruptible: bool = field(default=False, init=False)


@dataclass
class ModelFailedFrame(DataFrame):
    """A model failed under the call (its worker died or hung): the conversation hands the
    caller to a person with its fallback line."""

    role: str
    detail: str
    interruptible: bool = field(default=False, init=False)


@dataclass
class CallerAudioFrame(InputAudioRawFrame):
    """20 ms of caller audio with `played`: what the agent sent in the same tick of the media's
    clock (empty: nothing, or media that cannot tell), for the echo canceller."""

    played: bytes = b""
