"""The physical floor of voice-to-voice latency, measured on this machine in the same run:

    floor = endpointing window + one ASR pass on the utterance + first TTS chunk + 2 x 20 ms

The endpointing window is what the appliance measured for its own turns (its configured
silence window plus one VAD window); the ASR pass and the first TTS chunk are timed here with
the appliance's own engines and settings (Whisper with the clinic vocabulary, Piper resampled
to 8 kHz), on the benchmark's caller utterances and on the first clause of the agent's lines.
"""

from __future__ import annotations

import re
import time
from typing import Any

import numpy as np

from benchmarks.scripts import Clip

PACKETISATION_MS = 2 * 20
AGENT_LINES = (  # demo pack lines the scripts hear (appliance/clinic/packs/demo/dialogue.yaml)
    "Are you a new patient, or have you been to see us before?",
    "I'll ask a few quick health questions so we book the right appointment.",
    "Thank you, I've passed your message on.",
    "This could be serious.",
    "Would you like me to book a consultation for you?",
)


def first_clause(text: str) -> str:
    return re.split(r"(?<=[,.;:?!])\s", text, maxsplit=1)[0]


def measure(clips: list[Clip], endpoint_ms: float, repeats: int = 2) -> dict[str, Any]:
    from appliance.config import Settings
    from appliance.models.resolver import resolve_all
    from appliance.voice.asr import WhisperTranscriber
    from appliance.voice.engines import LOADERS
    from appliance.voice.tts import PiperSynthesizer

    settings = Settings()
    models = resolve_all(settings, ("asr", "tts"))
    asr = WhisperTranscriber(LOADERS["asr"](models["asr"], settings), settings.voice.vocabulary)
    tts = PiperSynthesizer(LOADERS["tts"](models["tts"], settings))
    asr_ms, tts_ms = [], []
    for _ in range(repeats):
        for clip in clips:
            speech = clip.pcm[: (clip.last_speech + 1) * 160]
            t0 = time.perf_counter()
            asr.transcribe(speech.astype("<i2").tobytes())
            asr_ms.append((time.perf_counter() - t0) * 1000)
        for line in AGENT_LINES:
            t0 = time.perf_counter()
            tts.synthesize(first_clause(line))
            tts_ms.append((time.perf_counter() - t0) * 1000)
    asr_med, tts_med = float(np.median(asr_ms)), float(np.median(tts_ms))
    return {
        "endpointing_ms": round(endpoint_ms, 1),
        "asr_ms": round(asr_med, 1),
        "tts_first_audio_ms": round(tts_med, 1),
        "packetisation_ms": PACKETISATION_MS,
        "floor_ms": round(endpoint_ms + asr_med + tts_med + PACKETISATION_MS, 1),
        "asr_samples": len(asr_ms),
        "tts_samples": len(tts_ms),
    }
