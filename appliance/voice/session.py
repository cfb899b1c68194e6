"""One call's voice loop: caller audio in, turns to the conversation, spoken replies out.

    media.recv() ─▶ Silero VAD ─▶ VadGate ─▶ Endpointer ─▶ Whisper ─▶ BargeInPolicy ─▶ inbox
                                         └─▶ BargeInPolicy (sustained speech while the agent talks)
    inbox ─▶ Conversation.caller_said/pressed ─▶ Reply ─▶ Piper, sentence by sentence ─▶ media.send_audio

The decisions are the pure classes of `appliance.voice.policy`; this module only wires them
to audio, threads and the clock. All model work runs in this call's own small thread pool,
which is shut down when the call ends, so a finished call leaves no thread behind.
"""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from appliance.calls import AudioIn, CallMedia, DtmfIn, HangUp
from appliance.config import Settings, VoiceSettings
from appliance.conversation import Conversation, ConversationOutcome, Reply
from appliance.logs import get_logger
from appliance.voice.asr import transcriber_for
from appliance.voice.audio import split_sentences
from appliance.voice.engines import Engines
from appliance.voice.metrics import CallMetrics, TurnMetrics, llm_first_token_hook
from appliance.voice.policy import (
    BackchannelFilter,
    BargeInPolicy,
    Decision,
    Endpointer,
    Segment,
    VadGate,
    heard_fraction,
    segment_at,
)
from appliance.voice.tts import synthesizer_for
from appliance.voice.turn import turn_complete_probability
from appliance.voice.vad import WINDOW_S, SileroStream

log = get_logger(__name__)

_RATE = 8000
_PREROLL_S = 0.3
_TAIL_S = 0.15
_KEEP_S = 60.0


class _Utterance:
    """The caller's audio on the call's input timeline (seconds since the first frame)."""

    def __init__(self) -> None:
        self.buf = bytearray()
        self.origin = 0  # sample index of buf[0]

    def append(self, pcm: bytes) -> None:
        self.buf.extend(pcm)
        excess = len(self.buf) // 2 - int(_KEEP_S * _RATE)
        if excess > 0:
            del self.buf[: excess * 2]
            self.origin += excess

    def slice(self, start_s: float, end_s: float) -> bytes:
        a = max(0, int(start_s * _RATE) - self.origin)
        b = max(a, int(end_s * _RATE) - self.origin)
        return bytes(self.buf[a * 2: b * 2])


class VoiceSession:
    def __init__(self, media: CallMedia, conversation: Conversation, engines: Engines,
                 settings: Settings | VoiceSettings | None = None, *, metrics: CallMetrics | None = None) -> None:
        vs = settings.voice if isinstance(settings, Settings) else (settings or VoiceSettings())
        self.settings = vs
        self.media = media
        self.conversation = conversation
        self.metrics = metrics or CallMetrics(call_id=media.info.call_id)
        self._pool = ThreadPoolExecutor(max_workers=3, thread_name_prefix=f"voice-{media.info.call_id[:16]}")
        self._vad = SileroStream(engines["vad"])
        self._turn_model = engines["turn"]
        self._asr = transcriber_for(engines["asr"], vs.vocabulary)
        self._tts = synthesizer_for(engines["tts"])
        self._gate = VadGate(on=vs.vad_threshold, off=max(0.05, vs.vad_threshold - 0.15))
        self._endpointer = Endpointer(
            mode=vs.endpointing, silence_s=vs.silence_ms / 1000, turn_check_s=vs.turn_check_ms / 1000,
            max_silence_s=vs.max_silence_ms / 1000)
        self._policy = BargeInPolicy(min_speech_s=vs.barge_in_min_speech_ms / 1000,
                                     backchannels=BackchannelFilter(tuple(vs.backchannels)))
        self._audio = _Utterance()
        self._origin: float | None = None  # monotonic time of input sample 0
        self._inbox: asyncio.Queue[tuple[str, str, TurnMetrics | None] | None] = asyncio.Queue()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._turn: TurnMetrics | None = None  # the utterance being heard
        self._speech_start = 0.0
        self._barged = False
        self._early: tuple[float, asyncio.Task[str]] | None = None
        # what the agent is saying
        self._speak_task: asyncio.Task[None] | None = None
        self._segments: list[Segment] = []
        self._segment_pcm: list[bytes] = []
        self._unsynthesised_chars = 0
        self._speaking_turn: TurnMetrics | None = None
        self.hangup_reason = "remote-bye"

    # ------------------------------------------------------------ helpers

    def _mono(self, t: float) -> float:
        return (self._origin or time.monotonic()) + t

    async def _in_thread(self, fn: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    def _spawn(self, coro: Any) -> asyncio.Task[Any]:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def agent_talking(self) -> bool:
        return self.media.pending_audio_ms() > 0 or (self._speak_task is not None and not self._speak_task.done())

    def _interruptible_now(self) -> bool:
        seg = segment_at(self._segments, self.media.sent_audio_ms())
        if seg is not None:
            return seg.interruptible
        upcoming = [s for s in self._segments if s.start_ms >= self.media.sent_audio_ms()]
        return upcoming[0].interruptible if upcoming else True

    # ------------------------------------------------------------ listening

    async def _listen(self) -> None:
        while True:
            event = await self.media.recv()
            if isinstance(event, HangUp):
                self.hangup_reason = event.reason
                return
            if isinstance(event, DtmfIn):
                self._inbox.put_nowait(("dtmf", event.digit, None))
                continue
            if isinstance(event, AudioIn):
                if self._origin is None:
                    self._origin = event.t - len(event.pcm) / 2 / _RATE
                self._audio.append(event.pcm)
                for t, prob in await self._in_thread(self._vad.feed, event.pcm):
                    self._on_window(t, prob)

    def _on_window(self, t: float, prob: float) -> None:
        change = self._gate.update(t, WINDOW_S, prob)
        if change == "start":
            self._speech_start = self._gate.run_start if self._gate.run_start is not None else t
            self._barged = False
            if self._turn is None:
                self._turn = TurnMetrics(index=-1, speech_start=self._mono(self._speech_start))
        if self._gate.speaking:
            self._endpointer.speech(t, WINDOW_S)
            self._early = None  # speech resumed: an early transcript would be stale
            if not self._barged and self._policy.on_speech(
                    self._speech_start, t + WINDOW_S, self.agent_talking(), self._interruptible_now()):
                self._barge_in(self._turn)
            return
        speech_end = self._gate.last_voiced_end or t
        decision = self._endpointer.silence(t, WINDOW_S, speech_end)
        if decision is not None:
            self._decide(decision)
        elif not self._endpointer.in_turn and self._turn is not None and not self._gate.speaking:
            self._turn = None  # too short to be a turn (noise, a click)

    def _decide(self, d: Decision) -> None:
        if d.kind == "early-asr" and self.settings.early_asr and self._early is None:
            pcm = self._audio.slice(self._speech_start - _PREROLL_S, d.speech_end + _TAIL_S)
            self._early = (d.speech_end, self._spawn(self._in_thread(self._asr.transcribe, pcm)))
        elif d.kind == "ask-turn-model":
            self._spawn(self._ask_turn_model(d.speech_end))
        elif d.kind == "end-of-turn":
            turn, self._turn = self._turn, None
            turn = turn or TurnMetrics(index=-1, speech_start=self._mono(self._speech_start))
            turn.speech_end = self._mono(d.speech_end)
            turn.end_of_turn = time.monotonic()
            early, self._early = self._early, None
            pcm = self._audio.slice(self._speech_start - _PREROLL_S, d.speech_end + _TAIL_S)
            self._spawn(self._finish_turn(turn, pcm, early[1] if early and early[0] == d.speech_end else None))

    async def _ask_turn_model(self, speech_end: float) -> None:
        pcm = self._audio.slice(self._speech_start - _PREROLL_S, speech_end)
        prob = await self._in_thread(turn_complete_probability, self._turn_model, pcm)
        decision = self._endpointer.turn_model_said(prob >= self.settings.smart_turn_threshold, speech_end)
        if decision is not None:
            self._decide(decision)

    async def _finish_turn(self, turn: TurnMetrics, pcm: bytes, early: asyncio.Task[str] | None) -> None:
        if early is not None:
            text = await early
            turn.asr_early = True
        else:
            text = await self._in_thread(self._asr.transcribe, pcm)
        turn.transcript_final = time.monotonic()
        turn.transcript_chars = len(text)
        verdict = self._policy.on_transcript(text, self.agent_talking(), self._interruptible_now())
        self.metrics.event("voice.utterance", verdict=verdict, chars=len(text), early=turn.asr_early,
                           agent_talking=self.agent_talking())
        if verdict == "ignore":
            return
        if verdict == "interrupt":
            self._barge_in(turn)
        self._inbox.put_nowait(("text", text, turn))

    def _barge_in(self, turn: TurnMetrics | None) -> None:
        """Stop the agent now: clear queued audio (keeping protected lines), drop pending synthesis."""
        self._barged = True
        detected = time.monotonic()
        position = self.media.sent_audio_ms()
        protected = [(s, p) for s, p in zip(self._segments, self._segment_pcm, strict=True)
                     if not s.interruptible and s.end_ms > position]
        if self._speak_task is not None and not self._speak_task.done():
            self._speak_task.cancel()
        dropped = self.media.clear_audio()
        stopped = time.monotonic()
        fraction = heard_fraction(self._segments, self._unsynthesised_chars, position)
        if self._segments or self._unsynthesised_chars:
            self.conversation.agent_heard(fraction)
        self._segments, self._segment_pcm, self._unsynthesised_chars = [], [], 0
        for seg, pcm in protected:  # protected lines are never cut: the rest of them plays on
            rest = pcm if seg.start_ms >= position else pcm[(position - seg.start_ms) * 16:]
            start = self.media.sent_audio_ms() + self.media.pending_audio_ms()
            self.media.send_audio(rest)
            self._segments.append(Segment(start, start + len(rest) // 16, seg.chars, False))
            self._segment_pcm.append(rest)
        if turn is not None:
            turn.barge_in_detected, turn.barge_in_stopped = detected, stopped
        self.metrics.event("voice.barge_in", heard_fraction=round(fraction, 3), dropped_ms=dropped,
                           reaction_ms=round((stopped - detected) * 1000, 2), kept_protected=len(protected))

    # ------------------------------------------------------------ speaking

    async def _speak(self, reply: Reply, turn: TurnMetrics | None) -> None:
        says = [(s, part) for s in reply.says for part in split_sentences(s.text)]
        self._segments, self._segment_pcm = [], []
        self._unsynthesised_chars = sum(len(p) for _, p in says)
        for say, sentence in says:
            pcm = await self._in_thread(lambda s=sentence, c=say.cacheable: self._tts.synthesize(s, cache=c))
            self._unsynthesised_chars -= len(sentence)
            if not pcm:
                continue
            ahead = self.media.pending_audio_ms()
            start = self.media.sent_audio_ms() + ahead
            self.media.send_audio(pcm)
            if turn is not None and turn.tts_first_audio is None:
                turn.tts_first_audio = time.monotonic()
                turn.first_audio_out = turn.tts_first_audio + ahead / 1000
            self._segments.append(Segment(start, start + len(pcm) // 16, len(sentence), say.interruptible))
            self._segment_pcm.append(pcm)
        while self.media.pending_audio_ms() > 0:  # noqa: ASYNC110 - CallMedia has no drain event
            await asyncio.sleep(min(0.1, max(0.02, self.media.pending_audio_ms() / 2000)))

    async def _deliver(self, reply: Reply, turn: TurnMetrics | None) -> bool:
        """Speak a reply, then carry out its actions. True when the call is to end."""
        if turn is not None:
            turn.reply_ready = time.monotonic()
        self._speaking_turn = turn
        self._speak_task = asyncio.create_task(self._speak(reply, turn))
        await asyncio.wait({self._speak_task})
        if turn is not None:
            self.metrics.emit_turn(turn)
        for action in reply.actions:
            if action.kind == "transfer" and action.target:
                result = await self.media.transfer(action.target, attended=action.attended)
                self.metrics.event("voice.transfer", ok=result.ok, kind=result.kind)
                if result.ok:
                    return True
            elif action.kind == "send_dtmf" and action.target:
                await self.media.send_dtmf(action.target)
            elif action.kind == "hangup":
                await self.media.hangup("local")
                return True
            elif action.kind == "escalate":
                self.metrics.event("voice.escalate", severity=action.severity, category=action.category)
        if reply.end_call:
            await self.media.hangup("local")
            return True
        return False

    async def _dialogue(self) -> None:
        greeting = self.conversation.start()
        t0 = time.monotonic()
        greet = TurnMetrics(index=-1, speech_end=t0, transcript_final=t0)
        self.metrics.greeting = greet
        if await self._deliver(greeting, greet):
            return
        while True:
            item = await self._inbox.get()
            if item is None:
                return
            kind, value, turn = item
            if kind == "dtmf":
                reply = await self.conversation.caller_pressed(value)
            else:
                assert turn is not None
                turn.index = len(self.metrics.turns)
                self.metrics.turns.append(turn)

                def first_token(_kind: str, t: float, turn: TurnMetrics = turn) -> None:
                    if turn.llm_first_token is None:
                        turn.llm_first_token = t

                token = llm_first_token_hook.set(first_token)
                try:
                    reply = await self.conversation.caller_said(value)
                finally:
                    llm_first_token_hook.reset(token)
            if await self._deliver(reply, turn):
                return

    # ------------------------------------------------------------ the call

    async def run(self) -> ConversationOutcome:
        """Run the call to its end (caller hangs up, or the conversation ends it)."""
        listen = asyncio.create_task(self._listen())
        dialogue = asyncio.create_task(self._dialogue())
        try:
            done, _ = await asyncio.wait({listen, dialogue}, return_when=asyncio.FIRST_COMPLETED)
            if dialogue in done and not listen.done():
                dialogue.result()
                await asyncio.wait({listen}, timeout=2.0)  # the HangUp our hangup caused
            for task in (listen, dialogue):
                if task.done() and not task.cancelled() and task.exception() is not None:
                    raise task.exception()  # type: ignore[misc]
        finally:
            await self._teardown(listen, dialogue)
        return self.conversation.ended(self.hangup_reason)

    async def _teardown(self, *tasks: asyncio.Task[Any]) -> None:
        pending = [t for t in (*tasks, self._speak_task, *self._tasks) if t is not None and not t.done()]
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending, timeout=5.0)
        await asyncio.to_thread(self._pool.shutdown, wait=True, cancel_futures=True)
        self.metrics.event("voice.call_ended", reason=self.hangup_reason, turns=len(self.metrics.turns))
