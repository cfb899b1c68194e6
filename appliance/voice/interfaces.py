"""What the voice pipeline needs of each engine, as small protocols.

`appliance.voice.engines.Engines` holds one object per role, typed by these protocols: the
bundled models' wrappers (Silero, Smart Turn, Whisper, Piper, llama.cpp, in this process or
over worker-process proxies), or any other object with the same methods (a test's scripted
fakes, a site's own engine).

Contract shared by all of them:
- every method except the `async` ones of `LanguageModel` is blocking CPU work: callers run it
  in a worker thread (the call's pool), never on the event loop;
- one engine object serves every call at once: an engine serialises its own model where the
  model is not thread-safe; per-call state (Silero's recurrent state) lives in the object the
  engine hands out per call (`VoiceActivity.stream`);
- audio is 8 kHz, 16-bit little-endian mono PCM (`bytes`), the call's own format.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from appliance.conversation import LanguageModel as ConversationLanguageModel


@dataclass(frozen=True)
class Heard:
    """What a transcriber heard in one utterance."""

    text: str
    confidence: float | None  # the recogniser's confidence in the words, 0..1; None when nothing was heard


@runtime_checkable
class Transcriber(Protocol):
    def hear(self, pcm8k: bytes, vocabulary: str | None = None) -> Heard:
        """The words in `pcm8k`. `vocabulary`: spellings of the clinic's words (Whisper's initial
        prompt); None for the transcriber's own (the site's `[voice] vocabulary`)."""
        ...


@runtime_checkable
class Synthesizer(Protocol):
    def synthesize(self, text: str, *, cache: bool = False) -> bytes:
        """`text` spoken, 8 kHz PCM. `cache`: a line known ahead of time (greetings, approved
        protocol lines), kept in a bounded cache and served from it the next time."""
        ...

    def pin(self, text: str) -> None:
        """Synthesise `text` now, piece by piece as the Speech processor cuts it, and keep it
        for the life of the process (lines that must play even if synthesis fails later)."""
        ...

    def cached(self, text: str) -> bytes | None:
        """The audio of `text` if it is pinned or cached, else None (never synthesises)."""
        ...


class VoiceActivityStream(Protocol):
    def feed(self, pcm: bytes) -> list[tuple[float, float]]:
        """Feed PCM of any length; get (window start in seconds since the stream's first
        sample, speech probability) for each whole window it completes. Windows are
        `appliance.voice.vad.WINDOW` samples (32 ms) long, back to back: the turn-taking
        decisions count time in them."""
        ...


@runtime_checkable
class VoiceActivity(Protocol):
    def stream(self) -> VoiceActivityStream:
        """A new per-call (or per recorded side) stream, with its own state."""
        ...


@runtime_checkable
class TurnDetector(Protocol):
    def complete_probability(self, pcm8k: bytes) -> float:
        """Probability, 0..1, that the utterance in `pcm8k` is a finished turn."""
        ...


@runtime_checkable
class LanguageModel(ConversationLanguageModel, Protocol):
    """The conversation's language model (`complete_json`, `stream`), plus `warm`: evaluate a
    fixed system prompt ahead of the first call that needs it."""

    async def warm(self, system: str) -> None: ...
