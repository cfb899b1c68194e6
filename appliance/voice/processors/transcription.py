"""The call's `Transcriber` (Whisper, in the call's worker threads) on the caller's utterances.

An early `UtteranceFrame` (asked for during the pause) starts a transcription at once and
keeps it running; if the turn then ends at the same speech end (the caller did not resume),
the final frame reuses that pass instead of starting again. The early words also go to the
call's `TurnHint`, so the endpointer waits longer after "I'd like to book a ...". The transcript goes downstream
as a `CallerTextFrame` with the turn's timings.
"""

from __future__ import annotations

import asyncio
import functools
import time
from concurrent.futures import Executor
from typing import Any

from pipecat.frames.frames import CancelFrame, EndFrame, Frame
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor

from appliance.voice.frames import CallerTextFrame, UtteranceFrame
from appliance.voice.health import ModelUnavailableError
from appliance.voice.interfaces import Heard, Transcriber
from appliance.voice.policy import TurnHint


class Transcription(FrameProcessor):
    def __init__(self, transcriber: Transcriber, pool: Executor | None = None, hint: TurnHint | None = None,
                 *, vocabulary: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._asr = transcriber
        self._vocabulary = vocabulary  # None: the transcriber's own
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

    def _transcribe(self, pcm: bytes) -> asyncio.Future[Heard]:
        return asyncio.get_running_loop().run_in_executor(self._pool, self._asr.hear, pcm, self._vocabulary)

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
        frame.turn.transcript_final = time.monotonic()
        frame.turn.transcript_chars = len(heard.text)
        await self.push_frame(CallerTextFrame(heard.text, frame.turn, heard.confidence))

    def _heard_early(self, speech_end: float, future: asyncio.Future[Heard]) -> None:
        """The early pass is in: the endpointer may end or extend the pause from its words."""
        if self._hint is not None and not future.cancelled() and future.exception() is None:
            self._hint.early = (speech_end, future.result().text)

    async def cleanup(self) -> None:
        self._drop_early()
        await super().cleanup()  # type: ignore[no-untyped-call]  # pipecat's FrameProcessor.cleanup is unannotated
