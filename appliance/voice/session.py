"""One call's voice loop, as a Pipecat 1.14 pipeline over the call's media:

    transport.input() ─▶ TurnTaking ─▶ Transcription ─▶ ConversationStage ─▶ Speech ─▶ transport.output()
    (CallMedia.recv)     Silero VAD,   faster-whisper    Conversation.caller_said  Piper, clause   (CallMedia.send_audio,
                         endpointing,  (early pass       → SayFrames + actions     by clause,      paced; cleared on
                         barge-in      reused)                                     8 kHz           interruption)

The pipeline runs in a `PipelineWorker` (1.14's name for `PipelineTask`) under a
`WorkerRunner` (formerly `PipelineRunner`) until the call is over (`appliance.voice.runloop`).
The decisions are the pure classes of `appliance.voice.policy`; `Playout` keeps what the agent
queued and played in media time, so a barge-in tells the conversation what the caller actually
heard. A barge-in is a Pipecat interruption: queued synthesis and audio are dropped and the
media queue is cleared, except lines marked not interruptible. All model work runs in this
call's own small thread pool, shut down when the call ends, so a finished call leaves no
thread behind.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import Executor

from pipecat.frames.frames import ErrorFrame
from pipecat.observers.base_observer import BaseObserver
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.worker import PipelineParams, PipelineWorker

from appliance.calls import SAMPLE_RATE, CallMedia, CallObserver, TransferResult, observed_transfer
from appliance.config import Settings, VoiceSettings
from appliance.conversation import Action, Conversation, ConversationOutcome
from appliance.errors import ApplianceError
from appliance.logs import get_logger, hostile
from appliance.voice.briefing import speak
from appliance.voice.engines import Engines
from appliance.voice.frames import ModelFailedFrame, ReplyDoneFrame, TransferFailedFrame
from appliance.voice.health import CallHealth, CallPool, current_call
from appliance.voice.metrics import CallMetrics
from appliance.voice.playout import Playout
from appliance.voice.policy import BackchannelFilter, BargeInPolicy, TurnHint
from appliance.voice.processors.conversation import ConversationStage
from appliance.voice.processors.speech import Speech
from appliance.voice.processors.transcription import SecondListen, Transcription
from appliance.voice.processors.turn_taking import TurnTaking
from appliance.voice.runloop import run_until_hangup
from appliance.voice.transport import CallMediaTransport, CallState

log = get_logger(__name__)

# A transfer that handed the call over has only the consultation leg's BYE left to do.
TRANSFER_SETTLE_S = 10.0
LAST_WORDS_S = 15.0  # after a hang-up, how long the caller's last words may take to reach the conversation


class VoiceError(ApplianceError):
    code = "voice-pipeline-failed"


class VoiceSession:
    def __init__(self, media: CallMedia, conversation: Conversation, engines: Engines,
                 settings: Settings | VoiceSettings | None = None, *, metrics: CallMetrics | None = None,
                 observers: list[BaseObserver] | None = None,
                 brief: Callable[[str, str], str] | None = None, observer: CallObserver | None = None) -> None:
        vs = settings.voice if isinstance(settings, Settings) else (settings or VoiceSettings())
        self.settings = vs
        self.media = media
        self.conversation = conversation
        self.metrics = metrics or CallMetrics(call_id=media.info.call_id)
        self.hangup_reason = "remote-bye"
        self._engines = engines
        self._observers = list(observers or [])
        self._brief = brief  # (severity, category) -> what the clinician hears before a warm transfer
        self._observer = observer  # told of the transfers this session starts (the call's live-call entry)
        self._error: ErrorFrame | None = None
        self._stopping: asyncio.Task[None] | None = None
        self._transfer_step: tuple[asyncio.Task[TransferResult], Action] | None = None
        self.worker: PipelineWorker | None = None
        self._stage: ConversationStage | None = None
        self._state: CallState | None = None
        self._model_failure_told = False
        self._failure_task: asyncio.Task[None] | None = None

    def _build(self, pool: Executor) -> tuple[PipelineWorker, CallMediaTransport]:
        vs, engines = self.settings, self._engines
        policy = BargeInPolicy(min_speech_s=vs.barge_in_min_speech_ms / 1000, pause_s=vs.barge_in_hold_ms / 1000,
                               backchannels=BackchannelFilter(tuple(vs.backchannels)))
        playout = Playout(self.media, self.conversation.agent_heard, self.metrics)
        transport = CallMediaTransport(self.media, playout=playout, on_reply_done=self._reply_done)
        self._state = transport.state
        hint = TurnHint()  # what was asked and heard so far: the end of the caller's turn adapts to it
        self._stage = ConversationStage(self.conversation, policy, playout, self.metrics, hint,
                                        gone=transport.state.hung_up.is_set,
                                        filler_gap_s=vs.filler_gap_ms / 1000, filler_grace_s=vs.filler_grace_ms / 1000)
        pipeline = Pipeline([
            transport.input(),
            TurnTaking(engines.vad, engines.turn, vs, policy, playout, pool, hint),
            Transcription(engines.asr, pool, hint, vocabulary=vs.vocabulary, second_listen=SecondListen.of(vs, engines.relisten)),
            self._stage,
            Speech(engines.tts, pool),
            transport.output(),
        ])
        worker = PipelineWorker(
            pipeline,
            params=PipelineParams(audio_in_sample_rate=SAMPLE_RATE, audio_out_sample_rate=SAMPLE_RATE),
            observers=self._observers, idle_timeout_secs=None, enable_rtvi=False, enable_turn_tracking=False,
            name=f"call-{self.media.info.call_id[:24]}",
        )

        @worker.event_handler("on_pipeline_error")  # type: ignore[untyped-decorator]  # pipecat's decorator is unannotated
        async def on_error(_worker: PipelineWorker, frame: ErrorFrame) -> None:
            if self._error is None:
                self._error = frame
                log.error("voice.pipeline_error", call_id=self.metrics.call_id,
                          error=type(frame.exception).__name__ if frame.exception else "error")
                self._stopping = asyncio.get_running_loop().create_task(_worker.cancel(reason="pipeline error"))

        return worker, transport

    def _model_failed(self, role: str, detail: str) -> None:
        """A model this call was using failed (event loop). The first failure hands the caller to
        a person: the conversation's fallback line (already synthesised) and its transfer."""
        self.metrics.event("voice.model_failed", role=role, detail=hostile(detail))
        if self._model_failure_told or self._stage is None:
            return
        self._model_failure_told = True
        self._failure_task = asyncio.get_running_loop().create_task(
            self._stage.queue_frame(ModelFailedFrame(role, detail)))

    async def _reply_done(self, frame: ReplyDoneFrame) -> None:
        """A reply has played out: record its timings, then carry out its actions (not on a call
        the caller has left: a transfer or a hang-up of a call that is gone does nothing)."""
        if frame.turn is not None:
            self.metrics.emit_turn(frame.turn)
        if self._state is not None and self._state.hung_up.is_set():
            return
        escalation: Action | None = None
        for action in frame.actions:
            if action.kind == "transfer" and action.target:
                # A transfer that succeeds hands the call over before it returns (the caller's leg
                # ends, then the consultation leg is released): the hang-up cancels the pipeline,
                # and with it this task. The transfer runs as its own task so that it finishes,
                # and is logged, all the same; `run` waits for it.
                step = asyncio.create_task(self._transfer(action, escalation),
                                           name=f"transfer-{self.metrics.call_id[:24]}")
                self._transfer_step = (step, action)
                result = await asyncio.shield(step)
                if result.ok or result.detail.startswith("bridged"):  # the appliance joined the calls itself
                    return
                # Nobody is dropped silently: the conversation tells the caller what happens next.
                assert self._stage is not None  # set by _build before the pipeline runs
                await self._stage.queue_frame(TransferFailedFrame(result.target, result.detail))
            elif action.kind == "send_dtmf" and action.target:
                await self.media.send_dtmf(action.target)
            elif action.kind == "hangup":
                await self.media.hangup("local")
                return
            elif action.kind == "escalate":
                escalation = action
                self.metrics.event("voice.escalate", severity=action.severity, category=action.category)
        if frame.end_call:
            await self.media.hangup("local")

    async def _transfer(self, action: Action, escalation: Action | None) -> TransferResult:
        assert action.target
        brief = await self._transfer_brief(escalation) if action.attended else None
        result = await observed_transfer(self.media, self._observer, action.target, attended=action.attended,
                                         brief_pcm=brief)
        self._transfer_event(result.ok, result.kind, result.target, result.detail)
        return result

    def _transfer_event(self, ok: bool, kind: str, target: str, detail: str) -> None:
        self.metrics.event("voice.transfer", ok=ok, kind=kind, target=hostile(target), detail=hostile(detail))

    async def _settle_transfer(self) -> None:
        """The call is over while a transfer was under way. Handed over ("transfer"): let the
        transfer finish releasing the consultation leg, and log it. Any other end (the caller
        hung up while the target rang, the pipeline failed): stop it, and log that it did not
        happen."""
        if self._transfer_step is None:
            return
        step, action = self._transfer_step
        if self.hangup_reason == "transfer":
            await asyncio.wait({step}, timeout=TRANSFER_SETTLE_S)
        if step.done():
            error = None if step.cancelled() else step.exception()
            if error is None:
                return  # it returned a result, which it logged
            detail = f"error ({type(error).__name__})"
        else:
            step.cancel()
            await asyncio.wait({step}, timeout=5.0)
            detail = f"call ended ({self.hangup_reason})"
        self._transfer_event(False, "attended" if action.attended else "blind", action.target or "", detail)

    async def _transfer_brief(self, escalation: Action | None) -> bytes | None:
        """What the clinician hears before an attended transfer connects the caller: PHI-minimal
        (severity and the kind of concern, worded by the `brief` the session was given), in the
        call's own Piper voice. None if it cannot be made (or the session has no brief)."""
        if self._brief is None:
            return None
        severity = (escalation.severity if escalation else None) or "urgent"
        category = (escalation.category if escalation else None) or "patient"
        try:
            return await speak(self._engines.tts, self._brief(severity, category))
        except Exception:  # noqa: BLE001  (no brief is better than no transfer)
            log.exception("voice.transfer_brief_failed", call_id=self.metrics.call_id)
            return None

    async def run(self) -> ConversationOutcome:
        """Run the call to its end (caller hangs up, or the conversation ends it)."""
        pool = CallPool(max_workers=3, thread_name_prefix=f"voice-{self.media.info.call_id[:16]}")
        loop = asyncio.get_running_loop()
        health = CallHealth(lambda role, detail: loop.call_soon_threadsafe(self._model_failed, role, detail))
        token = current_call.set(health)  # the pipeline's tasks and the call's threads inherit it
        worker, transport = self._build(pool)
        self.worker = worker
        try:
            await run_until_hangup(worker, transport.state, drain_s=LAST_WORDS_S)
        finally:
            await asyncio.to_thread(pool.shutdown, wait=True, cancel_futures=True)
            if transport.state.hangup_reason:
                self.hangup_reason = transport.state.hangup_reason
            await self._settle_transfer()  # also when the session itself is cancelled: none is left running
            current_call.reset(token)
        self.metrics.event("voice.call_ended", reason=self.hangup_reason, turns=len(self.metrics.turns))
        if self._error is not None:
            raise VoiceError(f"the voice pipeline failed: {self._error.error}",
                             fix="see the log for the failing stage") from self._error.exception
        return self.conversation.ended(self.hangup_reason)
