"""The call's `Transcriber` (Whisper, in the call's worker threads) on the caller's utterances.

An early `UtteranceFrame` (asked for during the pause) starts a transcription at once and
keeps it running; if the turn then ends at the same speech end (the caller did not resume),
the final frame reuses that pass instead of starting again. The early words also go to the
call's `TurnHint`, so the endpointer waits longer after "I'd like to book a ...". The transcript goes downstream
as a `CallerTextFrame` with the turn's timings.

The second listen (`SecondListen`, `[voice] second_listen_below`): when Whisper was unsure of the
final transcript (confidence below the setting), the same audio is heard again, at once by Whisper
with the red-flag symptom words added to the prompt and by a second recogniser (Moonshine, trained
apart from Whisper, so it mishears differently); the hearings that differ from the first ride along
as `also_heard`. The conversation reads them for red flags only, and a hit there is confirmed with
the caller before it is acted on (the prompt can also put its own words into unclear audio). It
costs two more passes, side by side, on unsure turns only.
"""

from __future__ import annotations

import asyncio
import functools
import re
import time
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any

from pipecat.frames.frames import CancelFrame, EndFrame, Frame
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor

from appliance.config import VoiceSettings
from appliance.voice.frames import CallerTextFrame, UtteranceFrame
from appliance.voice.health import ModelUnavailableError
from appliance.voice.interfaces import Heard, Transcriber
from appliance.voice.metrics import TurnMetrics
from appliance.voice.policy import TurnHint


@dataclass(frozen=True)
class SecondListen:
    """Hear an unsure turn again: below `below` confidence, by the call's recogniser with
    `vocabulary` as the prompt ("": not) and by `other` (None: not)."""

    below: float
    vocabulary: str
    other: Transcriber | None = None

    @classmethod
    def of(cls, vs: VoiceSettings, other: Transcriber | None = None) -> SecondListen | None:
        """The site's setting: the clinic vocabulary plus the symptom words, and `other` unless
        `second_recogniser` is off; None when the second listen is off or has nothing to hear with."""
        vocabulary = f"{vs.vocabulary} {vs.symptom_words}".strip() if vs.symptom_words.strip() else ""
        other = other if vs.second_recogniser else None
        if vs.second_listen_below <= 0 or not (vocabulary or other):
            return None
        return cls(vs.second_listen_below, vocabulary, other)

    def unsure(self, confidence: float | None) -> bool:
        """Whether a hearing with this confidence is heard again (no words, no confidence: never)."""
        return confidence is not None and confidence < self.below

    @staticmethod
    def also_heard(first: str, *again: str) -> str | None:
        """The other hearings' words, those with words that differ from the first's and from each
        other, one sentence each; None when there are none."""
        seen = [_words(first)]
        kept: list[str] = []
        for text in again:
            words = _words(text)
            if words and words not in seen:
                seen.append(words)
                kept.append(text.strip().rstrip(".") + ".")
        return " ".join(kept) or None


class Transcription(FrameProcessor):
    def __init__(self, transcriber: Transcriber, pool: Executor | None = None, hint: TurnHint | None = None,
                 *, vocabulary: str | None = None, second_listen: SecondListen | None = None,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._asr = transcriber
        self._vocabulary = vocabulary  # None: the transcriber's own
        self._second = second_listen
        self._hint = hint
        self._pool = pool
        self._early: tuple[float, asyncio.Future[Heard]] | None = None

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, UtteranceFrame):
            await self._utterance(frame)
            return
        if isinstance(frame, (EndFrame, CancelFrame)):
            self._drop_early()
        await self.push_frame(frame, direction)

    def _transcribe(self, pcm: bytes, vocabulary: str | None = None,
                    asr: Transcriber | None = None) -> asyncio.Future[Heard]:
        """A pass of `asr` (default: the call's recogniser) in the call's pool."""
        return asyncio.get_running_loop().run_in_executor(self._pool, (asr or self._asr).hear, pcm,
                                                          vocabulary or self._vocabulary)

    def _drop_early(self) -> None:
        if self._early is not None:
            self._early[1].cancel()  # a pass not started yet is dropped; a running one finishes unused
            self._early = None

    async def _utterance(self, frame: UtteranceFrame) -> None:
        if not frame.final:
            self._drop_early()
            future = self._transcribe(frame.pcm)
            self._early = (frame.speech_end, future)
            if self._hint is not None:
                future.add_done_callback(functools.partial(self._heard_early, frame.speech_end))
            return
        assert frame.turn is not None
        early, self._early = self._early, None
        try:
            if early is not None and early[0] == frame.speech_end and not early[1].cancelled():
                heard = await early[1]
                frame.turn.asr_early = True
            else:
                if early is not None:
                    early[1].cancel()
                heard = await self._transcribe(frame.pcm)
        except ModelUnavailableError:
            return  # no transcript: the call has been told, and hands the caller to a person
        also_heard = await self._listen_again(frame.pcm, heard, frame.turn)
        frame.turn.transcript_final = time.monotonic()
        frame.turn.transcript_chars = len(heard.text)
        await self.push_frame(CallerTextFrame(heard.text, frame.turn, heard.confidence, also_heard))

    async def _listen_again(self, pcm: bytes, heard: Heard, turn: TurnMetrics) -> str | None:
        """The second listen's words when the first hearing was unsure and they differ; else None."""
        second = self._second
        if second is None or not second.unsure(heard.confidence):
            return None
        t0 = time.monotonic()
        passes = []
        if second.vocabulary:
            passes.append(self._transcribe(pcm, second.vocabulary))
        if second.other is not None:
            passes.append(self._transcribe(pcm, asr=second.other))  # it takes no prompt
        hearings = await asyncio.gather(*passes, return_exceptions=True)
        turn.extra["second_listen_ms"] = round((time.monotonic() - t0) * 1000)
        for failed in (h for h in hearings if isinstance(h, BaseException)):
            if not isinstance(failed, ModelUnavailableError):
                raise failed
        # a failed pass leaves the others (and the first hearing) standing; the call was told by the failure
        return second.also_heard(heard.text, *(h.text for h in hearings if isinstance(h, Heard)))

    def _heard_early(self, speech_end: float, future: asyncio.Future[Heard]) -> None:
        """The early pass is in: the endpointer may end or extend the pause from its words."""
        if self._hint is not None and not future.cancelled() and future.exception() is None:
            self._hint.early = (speech_end, future.result().text)

    async def cleanup(self) -> None:
        self._drop_early()
        await super().cleanup()  # type: ignore[no-untyped-call]  # pipecat's FrameProcessor.cleanup is unannotated


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9']+", text.lower())
