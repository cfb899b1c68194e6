"""A Pipecat 1.14 transport over `appliance.calls.CallMedia` (the SIP edge, or a file).

- Input: every 20 ms `AudioIn` becomes an `InputAudioRawFrame` (8 kHz, 16-bit mono); a
  `DtmfIn` becomes an `InputDTMFFrame`; the caller's `HangUp` sets `transport.hung_up` and
  ends the pipeline (`EndWorkerFrame`, so queued frames flush first; audio is no longer
  written once the call is gone).
- Output: `write_audio_frame` hands audio to `media.send_audio`, keeping at most `lead_ms`
  queued in the media (which paces the packets on its own clock): an `InterruptionFrame`
  then calls `media.clear_audio()`, so the caller hears at most one more packet. Audio
  marked not interruptible is never cleared. DTMF goes out natively via `media.send_dtmf`.
- The voice session's frames, in order with the audio: a `SegmentFrame` registers where a
  piece of a reply starts in the media (`Playout`); a `ReplyDoneFrame` waits until the
  reply has played out, then hands the reply's actions to `on_reply_done`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from pipecat.audio.dtmf.types import KeypadEntry
from pipecat.frames.frames import (
    CancelFrame,
    EndFrame,
    EndWorkerFrame,
    Frame,
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
from appliance.voice.frames import CallerAudioFrame, ReplyDoneFrame, SegmentFrame
from appliance.voice.playout import Playout

log = get_logger(__name__)


def call_params() -> TransportParams:
    """8 kHz mono in and out, 20 ms output packets, no trailing silence."""
    return TransportParams(
        audio_in_enabled=True, audio_in_sample_rate=SAMPLE_RATE, audio_in_channels=1,
        audio_out_enabled=True, audio_out_sample_rate=SAMPLE_RATE, audio_out_channels=1,
        audio_out_10ms_chunks=2, audio_out_end_silence_secs=0,
    )


class CallState:
    """What the input and output halves of one call's transport share."""

    def __init__(self) -> None:
        self.hung_up = asyncio.Event()
        self.hangup_reason: str | None = None


class CallMediaInput(BaseInputTransport):
    def __init__(self, media: CallMedia, params: TransportParams, state: CallState | None = None,
                 **kwargs: Any) -> None:
        super().__init__(params, **kwargs)
        self._media = media
        self._state = state or CallState()
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
                await self.push_audio_frame(CallerAudioFrame(audio=event.pcm, sample_rate=SAMPLE_RATE, num_channels=1,
                                                             played=event.played))
            elif isinstance(event, DtmfIn):
                try:
                    entry = KeypadEntry(event.digit)
                except ValueError:  # A-D have no Pipecat keypad entry
                    continue
                await self.push_frame(InputDTMFFrame(button=entry))
            elif isinstance(event, HangUp):
                log.info("voice.transport_hangup", reason=event.reason)
                self._state.hangup_reason = event.reason
                self._state.hung_up.set()
                await self.push_frame(EndWorkerFrame(reason=event.reason))
                return


ReplyDone = Callable[[ReplyDoneFrame], Awaitable[None]]


class CallMediaOutput(BaseOutputTransport):
    def __init__(self, media: CallMedia, params: TransportParams, lead_ms: int = 40, *,
                 state: CallState | None = None, playout: Playout | None = None,
                 on_reply_done: ReplyDone | None = None, **kwargs: Any) -> None:
        super().__init__(params, **kwargs)
        self._media = media
        self._lead_ms = lead_ms
        self._state = state or CallState()
        self._playout = playout
        self._on_reply_done = on_reply_done
        self._last_interruptible = True
        self.cleared_ms = 0
        self._interruptions = 0  # InterruptionFrames seen: a write that waited across one is stale

    async def start(self, frame: StartFrame) -> None:
        await super().start(frame)
        await self.set_transport_ready(frame)

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        if isinstance(frame, InterruptionFrame):
            self._interruptions += 1
            dropped = self._media.clear_audio() if self._last_interruptible else 0
            self.cleared_ms += dropped  # before the base class drains its queue
            if self._playout is not None:
                self._playout.cleared(dropped)
        await super().process_frame(frame, direction)

    async def write_audio_frame(self, frame: OutputAudioRawFrame) -> bool:
        seen = self._interruptions
        while self._media.pending_audio_ms() > self._lead_ms:  # noqa: ASYNC110 - the media has no drain event
            if self._state.hung_up.is_set():
                return False
            await asyncio.sleep(0.005)
        if self._state.hung_up.is_set():
            return False
        interruptible = bool(getattr(frame, "interruptible", True))
        if interruptible and self._interruptions != seen:
            return False  # cut while it waited for room: a piece of the cut reply, never heard
        self._last_interruptible = interruptible
        self._media.send_audio(frame.audio)
        return True

    async def write_transport_frame(self, frame: Frame) -> None:
        if isinstance(frame, SegmentFrame):
            self._segment(frame)
        elif isinstance(frame, ReplyDoneFrame):
            while self._media.pending_audio_ms() > 0 and not self._state.hung_up.is_set():  # noqa: ASYNC110
                await asyncio.sleep(0.01)
            if self._on_reply_done is not None:
                await self._on_reply_done(frame)

    def _segment(self, frame: SegmentFrame) -> None:
        ahead = self._media.pending_audio_ms()
        start = self._media.sent_audio_ms() + ahead
        counted = self._playout is None or self._playout.segment_started(
            frame.reply, frame.chars, frame.ms, frame.interruptible, start)
        turn = frame.turn
        if counted and turn is not None and turn.first_audio_out is None and frame.ms > 0:
            turn.first_audio_out = time.monotonic() + ahead / 1000  # when it goes on the wire

    def _supports_native_dtmf(self) -> bool:
        return True

    async def _write_dtmf_native(self, frame: OutputDTMFFrame | OutputDTMFUrgentFrame) -> None:
        await self._media.send_dtmf("".join(str(b.value) for b in frame.buttons or []))


class CallMediaTransport(BaseTransport):
    """`transport.input()` and `transport.output()` for one call's Pipecat pipeline."""

    def __init__(self, media: CallMedia, params: TransportParams | None = None, lead_ms: int = 40, *,
                 playout: Playout | None = None, on_reply_done: ReplyDone | None = None) -> None:
        super().__init__()
        self._params = params or call_params()
        self.state = CallState()
        self._in = CallMediaInput(media, self._params, self.state)
        self._out = CallMediaOutput(media, self._params, lead_ms=lead_ms, state=self.state, playout=playout,
                                    on_reply_done=on_reply_done)

    def input(self) -> FrameProcessor:
        return self._in

    def output(self) -> FrameProcessor:
        return self._out
