"""Compare end-of-turn strategies on telephone-band speech (offline, on the audio's own clock).

For each utterance (speech through 8 kHz G.711 µ-law, then silence) the real Silero VAD and
the pure `Endpointer` run window by window; in smart-turn mode the real Smart Turn v3 model
is asked when the endpointer says so, and its measured inference time is added to the
decision time. Reported per strategy:
- latency: speech end -> end-of-turn decision, for finished utterances;
- false cuts: turns ended inside a mid-sentence pause ("I'd like to book ... a consultation").

Run: python -m appliance.voice.endpoint_eval  (loads the bundled models; about a minute)
"""

from __future__ import annotations

import json
import statistics
import time
from dataclasses import dataclass
from typing import Any

from appliance.voice.audio import telephone_band
from appliance.voice.policy import Endpointer, VadGate
from appliance.voice.turn import turn_complete_probability
from appliance.voice.vad import WINDOW_S, SileroStream

COMPLETE = (
    "Do you offer Botox for frown lines?",
    "I would like to book a consultation for next Tuesday.",
    "How much does a syringe of Juvederm cost?",
    "Can I bring my sister to the appointment?",
    "I had Sculptra two weeks ago and my cheek is a little swollen.",
    "What time do you close on Saturday?",
)
PAUSED = (  # (before the pause, after it): a finished turn must not be declared in the pause
    ("I would like to book", "a consultation for Botox."),
    ("My appointment is on", "Thursday at three."),
    ("I was wondering if", "you do lip fillers."),
    ("Is it okay to take ibuprofen", "before my Dysport treatment?"),
)


@dataclass
class Strategy:
    name: str
    mode: str
    silence_s: float = 0.5
    threshold: float = 0.5


def _run(engines: Any, strategy: Strategy, pcm: bytes) -> tuple[list[float], float, list[float]]:
    """Feed `pcm` through VAD + endpointer; return (end-of-turn times, last speech end, model ms)."""
    vad = SileroStream(engines["vad"])
    gate = VadGate()
    ep = Endpointer(mode=strategy.mode, silence_s=strategy.silence_s)  # type: ignore[arg-type]
    ends: list[float] = []
    model_ms: list[float] = []
    speech_start = 0.0
    for t, prob in vad.feed(pcm):
        if gate.update(t, WINDOW_S, prob) == "start":
            speech_start = gate.run_start or t
        if gate.speaking:
            ep.speech(t, WINDOW_S)
            continue
        speech_end = gate.last_voiced_end or t
        d = ep.silence(t, WINDOW_S, speech_end)
        if d is None:
            continue
        if d.kind == "end-of-turn":
            ends.append(t + WINDOW_S)
        elif d.kind == "ask-turn-model":
            a = max(0, int((speech_start - 0.3) * 8000)) * 2
            t0 = time.perf_counter()
            p = turn_complete_probability(engines["turn"], pcm[a:int(speech_end * 8000) * 2])
            cost = time.perf_counter() - t0
            model_ms.append(cost * 1000)
            verdict = ep.turn_model_said(p >= strategy.threshold, d.speech_end)
            if verdict is not None:
                ends.append(t + WINDOW_S + cost)
    return ends, gate.last_voiced_end or 0.0, model_ms


def evaluate(engines: Any, speak: Any, strategies: list[Strategy], pause_s: float = 0.3) -> dict[str, Any]:
    """`speak(text) -> (pcm, rate)` makes the caller's voice (Piper or espeak-ng)."""
    silence = bytes(8000 * 2 * 3)

    def phone(text: str) -> bytes:
        pcm, rate = speak(text)
        return telephone_band(pcm, rate)

    complete = [bytes(4000) + phone(t) + silence for t in COMPLETE]
    paused = [bytes(4000) + phone(a) + bytes(int(pause_s * 8000) * 2) + phone(b) + silence for a, b in PAUSED]
    report: dict[str, Any] = {}
    for s in strategies:
        lat, model_ms, cuts, missed = [], [], 0, 0
        for pcm in complete:
            ends, speech_end, ms = _run(engines, s, pcm)
            model_ms += ms
            if ends:
                lat.append((ends[-1] - speech_end) * 1000)
            else:
                missed += 1
        for pcm in paused:
            ends, _, ms = _run(engines, s, pcm)
            model_ms += ms
            cuts += len(ends) > 1
        report[s.name] = {
            "latency_ms_median": round(statistics.median(lat)) if lat else None,
            "latency_ms_max": round(max(lat)) if lat else None,
            "false_cuts": f"{cuts}/{len(paused)}",
            "missed_turns": f"{missed}/{len(complete)}",
            "turn_model_ms_median": round(statistics.median(model_ms)) if model_ms else None,
        }
    return report


def default_strategies() -> list[Strategy]:
    return [
        Strategy("silence-500ms", "silence", 0.5),
        Strategy("silence-650ms", "silence", 0.65),
        Strategy("silence-800ms", "silence", 0.8),
        Strategy("smart-turn(8k)", "smart-turn"),
    ]


def main() -> None:  # pragma: no cover - a measuring tool
    from appliance.config import Settings
    from appliance.models.resolver import resolve_all
    from appliance.voice.engines import LOADERS
    from appliance.voice.tts import synthesizer_for

    settings = Settings()
    models = resolve_all(settings, ("vad", "turn", "tts"))
    engines = {r: LOADERS[r](m, settings) for r, m in models.items()}
    synth = synthesizer_for(engines["tts"])
    voices = {"piper": lambda text: (synth.synthesize(text), 8000), "espeak-ng": espeak}
    out = {f"{name}, pause {pause}s": evaluate(engines, speak, default_strategies(), pause)
           for name, speak in voices.items() for pause in (0.3, 0.6)}
    print(json.dumps(out, indent=2))


def espeak(text: str) -> tuple[bytes, int]:
    import subprocess
    import tempfile
    from pathlib import Path

    from appliance.voice.audio import read_wav

    with tempfile.TemporaryDirectory() as d:
        wav = Path(d) / "s.wav"
        subprocess.run(["espeak-ng", "-s", "150", "-w", str(wav), text], check=True, timeout=30)
        return read_wav(wav, 22050), 22050


if __name__ == "__main__":  # pragma: no cover
    main()
