"""The Pipecat transport over CallMedia, in a real Pipecat 1.14 pipeline on the file media."""

from __future__ import annotations

import asyncio

import numpy as np
from pipecat.frames.frames import (
    Frame,
    InputAudioRawFrame,
    InputDTMFFrame,
    InterruptionFrame,
    OutputAudioRawFrame,
    StartFrame,
)
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.worker import PipelineParams, PipelineWorker
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pipecat.workers.runner import WorkerRunner

from appliance.voice.audio import float_to_pcm, rms_dbfs
from appliance.voice.filemedia import FileCallMedia
from appliance.voice.transport import CallMediaTransport

from .helpers import silence


def tone(seconds: float, hz: float = 440.0) -> bytes:
    t = np.arange(int(seconds * 8000)) / 8000
    return float_to_pcm(0.3 * np.sin(2 * np.pi * hz * t))


class Echo(FrameProcessor):
    """Caller audio straight back out."""

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, InputAudioRawFrame):
            await self.push_frame(OutputAudioRawFrame(frame.audio, frame.sample_rate, frame.num_channels))
        else:
            await self.push_frame(frame, direction)


class Talker(FrameProcessor):
    """Says a long tone at start; any key the caller presses interrupts it."""

    def __init__(self) -> None:
        super().__init__()
        self.digits: list[str] = []

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        await self.push_frame(frame, direction)
        if isinstance(frame, StartFrame):
            await self.push_frame(OutputAudioRawFrame(tone(6.0), 8000, 1))
        elif isinstance(frame, InputDTMFFrame):
            self.digits.append(str(frame.button.value))
            await self.push_frame(InterruptionFrame())


async def run_pipeline(media: FileCallMedia, middle: FrameProcessor) -> None:
    transport = CallMediaTransport(media)
    worker = PipelineWorker(
        Pipeline([transport.input(), middle, transport.output()]),
        params=PipelineParams(audio_in_sample_rate=8000, audio_out_sample_rate=8000),
        idle_timeout_secs=None, enable_rtvi=False, check_dangling_tasks=False,
    )
    runner = WorkerRunner(handle_sigint=False)
    await runner.add_workers(worker)
    try:
        await asyncio.wait_for(runner.run(), timeout=60)
    finally:
        await media.close()


async def test_audio_in_and_out_through_pipecat() -> None:
    caller = silence(0.5) + tone(1.0, 300) + silence(0.5)
    media = FileCallMedia(caller, tail_s=0.5)
    await run_pipeline(media, Echo())
    assert media.hangup_reason == "remote-bye"  # the caller's hang-up ended the pipeline
    loud = [f for f in media.sent if rms_dbfs(f.pcm) > -20]
    assert 0.9 <= len(loud) * 0.02 <= 1.1  # the second of tone came back, paced, once
    assert all(abs(f.offset_ms - 1000) < 900 for f in loud)  # and in step with the caller


async def test_interruption_clears_the_media_at_once() -> None:
    media = FileCallMedia(silence(2.5), tail_s=0.2, dtmf=((1.0, "5"),))
    talker = Talker()
    await run_pipeline(media, talker)
    assert talker.digits == ["5"]
    loud = [f for f in media.sent if rms_dbfs(f.pcm) > -20]
    assert loud, "nothing was played"
    last = max(f.offset_ms for f in loud)
    assert 900 <= last <= 1300, last  # cut within a few packets of the key press, not 6 s of tone
    assert 0.8 <= len(loud) * 0.02 <= 1.4
