"""Each model exercised the way calls use it, inside its worker, before the worker is ready.

The language model evaluates a multi-token prompt batch and decodes a multi-token answer under
a JSON grammar (the path a native CPU-feature crash takes); Whisper transcribes a second of
audio, and so does Moonshine (the second listen's); Piper speaks a sentence; Silero runs several
windows with its recurrent state; Smart Turn scores an utterance. A wrong result raises
`SelfTestError`; a native crash kills the worker, and the parent reports which model it was
testing (`client.ModelWorker`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from appliance.errors import ApplianceError

_SCHEMA = {"type": "object", "properties": {"answer": {"type": "string", "enum": ["yes", "no", "unclear"]}},
           "required": ["answer"]}


class SelfTestError(ApplianceError):
    code = "model-selftest-failed"


def _tone(seconds: float, rate: int = 8000) -> bytes:
    t = np.arange(int(seconds * rate)) / rate
    x = 0.2 * np.sin(2 * np.pi * 220 * t) * (1 + 0.5 * np.sin(2 * np.pi * 3 * t))
    return (x * 32767).astype("<i2").tobytes()


def exercise(role: str, engine: Any, lm: Any = None) -> None:
    """Exercise `engine`, the third-party object `role` was loaded as, through its appliance
    wrapper (`lm`: the language model's, made once by the worker)."""
    if role == "vad":
        from appliance.voice.vad import SileroVad

        probs = SileroVad(engine).stream().feed(_tone(0.5))
        if len(probs) < 10 or not all(0.0 <= p <= 1.0 for _, p in probs):
            raise SelfTestError("Silero VAD returned no valid probabilities", fix="reinstall the models (make run)")
    elif role == "turn":
        from appliance.voice.turn import SmartTurn

        p = SmartTurn(engine).complete_probability(_tone(1.0))
        if not 0.0 <= p <= 1.0:
            raise SelfTestError(f"Smart Turn returned {p}", fix="reinstall the models (make run)")
    elif role == "asr":
        from appliance.voice.asr import WhisperTranscriber

        WhisperTranscriber(engine).hear(_tone(1.0))  # any text (or none) is fine: it must run
    elif role == "relisten":
        from appliance.voice.moonshine import MoonshineTranscriber

        MoonshineTranscriber(engine).hear(_tone(1.0))  # as Whisper: it must run
    elif role == "tts":
        from appliance.voice.tts import PiperSynthesizer

        if len(PiperSynthesizer(engine, cache_items=0).synthesize("This is a test of the voice.")) < 8000:
            raise SelfTestError("Piper produced no audio for a test sentence", fix="reinstall the models (make run)")
    elif role == "llm":
        import json

        text, _first = lm._json_sync("Answer whether the caller agreed, as JSON.",
                                     "Yes, that works for me, thank you very much.", _SCHEMA, 24)
        try:
            answer = json.loads(text)["answer"]
        except (ValueError, KeyError, TypeError) as e:
            raise SelfTestError(f"the language model's output under the grammar did not parse: {text[:80]!r}",
                                fix="check the model file; `appliance models verify`") from e
        if answer not in ("yes", "no", "unclear") or lm.stats.completion_tokens < 3:
            raise SelfTestError("the language model did not decode a multi-token answer",
                                fix="check the model file; `appliance models verify`")
