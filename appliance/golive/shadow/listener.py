"""One recorded side of a shadow call, heard as a live caller is heard: Silero VAD with this
stream's own recurrent state, the live call's turn-taking decisions (`VadGate` and the call's
`Endpointer` of appliance.voice.policy, with the `[voice]` settings: the adaptive end of turn,
Smart Turn when endpointing is "smart-turn"), and Whisper. As on a live call, a pause is
transcribed early and its words set how long the pause may last ("I was wondering if ..." waits
on), so a recorded turn is split where a live call would split it; the finished turn reuses that
pass when the speaker did not resume. The rule's expectation is an open answer: the questions on
the recording are staff's, not the engine's. Nothing is spoken, so there is no barge-in. All model
work runs in the call's worker threads (the engines may be proxies to worker processes)."""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any

from appliance.config import VoiceSettings
from appliance.voice.audio import RecentAudio
from appliance.voice.health import ModelUnavailableError
from appliance.voice.interfaces import Heard
from appliance.voice.policy import Decision, VadGate, call_endpointer
from appliance.voice.vad import WINDOW_S

RATE = 8000
PREROLL_S = 0.3
TAIL_S = 0.15
KEEP_S = 60.0  # the longest turn kept for transcription


@dataclass(frozen=True)
class HeardTurn:
    """A finished turn on one recorded side."""

    role: str  # "patient" | "staff"
    label: str  # the stream's SDP label
    start_s: float  # seconds since the shadow call began
    end_s: float
    text: str
    confidence: float | None



class StreamListener:
    def __init__(self, role: str, label: str, frames: asyncio.Queue[bytes | None], engines: Any,
                 settings: VoiceSettings, pool: Executor, call_start: float,
                 emit: Callable[[HeardTurn], Awaitable[None]]) -> None:
        self.role, self.label = role, label
        self._frames = frames
        self._vad = engines.vad.stream()
        self._turn_model = engines.turn
        self._asr = engines.asr
        self._vocabulary = settings.vocabulary
        self._settings = settings
        self._pool = pool
        self._call_start = call_start  # monotonic time the call was answered
        self._emit = emit
        self._gate = VadGate.for_threshold(settings.vad_threshold)
        self._endpointer = call_endpointer(settings, early_words=True)  # the early words: `_heard_early`
        self._early: tuple[float, asyncio.Future[Heard]] | None = None  # (pause start, its early pass)
        self._audio = RecentAudio(KEEP_S)
        self._origin: float | None = None  # monotonic time of this stream's sample 0
        self._speech_start = 0.0
        self.turns = 0
        self.failures = 0  # model calls that got no answer (a worker restarting)

    async def run(self) -> None:
        """Hear the stream until it ends (a None frame); the turn under way is finished then."""
        loop = asyncio.get_running_loop()
        while True:
            pcm = await self._frames.get()
            ended = pcm is None
            chunk = bytearray(pcm or b"")
            while not self._frames.empty() and not ended:  # catch up in one pass if we fell behind
                more = self._frames.get_nowait()
                ended = more is None
                chunk += more or b""
            if chunk:
                if self._origin is None:
                    self._origin = time.monotonic() - len(chunk) / 2 / RATE
                self._audio.append(bytes(chunk))
                try:
                    windows = await loop.run_in_executor(self._pool, self._vad.feed, bytes(chunk))
                except ModelUnavailableError:
                    self.failures += 1
                    windows = []
                for t, prob in windows:
                    await self._window(t, prob)
            if ended:
                await self._flush()
                return

    async def _window(self, t: float, prob: float) -> None:
        change = self._gate.update(t, WINDOW_S, prob)
        if change == "start" and not self._endpointer.in_turn:
            self._speech_start = self._gate.run_start if self._gate.run_start is not None else t
        if self._gate.speaking:
            self._endpointer.speech(t, WINDOW_S)
            self._drop_early()  # speech resumed: that pause's words are stale
            return
        decision = self._endpointer.silence(t, WINDOW_S, self._gate.last_voiced_end or t)
        if decision is not None:
            await self._decide(decision)

    async def _decide(self, d: Decision) -> None:
        if d.kind == "early-asr" and self._settings.early_asr:
            self._drop_early()
            future = self._transcribe(self._turn_pcm(d.speech_end))
            future.add_done_callback(functools.partial(self._heard_early, d.speech_end))
            self._early = (d.speech_end, future)
        elif d.kind == "ask-turn-model":
            pcm = self._audio.slice(self._speech_start - PREROLL_S, d.speech_end)
            try:
                prob = await asyncio.get_running_loop().run_in_executor(
                    self._pool, self._turn_model.complete_probability, pcm)
            except ModelUnavailableError:
                prob = 1.0  # no verdict: the silence window alone ends the turn
            follow = self._endpointer.turn_model_said(prob >= self._settings.smart_turn_threshold, d.speech_end)
            if follow is not None:
                await self._decide(follow)
        elif d.kind == "end-of-turn":
            await self._finish_turn(d.speech_end)

    async def _flush(self) -> None:
        """The stream ended mid-turn (the call hung up while someone spoke): that turn counts."""
        if self._endpointer.in_turn and self._endpointer.voiced_s >= self._endpointer.min_speech_s:
            end = self._gate.last_voiced_end or self._speech_start
            self._endpointer.reset()
            await self._finish_turn(end)

    def _turn_pcm(self, speech_end: float) -> bytes:
        return self._audio.slice(self._speech_start - PREROLL_S, speech_end + TAIL_S)

    def _transcribe(self, pcm: bytes) -> asyncio.Future[Heard]:
        return asyncio.get_running_loop().run_in_executor(self._pool, self._asr.hear, pcm, self._vocabulary)

    def _heard_early(self, speech_end: float, future: asyncio.Future[Heard]) -> None:
        """The early pass is in: the endpointer reads its words at the next window."""
        if not future.cancelled() and future.exception() is None:
            self._endpointer.heard_early(speech_end, future.result().text)

    def _drop_early(self) -> None:
        if self._early is not None:
            self._early[1].cancel()  # a pass not started yet is dropped; a running one finishes unused
            self._early = None

    async def _finish_turn(self, speech_end: float) -> None:
        early, self._early = self._early, None
        try:
            if early is not None and early[0] == speech_end and not early[1].cancelled():
                heard = await early[1]  # the speaker did not resume: the pause's pass is the turn's
            else:
                if early is not None:
                    early[1].cancel()
                heard = await self._transcribe(self._turn_pcm(speech_end))
        except ModelUnavailableError:
            self.failures += 1
            return
        if not heard.text.strip():
            return
        offset = (self._origin or self._call_start) - self._call_start
        self.turns += 1
        await self._emit(HeardTurn(self.role, self.label, round(offset + self._speech_start, 2),
                                   round(offset + speech_end, 2), heard.text.strip(), heard.confidence))
