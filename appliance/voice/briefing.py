"""Spoken briefs for clinicians (page calls, warm transfers): the bundled Piper voice, 8 kHz PCM.

The text is PHI-minimal by construction and comes from the caller of `speak` (the pager's
texts are appliance.staff.paging's, built from severity, the kind of concern and the line; a
warm transfer's brief is handed to the voice session by whoever builds it); synthesis runs in a
worker thread and is cached, since the same few briefs repeat.
"""

from __future__ import annotations

import asyncio

from appliance.calls import SAMPLE_RATE
from appliance.voice.interfaces import Synthesizer

LEAD_MS = 500  # silence before: a phone that just answered may clip the first syllable
PAUSE_MS = 600  # silence after the brief before it repeats


async def speak(voice: Synthesizer, text: str) -> bytes:
    """`text` spoken by the appliance's voice (`Engines.tts`), 8 kHz 16-bit PCM, between short pauses."""
    pcm = await asyncio.to_thread(voice.synthesize, text, cache=True)
    return _silence(LEAD_MS) + pcm + _silence(PAUSE_MS)


def _silence(ms: int) -> bytes:
    return bytes(2 * SAMPLE_RATE * ms // 1000)


def duration_s(pcm: bytes) -> float:
    return len(pcm) / (2 * SAMPLE_RATE)
