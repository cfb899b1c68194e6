"""The call really runs on a Pipecat 1.14 pipeline: frames seen by a worker observer; an
interruption during synthesis drops the queued speech (checked on the packets actually sent);
a streamed reply is spoken from its first line on; the streaming fallback for plain replies."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
from pipecat.frames.frames import Frame, InputDTMFFrame, StartFrame, TTSAudioRawFrame
from pipecat.observers.base_observer import BaseObserver, FramePushed
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.worker import PipelineParams, PipelineWorker
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pipecat.workers.runner import WorkerRunner

from appliance.config import VoiceSettings
from appliance.conversation import Action, Reply, Say, reply_items
from appliance.voice.engines import Engines
from appliance.voice.filemedia import FileCallMedia
from appliance.voice.frames import SayFrame
from appliance.voice.metrics import CallMetrics
from appliance.voice.playout import Playout
from appliance.voice.processors.speech import Speech
from appliance.voice.session import VoiceSession
from appliance.voice.transport import CallMediaTransport
from tests.foundation.heard import words_heard

from .helpers import ScriptedConversation, piper, silence
from .test_session import LONG, said, voiced


class FrameLog(BaseObserver):
    """Every push between two processors: (source, destination, frame type)."""

    def __init__(self) -> None:
        super().__init__()
        self.pushes: list[tuple[str, str, str]] = []
        self.says: list[SayFrame] = []
        self.tts_s = 0.0  # speech synthesised and pushed to the output

    async def on_push_frame(self, data: FramePushed) -> None:
        self.pushes.append((type(data.source).__name__, type(data.destination).__name__, type(data.frame).__name__))
        if isinstance(data.frame, SayFrame):
            self.says.append(data.frame)
        if isinstance(data.frame, TTSAudioRawFrame) and type(data.destination).__name__ == "CallMediaOutput":
            self.tts_s += len(data.frame.audio) / 16000

    def saw(self, source: str, destination: str, frame: str) -> bool:
        return (source, destination, frame) in self.pushes


FIRST_LINE = "Yes, we offer wrinkle relaxers at our clinic."


class StreamingConversation(ScriptedConversation):
    """Hands over its reply line by line; the second line comes 2.5 s after the first."""

    second_at: float = 0.0

    async def caller_said(self, text: str) -> Reply:  # pragma: no cover - the stream is used
        raise AssertionError("the pipeline should use caller_said_stream")

    async def caller_said_stream(self, text: str) -> AsyncIterator[Say | Reply]:
        self.heard.append(text)
        yield Say(FIRST_LINE, provenance="demo@1#botox")
        await asyncio.sleep(2.5)  # the rest of the reply is slow to come (a model still generating)
        self.second_at = time.monotonic()
        yield Say("Would you like to book a consultation?")
        yield Reply(end_call=True)


@pytest.mark.models
@pytest.mark.slow
async def test_the_call_runs_on_a_pipecat_pipeline_and_streams_its_reply(engines: Engines) -> None:
    log = FrameLog()
    conv = StreamingConversation()
    question = piper(engines, "Do you offer Botox?")
    media = FileCallMedia(silence(2.5) + question, tail_s=8.0)
    session = VoiceSession(media, conv, engines, VoiceSettings(), observers=[log])
    try:
        await asyncio.wait_for(session.run(), timeout=90)
    finally:
        await media.close()
    assert isinstance(session.worker, PipelineWorker)
    for hop in [("CallMediaInput", "TurnTaking", "CallerAudioFrame"),  # an InputAudioRawFrame with the echo reference
                ("TurnTaking", "Transcription", "UtteranceFrame"),
                ("Transcription", "ConversationStage", "CallerTextFrame"),
                ("ConversationStage", "Speech", "SayFrame"),
                ("Speech", "CallMediaOutput", "TTSAudioRawFrame"),
                ("Speech", "CallMediaOutput", "SegmentFrame"),
                ("Speech", "CallMediaOutput", "ReplyDoneFrame")]:
        assert log.saw(*hop), hop
    assert [f.provenance for f in log.says if "clinic" in f.text] == ["demo@1#botox"]
    assert conv.heard and "botox" in conv.heard[0].lower()
    assert media.hangup_reason == "local"  # the streamed Reply's end_call was carried out
    answer = [f for f in voiced(media.sent) if f.offset_ms > 2500 + len(question) / 16]
    assert answer[0].t < conv.second_at  # the first line was playing before the second existed
    # What played before the second line existed is the first line (the second and the filler line share
    # none of its words). The audio is cut where the second line began, and Whisper tiny hears the cut
    # start loosely: "yes, we offer ring-core relaxers at our...", "yeah, if we offer wrinkle relaxers, that's it."
    heard = said(engines, [f for f in answer if f.t < conv.second_at])
    assert words_heard(FIRST_LINE, heard) >= 3, heard
    assert "consultation" in said(engines, [f for f in answer if f.t > conv.second_at])


class KeyInterrupts(FrameProcessor):
    """Says a long interruptible answer, then a protected line; a key press is a barge-in."""

    def __init__(self, playout: Playout) -> None:
        super().__init__()
        self.playout = playout
        self.pressed_at: float | None = None

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, InputDTMFFrame):
            self.pressed_at = time.monotonic()
            self.playout.barge_in(None)
            await self.broadcast_interruption()
            return
        await self.push_frame(frame, direction)
        if isinstance(frame, StartFrame):
            reply = self.playout.new_reply()
            for say in (Say(LONG), Say("If this is an emergency, hang up and dial nine one one.", interruptible=False)):
                self.playout.queued(reply, len(say.text), say.interruptible)
                await self.push_frame(SayFrame(text=say.text, say=say, reply=reply))


@pytest.mark.models
async def test_an_interruption_during_synthesis_drops_the_queued_speech(engines: Engines) -> None:
    media = FileCallMedia(silence(6.0), tail_s=0.0, dtmf=((3.0, "1"),))
    cut: list[float] = []
    playout = Playout(media, cut.append, CallMetrics())
    log = FrameLog()
    transport = CallMediaTransport(media, playout=playout)
    talker = KeyInterrupts(playout)
    worker = PipelineWorker(
        Pipeline([transport.input(), talker, Speech(engines.tts, pool=None), transport.output()]),
        params=PipelineParams(audio_in_sample_rate=8000, audio_out_sample_rate=8000),
        observers=[log], idle_timeout_secs=None, enable_rtvi=False, enable_turn_tracking=False)
    runner = WorkerRunner(handle_sigint=False)
    await runner.add_workers(worker)
    try:
        await asyncio.wait_for(runner.run(), timeout=60)
    finally:
        await media.close()
    assert talker.pressed_at is not None
    assert log.saw("KeyInterrupts", "Speech", "InterruptionFrame")
    before = [f for f in media.sent if f.t <= talker.pressed_at]
    after = [f for f in media.sent if f.t > talker.pressed_at]
    assert len(voiced(before)) * 0.02 > 1.0  # the long answer was playing
    # The answer (about 17 s of speech) stopped at once: what follows is the protected line only.
    heard_after = said(engines, after)
    assert "emergency" in heard_after and "dial" in heard_after  # the protected line, to its end
    assert "consultation" not in heard_after and "nurses" not in heard_after
    assert 1.5 < len(voiced(after)) * 0.02 < 5.0
    assert media.clears and media.clears[0][1] <= 60  # the media held at most the lead (40 ms) + in-flight
    assert cut and 0.0 < cut[0] < 0.3
    # Most of the answer had been synthesised and queued when the key was pressed; it was dropped.
    emitted_s = len(voiced(media.sent)) * 0.02
    assert log.tts_s > 12.0 and emitted_s < log.tts_s - 8.0, (log.tts_s, emitted_s)
    i = log.pushes.index(("KeyInterrupts", "Speech", "InterruptionFrame"))
    later = [p for p in log.pushes[i:] if p == ("Speech", "CallMediaOutput", TTSAudioRawFrame.__name__)]
    assert len(later) <= 3  # nothing more of the answer is synthesised (the protected line may still be)


async def test_plain_replies_stream_through_the_fallback() -> None:
    conv = ScriptedConversation(answers={"hours": Reply(says=(Say("Nine to five."), Say("Monday to Friday.")),
                                                         actions=(Action("transfer", target="201"),))})
    items = [i async for i in reply_items(conv, "what are your hours")]
    assert items[:2] == [Say("Nine to five."), Say("Monday to Friday.")]
    assert items[2] == Reply(actions=(Action("transfer", target="201"),), end_call=False)
