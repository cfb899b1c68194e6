"""A Pipecat 1.14 transport over `appliance.calls.CallMedia` (the SIP edge, or a file).

- Input: every 20 ms `AudioIn` becomes an `InputAudioRawFrame` (8 kHz, 16-bit mono); a
  `DtmfIn` becomes an `InputDTMFFrame`; the caller's `HangUp` ends the pipeline
  (`EndWorkerFrame`, so queued frames flush first).
- Output: `write_audio_frame` hands audio to `media.send_audio`, keeping at most `lead_ms`
  queued in the media (which paces the packets on its own clock): an `InterruptionFrame`
  then calls `media.clear_audio()`, so the caller hears at most one more packet. Audio
  marked not interruptible is never cleared. DTMF goes out natively via `media.send_dtmf`.
"""

from __future__ import annotations

import asyncio
from typing import Any

from pipecat.audio.dtmf.types import KeypadEntry
from pipecat.frames.frames import (
    CancelFrame,
    EndFrame,
    EndWorkerFrame,
    Frame,
    InputAudioRawFrame,
    InputDTMFFrame,
    InterruptionFrame,
    OutputAudioRawFrame,
    OutputDTMFFrame,
    OutputDTMFUrgentFrame,
    StartFrame,
)
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pipecat.transports.base_input import BaseInputTransport
from pipecat.transports.base_output import BaseOutputTransport
from pipecat.transports.base_transport import BaseTransport, TransportParams

from appliance.calls import SAMPLE_RATE, AudioIn, CallMedia, DtmfIn, HangUp
from appliance.logs import get_logger

log = get_logger(__name__)


def call_params() -> TransportParams:
    """8 kHz mono in and out, 20 ms output packets, no trailing silence."""
    return TransportParams(
        audio_in_enabled=True, audio_in_sample_rate=SAMPLE_RATE, audio_in_channels=1,
        audio_out_enabled=True, audio_out_sample_rate=SAMPLE_RATE, audio_out_channels=1,
        audio_out_10ms_chunks=2, audio_out_end_silence_secs=0,
    )


class CallMediaInput(BaseInputTransport):
    def __init__(self, media: CallMedia, params: TransportParams, **kwargs: Any) -> None:
        super().__init__(params, **kwargs)
        self._media = media
        self._reader: asyncio.Task[None] | None = None

    async def start(self, frame: StartFrame) -> None:
        await super().start(frame)
        await self.set_transport_ready(frame)
        if self._reader is None:
            self._reader = self.create_task(self._read())

    async def _stop_reader(self) -> None:
        if self._reader is not None:
            await self.cancel_task(self._reader)
            self._reader = None

    async def stop(self, frame: EndFrame) -> None:
        await self._stop_reader()
        await super().stop(frame)

    async def cancel(self, frame: CancelFrame) -> None:
        await self._stop_reader()
        await super().cancel(frame)

    async def _read(self) -> None:
        while True:
            event = await self._media.recv()
            if isinstance(event, AudioIn):
                await self.push_audio_frame(
                    InputAudioRawFrame(audio=event.pcm, sample_rate=SAMPLE_RATE, num_channels=1))
            elif isinstance(event, DtmfIn):
                try:
                    entry = KeypadEntry(event.digit)
                except ValueError:  # A-D have no Pipecat keypad entry
                    continue
                await self.push_frame(InputDTMFFrame(button=entry))
            elif isinstance(event, HangUp):
                log.info("voice.transport_hangup", reason=event.reason)
                await self.push_frame(EndWorkerFrame(reason=event.reason))
                return


class CallMediaOutput(BaseOutputTransport):
    def __init__(self, media: CallMedia, params: TransportParams, lead_ms: int = 40, **kwargs: Any) -> None:
        super().__init__(params, **kwargs)
        self._media = media
        self._lead_ms = lead_ms
        self._last_interruptible = True
        self.cleared_ms = 0

    async def start(self, frame: StartFrame) -> None:
        await super().start(frame)
        await self.set_transport_ready(frame)

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        if isinstance(frame, InterruptionFrame) and self._last_interruptible:
            self.cleared_ms += self._media.clear_audio()  # before the base class drains its queue
        await super().process_frame(frame, direction)

    async def write_audio_frame(self, frame: OutputAudioRawFrame) -> bool:
        while self._media.pending_audio_ms() > self._lead_ms:  # noqa: ASYNC110 - the media has no drain event
            await asyncio.sleep(0.005)
        self._last_interruptible = bool(getattr(frame, "interruptible", True))
        self._media.send_audio(frame.audio)
        return True

    def _supports_native_dtmf(self) -> bool:
        return True

    async def _write_dtmf_native(self, frame: OutputDTMFFrame | OutputDTMFUrgentFrame) -> None:
        await self._media.send_dtmf("".join(str(b.value) for b in frame.buttons or []))


class CallMediaTransport(BaseTransport):
    """`transport.input()` and `transport.output()` for one call's Pipecat pipeline."""

    def __init__(self, media: CallMedia, params: TransportParams | None = None, lead_ms: int = 40) -> None:
        super().__init__()
        self._params = params or call_params()
        self._in = CallMediaInput(media, self._params)
        self._out = CallMediaOutput(media, self._params, lead_ms=lead_ms)

    def input(self) -> FrameProcessor:
        return self._in

    def output(self) -> FrameProcessor:
        return self._out
