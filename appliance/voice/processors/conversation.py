"""The clinic's conversation as a Pipecat processor: caller turns in, reply lines out.

The greeting goes out at the start of the call. Each `CallerTextFrame` is judged by
`BargeInPolicy.on_transcript` (a back-channel while the agent talks is dropped, and an agent
held by `TurnTaking` while the caller spoke resumes where it stopped; other speech
over interruptible audio interrupts, then takes the turn) and handed to the conversation;
each `Say` of the reply is pushed as a `SayFrame` as soon as it exists (with
`caller_said_stream`, while the rest of the reply is still being produced), so synthesis
starts on the first line. A `ReplyDoneFrame` closes the reply with its actions, which the
output carries out once the reply has played. Key presses are queued in order with the turns.

A slow reply is not met with dead air: when the first line of a caller turn's reply has not
come `filler_grace_ms` after the transcript and the caller would wait more than
`filler_gap_ms` from the end of their speech, the built-in acknowledgement (`FILLER_LINE`,
cached audio, nothing clinical) is said first.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from pipecat.frames.frames import Frame, InputDTMFFrame, StartFrame
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor

from appliance.conversation import FALLBACK_LINE, FALLBACK_PROVENANCE, Action, Conversation, Reply, Say, reply_items
from appliance.logs import get_logger
from appliance.voice.frames import (
    CallerTextFrame,
    DigitFrame,
    ModelFailedFrame,
    ReplyDoneFrame,
    SayFrame,
    TransferFailedFrame,
)
from appliance.voice.metrics import CallMetrics, TurnMetrics, llm_first_token_hook
from appliance.voice.playout import Playout
from appliance.voice.policy import BargeInPolicy, TurnHint

log = get_logger(__name__)

FILLER_LINE = "One moment."  # said while a slow reply is prepared (synthesised once, then cached)


async def _whole(reply: Reply) -> AsyncIterator[Say | Reply]:
    for say in reply.says:
        yield say
    yield Reply(actions=reply.actions, end_call=reply.end_call)


class ConversationStage(FrameProcessor):
    def __init__(self, conversation: Conversation, policy: BargeInPolicy, playout: Playout, metrics: CallMetrics,
                 hint: TurnHint | None = None, *, filler_gap_s: float = 0.0, filler_grace_s: float = 0.15,
                 gone: Callable[[], bool] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._conversation = conversation
        self._gone = gone or (lambda: False)  # the caller has hung up: their last words are still heard
        self._hint = hint
        self._filler_gap_s = filler_gap_s  # 0: never
        self._filler_grace_s = filler_grace_s
        self._policy = policy
        self._playout = playout
        self._call_metrics = metrics
        self._greeted = False
        self._closing = False  # the conversation ended the call: no further turns

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, CallerTextFrame):
            await self._caller_text(frame)
        elif isinstance(frame, DigitFrame):
            if not self._closing:
                await self._deliver(_whole(await self._conversation.caller_pressed(frame.digit)), None)
        elif isinstance(frame, TransferFailedFrame):
            await self._transfer_failed(frame)
        elif isinstance(frame, ModelFailedFrame):
            await self._model_failed(frame)
        elif isinstance(frame, InputDTMFFrame):
            await self.queue_frame(DigitFrame(str(frame.button.value)))  # in order with the turns
        else:
            await self.push_frame(frame, direction)
            if isinstance(frame, StartFrame) and not self._greeted:
                self._greeted = True
                await self._greet()

    async def _transfer_failed(self, frame: TransferFailedFrame) -> None:
        handler = getattr(self._conversation, "transfer_failed", None)
        if handler is None:
            log.error("voice.transfer_failed_unhandled", target=frame.target, detail=frame.detail)
            return
        self._closing = False  # the call goes on: the caller may still speak
        reply = handler(frame.target, frame.detail)
        if inspect.isawaitable(reply):
            reply = await reply
        await self._deliver(_whole(reply), None)

    async def _model_failed(self, frame: ModelFailedFrame) -> None:
        self._playout.release("model-failed")  # the fallback line must be heard
        handler = getattr(self._conversation, "model_failed", None)
        reply = handler(frame.role) if handler is not None else Reply(says=(Say(
            FALLBACK_LINE, FALLBACK_PROVENANCE, interruptible=False, cacheable=True),))
        if inspect.isawaitable(reply):
            reply = await reply
        await self._deliver(_whole(reply), None)

    async def _greet(self) -> None:
        t0 = time.monotonic()
        greet = TurnMetrics(index=-1, speech_end=t0, transcript_final=t0)
        self._call_metrics.greeting = greet
        await self._deliver(_whole(self._conversation.start()), greet)

    async def _caller_text(self, frame: CallerTextFrame) -> None:
        text, turn = frame.text, frame.turn
        talking, interruptible = self._playout.agent_talking(), self._playout.interruptible_now()
        verdict = self._policy.on_transcript(text, talking, interruptible)
        if self._gone() and verdict == "interrupt":
            verdict = "turn"  # nothing plays on a call that is gone: no interruption to make
        self._call_metrics.event("voice.utterance", verdict=verdict, chars=len(text), early=turn.asr_early,
                            agent_talking=talking)
        if verdict == "ignore" or self._closing:
            self._playout.release("backchannel")  # a held agent resumes where it stopped
            return
        if verdict == "interrupt":
            self._playout.barge_in(turn)
            await self.broadcast_interruption()  # type: ignore[no-untyped-call]  # pipecat's FrameProcessor.broadcast_interruption is unannotated
        turn.index = len(self._call_metrics.turns)
        self._call_metrics.turns.append(turn)

        def first_token(_kind: str, t: float) -> None:
            if turn.llm_first_token is None:
                turn.llm_first_token = t

        token = llm_first_token_hook.set(first_token)
        try:
            await self._deliver(reply_items(self._conversation, text, frame.confidence, frame.also_heard), turn)
        finally:
            llm_first_token_hook.reset(token)

    def _filler_wait(self, turn: TurnMetrics | None) -> float | None:
        """How long the first line of this reply may take before the filler is said (None: never)."""
        if turn is None or self._filler_gap_s <= 0 or turn.speech_end is None:
            return None
        waited = time.monotonic() - turn.speech_end
        return max(self._filler_grace_s, self._filler_gap_s - waited)

    async def _items(self, items: AsyncIterator[Say | Reply], turn: TurnMetrics | None,
                     reply: int) -> AsyncIterator[Say | Reply]:
        """The reply's items, with the filler first if the first one is slow to come."""
        wait = self._filler_wait(turn)
        it = aiter(items)
        if wait is not None:
            first = asyncio.ensure_future(anext(it, None))
            done, _ = await asyncio.wait({first}, timeout=wait)
            if not done and not self._closing and not self._gone():
                filler = Say(FILLER_LINE, "system#filler", cacheable=True)
                self._playout.queued(reply, len(filler.text), filler.interruptible)
                await self.push_frame(SayFrame(text=filler.text, say=filler, reply=reply, turn=None))
                self._call_metrics.event("voice.filler", waited_ms=round(wait * 1000))
            item = await first
            if item is None:
                return
            yield item
        async for item in it:
            yield item

    async def _deliver(self, items: AsyncIterator[Say | Reply], turn: TurnMetrics | None) -> None:
        if self._gone():
            await self._after_hangup(items)
            return
        reply = self._playout.new_reply()
        actions: list[Action] = []
        end_call = False
        async for item in self._items(items, turn, reply):
            if turn is not None and turn.reply_ready is None:
                turn.reply_ready = time.monotonic()
            says = (item,) if isinstance(item, Say) else item.says
            if isinstance(item, Reply):
                actions.extend(item.actions)
                end_call = end_call or item.end_call
            for say in says:
                if say.interruptible and self._playout.is_cut(reply):
                    continue  # the caller barged in: the rest of this reply is not spoken
                self._playout.queued(reply, len(say.text), say.interruptible)
                await self.push_frame(SayFrame(text=say.text, say=say, reply=reply, turn=turn))
        if turn is not None and turn.reply_ready is None:
            turn.reply_ready = time.monotonic()
        if end_call or any(a.kind == "hangup" for a in actions):
            self._closing = True
        self._expect_next()
        await self.push_frame(ReplyDoneFrame(reply, tuple(actions), end_call, turn))

    async def _after_hangup(self, items: AsyncIterator[Say | Reply]) -> None:
        """The caller hung up before this turn was answered: the conversation still hears it (its
        red-flag check, escalations and notes all run) but nothing is said or done on the call."""
        says = 0
        async for item in items:
            says += 1 if isinstance(item, Say) else len(item.says)
        self._call_metrics.event("voice.turn_after_hangup", unsaid=says)

    def _expect_next(self) -> None:
        """The answer the reply's question wants (`expecting()`, when the conversation has it)."""
        expecting = getattr(self._conversation, "expecting", None)
        if self._hint is not None:
            try:
                self._hint.expect = expecting() if callable(expecting) else "open"
            except Exception:  # noqa: BLE001 - a hint only: the call goes on with the plain silence
                self._hint.expect = "open"
