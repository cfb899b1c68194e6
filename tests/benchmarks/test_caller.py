"""The benchmark caller against the appliance's real SIP edge on loopback: INVITE/ACK/BYE,
RTP both ways, speech onset on the wire, and the loud failure when a turn gets no reply.

The far end is a scripted call handler (a tone after the caller's speech), not the voice
pipeline: these tests check the harness, the benchmark itself runs the real appliance."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import numpy as np
import pytest

from appliance.calls import AudioIn, CallMedia, HangUp
from appliance.config import SipSettings
from appliance.telephony.edge import SipEdge
from benchmarks.dialogue import NoReply, Timing, run_call
from benchmarks.scripts import Clip, Script, Step
from benchmarks.speech import is_speech, speech_span
from benchmarks.targets import free_port

TEXT = "hello"


def tone(seconds: float) -> np.ndarray:
    t = np.arange(int(seconds * 8000)) / 8000
    return (6000 * np.sin(2 * np.pi * 300 * t)).astype(np.int16)


def caller_clip() -> Clip:
    pcm = np.concatenate([np.zeros(1600, np.int16), tone(0.6), np.zeros(1600, np.int16)])
    first, last = speech_span(pcm)
    return Clip(TEXT, pcm, first, last)


class Responder:
    """Answers each burst of caller speech with `reply_s` of tone after `delay_s` of silence
    (or never, when `reply_s` is 0)."""

    def __init__(self, delay_s: float = 0.3, reply_s: float = 0.8) -> None:
        self.delay_s, self.reply_s = delay_s, reply_s
        self.heard_speech = 0
        self.hangup: str | None = None

    async def __call__(self, media: CallMedia) -> None:
        speaking, quiet = False, 0
        while True:
            event = await media.recv()
            if isinstance(event, HangUp):
                self.hangup = event.reason
                return
            if not isinstance(event, AudioIn):
                continue
            if is_speech(np.frombuffer(event.pcm, "<i2")):
                speaking, quiet = True, 0
                self.heard_speech += 1
            elif speaking:
                quiet += 1
                if quiet * 0.02 >= self.delay_s:
                    speaking = False
                    if self.reply_s:
                        media.send_audio(tone(self.reply_s).astype("<i2").tobytes())


@pytest.fixture
async def edge_with() -> AsyncIterator:
    edges: list[SipEdge] = []

    async def start(handler: Responder) -> int:
        edge = SipEdge(SipSettings(bind_port=free_port(), rtp_port_min=47000, rtp_port_max=47999), handler)
        await edge.start()
        edges.append(edge)
        return edge.port

    yield start
    for edge in edges:
        await edge.stop()


FAST = Timing(reply_timeout_s=3.0, quiet_s=0.5, listen_timeout_s=10.0, settle_s=0.2)


async def test_a_turn_is_timed_from_the_last_speech_packet_to_the_reply(edge_with) -> None:
    responder = Responder()
    port = await edge_with(responder)
    script = Script("t", (Step(TEXT), Step(TEXT)))
    result = await asyncio.to_thread(run_call, "edge", port, script, {TEXT: caller_clip()}, greets=False, timing=FAST)
    assert [t.turn for t in result.turns] == [0, 1]
    for turn in result.turns:
        assert turn.v2v_ms is not None and turn.v2v_ms > 0 and not turn.talked_over and not turn.no_reply
    assert responder.heard_speech >= 2 * 25  # both utterances crossed the wire (0.6 s each)
    assert result.packets_in > 0
    for _ in range(100):  # the BYE reached the edge
        if responder.hangup:
            break
        await asyncio.sleep(0.05)
    assert responder.hangup == "remote-bye"


async def test_no_reply_fails_loudly_and_a_lenient_run_records_it(edge_with) -> None:
    port = await edge_with(Responder(reply_s=0))
    script = Script("silent", (Step(TEXT),))
    clips = {TEXT: caller_clip()}
    with pytest.raises(NoReply, match="no reply carrying speech within 3 s"):
        await asyncio.to_thread(run_call, "edge", port, script, clips, greets=False, timing=FAST)
    lenient = await asyncio.to_thread(run_call, "edge", port, script, clips, greets=False, timing=FAST, strict=False)
    assert lenient.turns[0].no_reply and lenient.turns[0].v2v_ms is None  # never a zero


async def test_a_missing_greeting_fails_loudly(edge_with) -> None:
    port = await edge_with(Responder(reply_s=0))
    with pytest.raises(NoReply, match="no greeting"):
        await asyncio.to_thread(run_call, "edge", port, Script("g", (Step(TEXT),)), {TEXT: caller_clip()},
                                greets=True, timing=FAST)
