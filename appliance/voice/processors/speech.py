"""The call's `Synthesizer` (Piper) as a Pipecat processor: each `SayFrame` spoken clause by clause, 8 kHz out.

A line is cut into sentences (the first sentence further at its first comma), and each
piece is synthesised in the call's worker threads and pushed as soon as it exists, so the
first audio follows the first clause, not the whole reply. Each piece is preceded by a
`SegmentFrame` that tells the output where it starts in the media. Lines marked cacheable
(greetings, approved protocol lines) come from the synthesiser's cache after the first time.
Audio keeps the line's `interruptible` flag: the output never clears a protected line.
An `InterruptionFrame` cancels the piece being synthesised and drops the queued lines.
"""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import Executor
from functools import partial
from typing import Any

from pipecat.frames.frames import Frame, TTSAudioRawFrame, TTSStoppedFrame
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor

from appliance.calls import FRAME_BYTES, SAMPLE_RATE
from appliance.voice.audio import split_sentences
from appliance.voice.frames import ReplyDoneFrame, SayFrame, SegmentFrame
from appliance.voice.health import ModelUnavailableError
from appliance.voice.interfaces import Synthesizer


class Speech(FrameProcessor):
    def __init__(self, synthesizer: Synthesizer, pool: Executor | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._tts = synthesizer
        self._pool = pool

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, SayFrame):
            await self._speak(frame)
            return
        if isinstance(frame, ReplyDoneFrame):
            await self.push_frame(TTSStoppedFrame())  # the output flushes and reports the bot stopped speaking
        await self.push_frame(frame, direction)

    async def _speak(self, frame: SayFrame) -> None:
        text, say, turn = frame.text, frame.say, frame.turn
        parts = split_sentences(text)
        left = len(text)
        loop = asyncio.get_running_loop()
        for i, part in enumerate(parts):
            try:
                pcm = await loop.run_in_executor(self._pool, partial(self._tts.synthesize, part, cache=say.cacheable))
            except ModelUnavailableError:
                pcm = b""  # the call has been told; its fallback line comes from the synthesiser's cache
            chars = len(part) if i < len(parts) - 1 else left
            left -= chars
            if len(pcm) % FRAME_BYTES:
                pcm += bytes(FRAME_BYTES - len(pcm) % FRAME_BYTES)  # whole packets: markers stay aligned
            if pcm and turn is not None and turn.tts_first_audio is None:
                turn.tts_first_audio = time.monotonic()
            await self._push(SegmentFrame(frame.reply, chars, len(pcm) // (2 * SAMPLE_RATE // 1000), turn),
                             frame.interruptible)
            if pcm:
                await self._push(TTSAudioRawFrame(pcm, SAMPLE_RATE, 1), frame.interruptible)
        if not parts:
            await self._push(SegmentFrame(frame.reply, left, 0, turn), frame.interruptible)

    async def _push(self, frame: Frame, interruptible: bool) -> None:
        frame.interruptible = interruptible
        await self.push_frame(frame)
