"""The baseline: a stock Pipecat 1.14 local voice pipeline behind the appliance's SIP edge.

    python -m benchmarks.baseline --port 5090 --llm-url http://127.0.0.1:8090/v1

Every answered call runs the textbook pipeline with Pipecat's defaults:

    transport.input() → 8 to 16 kHz (as Pipecat's telephony serializers do) → WhisperSTTService →
    user aggregator (SileroVADAnalyzer, default turn strategies: Smart Turn v3) → OpenAILLMService
    (llama-cpp-python's OpenAI-compatible server, the same GGUF) → PiperTTSService → transport.output() → assistant aggregator

with the same bundled models as the appliance (Whisper tiny.en, SmolLM2, Piper joe) and the same
transport (`appliance.telephony.edge.SipEdge` + `appliance.voice.transport.CallMediaTransport`),
so the benchmark compares pipelines, not plumbing. Pipeline parameters are Pipecat's defaults
(16 kHz in, 24 kHz out; the output transport resamples to the call's 8 kHz). The services are built per call, as a stock
bot does; their model loading runs in a thread and the call is announced ready (a
`baseline.call_ready` line) once the pipeline has started. The only non-default knobs are the
system prompt (one short sentence, as Pipecat's examples ask) and a 64-token reply bound that
keeps the benchmark's run time bounded.

Events are JSON lines on stdout: `baseline.ready`, `baseline.call_ready`, and `baseline.stage`
(stage, call_id, t = time.monotonic(): comparable with the caller's clock on the same machine).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
import time
from pathlib import Path
from typing import Any

SYSTEM_PROMPT = (
    "You are the phone assistant of an aesthetic clinic. Your output is spoken on a phone call: "
    "answer in one short sentence, with no special characters."
)
MAX_TOKENS = 64


def emit(event: str, **fields: Any) -> None:
    sys.stdout.write(json.dumps({"event": event, **fields}) + "\n")
    sys.stdout.flush()


def _stage_observer() -> Any:
    from pipecat.frames.frames import (
        InterruptionFrame,
        LLMTextFrame,
        TranscriptionFrame,
        TTSAudioRawFrame,
        UserStoppedSpeakingFrame,
        VADUserStartedSpeakingFrame,
        VADUserStoppedSpeakingFrame,
    )
    from pipecat.observers.base_observer import BaseObserver, FramePushed

    stages = {
        VADUserStartedSpeakingFrame: "vad_started", VADUserStoppedSpeakingFrame: "vad_stopped",
        UserStoppedSpeakingFrame: "turn_end", TranscriptionFrame: "transcript",
        LLMTextFrame: "llm_token", TTSAudioRawFrame: "tts_audio", InterruptionFrame: "interruption",
    }

    class StageObserver(BaseObserver):
        """Reports the moment each stage's first frame of a turn appears."""

        def __init__(self, call_id: str) -> None:
            super().__init__(observe_every_push=False)
            self.call_id = call_id
            self.seen: set[str] = set()

        async def on_push_frame(self, data: FramePushed) -> None:
            stage = stages.get(type(data.frame))
            if stage is None:
                return
            if stage in ("vad_started", "turn_end", "interruption"):
                self.seen.clear()  # a new user turn: report its stages afresh
            elif stage in self.seen:
                return
            self.seen.add(stage)
            emit("baseline.stage", call_id=self.call_id, stage=stage, t=time.monotonic())

    return StageObserver


def _phone_to_pipeline_rate() -> Any:
    """Caller audio from 8 kHz up to the pipeline's input rate (Pipecat's default 16 kHz), as
    Pipecat's telephony serializers do; Whisper and Smart Turn need 16 kHz."""
    from pipecat.audio.utils import create_stream_resampler
    from pipecat.frames.frames import Frame, InputAudioRawFrame
    from pipecat.processors.frame_processor import FrameDirection, FrameProcessor

    class PhoneToPipelineRate(FrameProcessor):
        def __init__(self, rate: int = 16000) -> None:
            super().__init__()
            self._rate = rate
            self._resampler = create_stream_resampler()

        async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
            await super().process_frame(frame, direction)
            if isinstance(frame, InputAudioRawFrame) and frame.sample_rate != self._rate:
                audio = await self._resampler.resample(frame.audio, frame.sample_rate, self._rate)
                frame = InputAudioRawFrame(audio=audio, sample_rate=self._rate, num_channels=frame.num_channels)
            await self.push_frame(frame, direction)

    return PhoneToPipelineRate()


class StockPipelines:
    """The SIP edge's call handler: one stock Pipecat pipeline per call."""

    def __init__(self, asr_path: Path, voice_dir: Path, voice: str, llm_url: str, model: str) -> None:
        self.asr_path, self.voice_dir, self.voice = asr_path, voice_dir, voice
        self.llm_url, self.model = llm_url, model
        self.observer = _stage_observer()

    def _services(self) -> tuple[Any, Any, Any]:
        from pipecat.services.openai.llm import OpenAILLMService
        from pipecat.services.piper.tts import PiperTTSService
        from pipecat.services.whisper.stt import WhisperSTTService

        stt = WhisperSTTService(settings=WhisperSTTService.Settings(model=str(self.asr_path)))
        tts = PiperTTSService(download_dir=self.voice_dir, settings=PiperTTSService.Settings(voice=self.voice))
        llm = OpenAILLMService(base_url=self.llm_url, api_key="local",
                               settings=OpenAILLMService.Settings(model=self.model, max_tokens=MAX_TOKENS,
                                                                  system_instruction=SYSTEM_PROMPT))
        return stt, llm, tts

    async def __call__(self, media: Any) -> None:
        from pipecat.audio.vad.silero import SileroVADAnalyzer
        from pipecat.pipeline.pipeline import Pipeline
        from pipecat.pipeline.worker import PipelineParams, PipelineWorker
        from pipecat.processors.aggregators.llm_context import LLMContext
        from pipecat.processors.aggregators.llm_response_universal import (
            LLMContextAggregatorPair,
            LLMUserAggregatorParams,
        )

        from appliance.voice.runloop import run_until_hangup
        from appliance.voice.transport import CallMediaTransport

        call_id = media.info.call_id
        stt, llm, tts = await asyncio.to_thread(self._services)
        transport = CallMediaTransport(media)
        context = LLMContext()
        user_agg, assistant_agg = LLMContextAggregatorPair(
            context, user_params=LLMUserAggregatorParams(vad_analyzer=SileroVADAnalyzer()))
        pipeline = Pipeline([transport.input(), _phone_to_pipeline_rate(), stt, user_agg, llm, tts, transport.output(),
                             assistant_agg])
        worker = PipelineWorker(pipeline, params=PipelineParams(), observers=[self.observer(call_id)],
                                idle_timeout_secs=None)

        @worker.event_handler("on_pipeline_started")
        async def started(_worker: Any, *_: Any) -> None:
            emit("baseline.call_ready", call_id=call_id, t=time.monotonic())

        try:
            await run_until_hangup(worker, transport.state, settle_s=10.0)
        finally:
            emit("baseline.call_ended", call_id=call_id)


async def serve(args: argparse.Namespace) -> None:
    from loguru import logger

    from appliance.config import Settings, SipSettings
    from appliance.models.resolver import resolve_all
    from appliance.telephony.edge import SipEdge

    logger.remove()
    logger.add(sys.stderr, level="WARNING")
    t0 = time.monotonic()
    models = await asyncio.to_thread(resolve_all, Settings(), ("asr", "tts"))
    voice_file = models["tts"].path
    handler = StockPipelines(models["asr"].path, voice_file.parent, voice_file.name.removesuffix(".onnx"),
                             args.llm_url, args.model)
    await asyncio.to_thread(handler._services)  # load once up front: imports, files in the page cache
    edge = SipEdge(SipSettings(bind_port=args.port, rtp_port_min=args.rtp_min, rtp_port_max=args.rtp_max,
                               max_calls=args.max_calls), handler)
    await edge.start()
    emit("baseline.ready", port=edge.port, ms=round((time.monotonic() - t0) * 1000))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await edge.stop()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--port", type=int, required=True, help="SIP UDP port on 127.0.0.1")
    p.add_argument("--llm-url", required=True, help="llama-cpp-python server, e.g. http://127.0.0.1:8090/v1")
    p.add_argument("--model", default="local", help="model name sent to the server")
    p.add_argument("--rtp-min", type=int, default=42000)
    p.add_argument("--rtp-max", type=int, default=42999)
    p.add_argument("--max-calls", type=int, default=8)
    asyncio.run(serve(p.parse_args()))


if __name__ == "__main__":
    main()
