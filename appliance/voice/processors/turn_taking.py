"""Voice activity (Silero), end-of-turn (Smart Turn) and barge-in on the caller's audio, as a Pipecat processor.

Caller audio (`InputAudioRawFrame`, a system frame) is queued to this processor's own task,
which takes the agent's own echo out of it (`appliance.voice.echo`, with the agent's audio of
the same media tick that `CallerAudioFrame` carries), runs Silero (this call's recurrent state,
in the call's worker threads) and feeds the pure decisions of `appliance.voice.policy`:
- `Endpointer` decisions become `UtteranceFrame`s downstream: an early one during the pause
  (transcription starts before the turn ends), the final one at the end of the turn;
- caller speech of `pause_s` over interruptible audio holds the agent's audio at once (the
  media sends silence, nothing is dropped; the transcript then decides: a back-channel
  resumes it, other speech interrupts; a hold nothing decides ends by itself);
- sustained caller speech while the agent plays interruptible audio is a barge-in: the
  conversation is told what was heard (`Playout.barge_in`) and an `InterruptionFrame` is
  broadcast at once, which drops queued speech and clears the media queue.
"""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import Executor
from typing import Any

from pipecat.frames.frames import CancelFrame, EndFrame, Frame, InputAudioRawFrame, StartFrame
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor

from appliance.config import VoiceSettings
from appliance.voice.audio import RecentAudio, float_to_pcm, pcm_to_float
from appliance.voice.echo import EchoCanceller
from appliance.voice.frames import UtteranceFrame
from appliance.voice.health import ModelUnavailableError
from appliance.voice.interfaces import TurnDetector, VoiceActivity
from appliance.voice.metrics import TurnMetrics
from appliance.voice.playout import Playout
from appliance.voice.policy import BargeInPolicy, Decision, TurnHint, VadGate, call_endpointer
from appliance.voice.vad import WINDOW_S

_RATE = 8000
_PREROLL_S = 0.3
_TAIL_S = 0.15
_KEEP_S = 60.0
HEAR_QUEUED_S = 5.0  # at the end of a call, how long hearing the audio already queued may take


class TurnTaking(FrameProcessor):
    def __init__(self, vad: VoiceActivity, turn_model: TurnDetector, settings: VoiceSettings, policy: BargeInPolicy,
                 playout: Playout, pool: Executor, hint: TurnHint | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._settings = settings
        self._vad = vad.stream()  # this call's own state
        self._turn_model = turn_model
        self._pool = pool
        self._playout = playout
        self._policy = policy
        self._gate = VadGate.for_threshold(settings.vad_threshold)
        # the early words reach the endpointer through a shared hint: none given, none to wait for
        self._endpointer = call_endpointer(settings, early_words=hint is not None)
        self._hint = hint or TurnHint()
        self._audio = RecentAudio(_KEEP_S, _RATE)
        self._queue: asyncio.Queue[tuple[bytes, bytes] | None] = asyncio.Queue()  # (caller pcm, agent pcm played)
        self._echo = EchoCanceller() if settings.echo_cancel else None
        self._task: asyncio.Task[None] | None = None
        self._asks: set[asyncio.Task[None]] = set()  # Smart Turn verdicts in flight
        self._origin: float | None = None  # monotonic time of input sample 0
        self._turn: TurnMetrics | None = None  # the utterance being heard
        self._speech_start = 0.0  # where the current turn's speech began (audio sent to ASR from here)
        self._run_start = 0.0  # where the current run of voiced windows began (barge-in length)
        self._barged = False
        self._early_end: float | None = None  # speech end of the early pass asked for in this pause

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, InputAudioRawFrame):
            if self._origin is None:
                self._origin = time.monotonic() - len(frame.audio) / 2 / _RATE
            self._queue.put_nowait((frame.audio, getattr(frame, "played", b"")))
            return  # caller audio stops here: nothing downstream needs it
        if isinstance(frame, StartFrame) and self._task is None:
            self._task = self.create_task(self._listen(), name=f"{self}::vad")
        elif isinstance(frame, EndFrame):
            await self._last_words()
            await self._stop()
        elif isinstance(frame, CancelFrame):
            await self._stop()
        await self.push_frame(frame, direction)

    async def _stop(self) -> None:
        if self._task is not None:
            await self.cancel_task(self._task)
            self._task = None
        for task in list(self._asks):
            await self.cancel_task(task)
        self._asks.clear()

    async def cleanup(self) -> None:
        await self._stop()
        await super().cleanup()  # type: ignore[no-untyped-call]  # pipecat's FrameProcessor.cleanup is unannotated

    async def _last_words(self) -> None:
        """The call is ending (the caller hung up; the pipeline flushes): the audio already
        received is heard to its end, and a turn still in its end-of-turn silence ends now, so
        what the caller said last still reaches the conversation and its red-flag check."""
        if self._task is None:
            return
        self._queue.put_nowait(None)  # the listener hears what is queued, then stops
        try:
            await asyncio.wait_for(asyncio.shield(self._task), timeout=HEAR_QUEUED_S)
        except (TimeoutError, asyncio.CancelledError):
            return
        except Exception:  # noqa: BLE001 - the listener failed earlier; the call is over either way
            return
        ep = self._endpointer
        if ep.in_turn and ep.voiced_s >= ep.min_speech_s:
            speech_end = self._gate.last_voiced_end or 0.0
            ep.reset()
            await self._decide(Decision("end-of-turn", speech_end))

    def _mono(self, t: float) -> float:
        return (self._origin or time.monotonic()) + t

    async def _listen(self) -> None:
        loop = asyncio.get_running_loop()
        done = False
        while not done:
            first = await self._queue.get()
            frames = [] if first is None else [first]
            done = first is None
            while not done and not self._queue.empty():  # catch up in one pass if the loop fell behind
                item = self._queue.get_nowait()
                done = item is None
                if item is not None:
                    frames.append(item)
            if not frames:
                continue
            try:
                pcm, windows = await loop.run_in_executor(self._pool, self._hear, frames)
            except ModelUnavailableError:
                continue  # the call has been told (appliance.voice.health); keep listening
            self._audio.append(pcm)
            for t, prob in windows:
                await self._on_window(t, prob)

    def _hear(self, frames: list[tuple[bytes, bytes]]) -> tuple[bytes, list[tuple[float, float]]]:
        """Blocking (a worker thread): the caller's frames without the agent's echo (what the
        transcript gets too), and Silero's windows over them."""
        pcm = b"".join(p if self._echo is None else self._without_echo(p, r) for p, r in frames)
        return pcm, self._vad.feed(pcm)

    def _without_echo(self, pcm: bytes, played: bytes) -> bytes:
        assert self._echo is not None
        x = pcm_to_float(pcm)
        y = self._echo.process(x, pcm_to_float(played) if played else None)
        return pcm if y is x else float_to_pcm(y)

    async def _on_window(self, t: float, prob: float) -> None:
        change = self._gate.update(t, WINDOW_S, prob)
        if change == "start":
            self._run_start = self._gate.run_start if self._gate.run_start is not None else t
            self._barged = False
            if not self._endpointer.in_turn:
                # A new turn. Speech that resumes after a short pause ("Everything is fine, ...
                # no concerns") continues the turn: its audio still starts at the first word.
                self._speech_start = self._run_start
            if self._turn is None:
                self._turn = TurnMetrics(index=-1, speech_start=self._mono(self._speech_start))
        if self._gate.speaking:
            self._endpointer.speech(t, WINDOW_S)
            self._early_end = None  # speech resumed: an early transcript would be stale
            talking, interruptible = self._playout.agent_talking(), self._playout.interruptible_now()
            if not self._barged and not self._playout.held and self._policy.on_speech_hold(
                    self._run_start, t + WINDOW_S, talking, interruptible):
                self._playout.hold(self._turn)  # stop sending at once; the transcript decides
            if not self._barged and self._policy.on_speech(self._run_start, t + WINDOW_S, talking, interruptible):
                self._barged = True
                self._playout.barge_in(self._turn)
                await self.broadcast_interruption()  # type: ignore[no-untyped-call]  # pipecat's FrameProcessor.broadcast_interruption is unannotated
            return
        if self._playout.held and not self._endpointer.in_turn and self._policy.hold_expired(
                self._held_at(), self._gate.quiet_since, t + WINDOW_S, self._playout.hold_turn_ended):
            self._playout.release("expired")  # no turn (a cough, a door), or its transcript never came
        speech_end = self._gate.last_voiced_end or t
        self._endpointer.expect = self._hint.expect
        if self._hint.early is not None:
            self._endpointer.heard_early(*self._hint.early)
        decision = self._endpointer.silence(t, WINDOW_S, speech_end)
        if decision is not None:
            await self._decide(decision)
        elif not self._endpointer.in_turn and self._turn is not None and not self._gate.speaking:
            self._turn = None  # too short to be a turn (noise, a click)
            if self._playout.held and not self._playout.hold_turn_ended:
                self._playout.release("noise")  # nothing to wait for: the agent goes on at once

    def _held_at(self) -> float:
        """The hold's start on the input timeline (the hold is kept in monotonic time)."""
        return (self._playout.held_since or time.monotonic()) - (self._origin or 0.0)

    def _pcm(self, speech_end: float, tail_s: float = _TAIL_S) -> bytes:
        return self._audio.slice(self._speech_start - _PREROLL_S, speech_end + tail_s)

    async def _decide(self, d: Decision) -> None:
        if d.kind == "early-asr" and self._settings.early_asr and self._early_end is None:
            self._early_end = d.speech_end
            await self.push_frame(UtteranceFrame(self._pcm(d.speech_end), d.speech_end, final=False))
        elif d.kind == "ask-turn-model":
            task = self.create_task(self._ask_turn_model(d.speech_end), name=f"{self}::smart-turn")
            self._asks.add(task)
            task.add_done_callback(self._asks.discard)
        elif d.kind == "end-of-turn":
            if self._playout.held:
                self._playout.hold_turn_ended = True  # the transcript decides the hold now
            turn, self._turn = self._turn, None
            turn = turn or TurnMetrics(index=-1, speech_start=self._mono(self._speech_start))
            turn.speech_end = self._mono(d.speech_end)
            turn.end_of_turn = time.monotonic()
            self._early_end = None
            await self.push_frame(UtteranceFrame(self._pcm(d.speech_end), d.speech_end, final=True, turn=turn))

    async def _ask_turn_model(self, speech_end: float) -> None:
        pcm = self._pcm(speech_end, tail_s=0.0)
        try:
            prob = await asyncio.get_running_loop().run_in_executor(
                self._pool, self._turn_model.complete_probability, pcm)
        except ModelUnavailableError:
            prob = 1.0  # no verdict: the silence window alone ends the turn
        decision = self._endpointer.turn_model_said(prob >= self._settings.smart_turn_threshold, speech_end)
        if decision is not None:
            await self._decide(decision)
