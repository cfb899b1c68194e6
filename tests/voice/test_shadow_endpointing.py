"""A shadow call splits a recorded turn where a live call would: the same adaptive end of turn,
read from the early transcript of each pause (appliance.golive.shadow.listener)."""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor

from appliance.config import VoiceSettings
from appliance.golive.shadow.listener import HeardTurn, StreamListener
from appliance.voice.engines import Engines
from tests.voice.helpers import piper_fixed, silence

FRAME = 320  # 20 ms of 8 kHz 16-bit audio, as the recording's RTP brings it


async def _heard(engines: Engines, pcm: bytes, settings: VoiceSettings) -> list[HeardTurn]:
    frames: asyncio.Queue[bytes | None] = asyncio.Queue()
    turns: list[HeardTurn] = []

    async def emit(turn: HeardTurn) -> None:
        turns.append(turn)

    with ThreadPoolExecutor(2) as pool:
        listener = StreamListener("patient", "1", frames, engines, settings, pool, time.monotonic(), emit)
        task = asyncio.create_task(listener.run())
        start = time.monotonic()
        for i in range(0, len(pcm), FRAME):  # in real time: the pause's early words arrive as on a call
            frames.put_nowait(pcm[i:i + FRAME])
            await asyncio.sleep(max(0.0, start + (i + FRAME) / 16000 - time.monotonic()))
        frames.put_nowait(None)
        await asyncio.wait_for(task, 30)
    return turns


async def test_an_unfinished_sentence_with_a_pause_stays_one_turn_in_shadow_as_on_a_live_call(engines: Engines) -> None:
    """"I was wondering if ... you do lip fillers": 0.9 s of pause after words that cannot end a
    sentence. The live call's rule waits on (1.2 s for an unfinished sentence); the plain 650 ms
    silence, which the shadow listener used before, splits it in two."""
    pcm = (silence(0.5) + piper_fixed(engines, "I was wondering if") + silence(0.9)
           + piper_fixed(engines, "you do lip fillers.") + silence(2.0))
    adaptive = await _heard(engines, pcm, VoiceSettings())
    assert len(adaptive) == 1, adaptive
    assert "wondering" in adaptive[0].text.lower() and "filler" in adaptive[0].text.lower(), adaptive
    plain = await _heard(engines, pcm, VoiceSettings(adaptive_endpointing=False))
    assert len(plain) == 2, plain
