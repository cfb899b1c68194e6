"""Compare end-of-turn strategies on telephone-band speech (offline, on the audio's own clock).

Each case is what a caller says after a question that wants an answer of some kind (open,
yes/no, a name, a phone number, a date), spoken (Piper, or espeak-ng) through 8 kHz G.711
µ-law, in parts with pauses between them, then silence. The real Silero VAD and the pure
`Endpointer` run window by window. For the adaptive strategy the early Whisper pass runs for
real when the endpointer asks for it, and its words reach the endpointer after the pass's
measured time, as in a call; in smart-turn mode the Smart Turn v3 model is asked and its
measured time added. Reported per strategy:

- latency: speech end -> end-of-turn decision, on finished answers (one part);
- false cut-offs: turns ended inside a pause of a hesitant answer (parts said with pauses
  of 0.3-1.0 s: "I would like to book ... a consultation", lists, "um", numbers in groups).

Run: python -m appliance.voice.endpoint_eval [--voices piper,espeak-ng] [--out FILE]
(loads the bundled models; a few minutes).
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from appliance.voice.audio import rms_dbfs, telephone_band
from appliance.voice.interfaces import Transcriber, TurnDetector, VoiceActivity
from appliance.voice.policy import EndOfTurn, Endpointer, EndpointMode, VadGate, end_of_turn
from appliance.voice.vad import WINDOW_S

if TYPE_CHECKING:
    from appliance.config import VoiceSettings

_TAIL = 0.15  # the audio after speech end that a transcription gets (as turn-taking sends)
_PREROLL = 0.3


@dataclass(frozen=True)
class Models:
    """The engines the strategies are measured with (`Engines` has them too)."""

    vad: VoiceActivity
    turn: TurnDetector


@dataclass(frozen=True)
class Case:
    expect: str
    parts: tuple[str, ...]  # one part: a finished answer; more: said with pauses between them


FINISHED = (
    Case("open", ("Do you offer Botox for frown lines?",)),
    Case("open", ("I would like to book a consultation for next Tuesday.",)),
    Case("open", ("How much does a syringe of Juvederm cost?",)),
    Case("open", ("I had Sculptra two weeks ago and my cheek is a little swollen.",)),
    Case("open", ("What time do you close on Saturday?",)),
    Case("yes-no", ("Yes.",)),
    Case("yes-no", ("No, thank you.",)),
    Case("yes-no", ("Yeah, that works.",)),
    Case("yes-no", ("Nope.",)),
    Case("name", ("Dana Lee.",)),
    Case("name", ("It's Maria Gonzalez.",)),
    Case("digits", ("Five five five, oh one oh five.",)),
    Case("date", ("March third, nineteen eighty five.",)),
)
HESITANT = (
    Case("open", ("I would like to book", "a consultation for Botox.")),
    Case("open", ("My appointment is on", "Thursday at three.")),
    Case("open", ("I was wondering if", "you do lip fillers.")),
    Case("open", ("Is it okay to take ibuprofen", "before my Dysport treatment?")),
    Case("open", ("Um", "I had filler in my lips last week.")),
    Case("open", ("I had Botox", "um", "about three weeks ago.")),
    Case("open", ("I want Botox for my forehead", "and my crow's feet", "and maybe the frown lines.")),
    Case("open", ("So the thing is", "my lip is a bit lumpy.")),
    Case("digits", ("Five five five", "oh one oh five", "two two three three.")),
    Case("date", ("It was March", "the third I think.")),
    Case("yes-no", ("Yes", "but I have a question about the price.")),
    Case("open", ("Hi, it's probably nothing,", "but my vision is blurry since the filler yesterday.")),
    Case("open", ("Hi there.", "I had lip filler on Monday and it's still swollen.")),
    Case("open", ("Quick question.", "Do you do lip flips?")),
)


@dataclass
class Strategy:
    name: str
    mode: EndpointMode
    silence_s: float = 0.65
    threshold: float = 0.5
    rule: EndOfTurn | None = None
    early_asr_s: float = 0.2  # the pause after which the early Whisper pass starts
    vad_off: float = 0.35  # the VAD gate's off level (`VadGate.off`; a call's: `VadGate.for_threshold`)
    words_wait_s: float = 0.0  # `Endpointer.words_wait_s` (a call's: `[voice] early_words_wait_ms`)


@dataclass
class _Early:
    ready_at: float
    speech_end: float
    text: str


@dataclass
class Run:
    ends: list[float] = field(default_factory=list)
    speech_end: float = 0.0
    model_ms: list[float] = field(default_factory=list)
    asr_ms: list[float] = field(default_factory=list)
    heard: list[str | None] = field(default_factory=list)  # the early transcript each end was decided on
    ready: list[float] = field(default_factory=list)  # when each turn's words are there: its end, or its early pass


def _run(engines: Models, s: Strategy, pcm: bytes, expect: str, asr: Transcriber | None) -> Run:
    """Feed `pcm` through VAD + endpointer on the audio's clock."""
    vad = engines.vad.stream()
    gate = VadGate(off=s.vad_off)
    ep = Endpointer(mode=s.mode, silence_s=s.silence_s, rule=s.rule, expect=expect, early_asr_s=s.early_asr_s,
                    words_wait_s=s.words_wait_s)
    out = Run()
    speech_start = 0.0
    early: _Early | None = None
    heard: str | None = None
    for t, prob in vad.feed(pcm):
        if gate.update(t, WINDOW_S, prob) == "start":
            if not ep.in_turn:
                speech_start = gate.run_start or t
        if gate.speaking:
            ep.speech(t, WINDOW_S)
            early = heard = None
            continue
        speech_end = gate.last_voiced_end or t
        if early is not None and t >= early.ready_at:
            ep.heard_early(early.speech_end, early.text)
            heard = early.text
        d = ep.silence(t, WINDOW_S, speech_end)
        if d is None:
            continue
        if d.kind == "end-of-turn":
            out.ends.append(t + WINDOW_S)
            out.heard.append(heard)
            # the final transcript is the pause's early pass when there is one (a call reuses it)
            ready = t + WINDOW_S
            if early is not None and abs(early.speech_end - d.speech_end) <= 1e-3:
                ready = max(ready, early.ready_at)
            out.ready.append(ready)
        elif d.kind == "early-asr" and s.rule is not None and asr is not None:
            a, b = max(0, int((speech_start - _PREROLL) * 8000)) * 2, int((d.speech_end + _TAIL) * 8000) * 2
            t0 = time.perf_counter()
            text = asr.hear(pcm[a:b]).text
            cost = time.perf_counter() - t0
            out.asr_ms.append(cost * 1000)
            early = _Early(t + WINDOW_S + cost, d.speech_end, text)
        elif d.kind == "ask-turn-model":
            a = max(0, int((speech_start - _PREROLL) * 8000)) * 2
            t0 = time.perf_counter()
            p = engines.turn.complete_probability(pcm[a:int(speech_end * 8000) * 2])
            cost = time.perf_counter() - t0
            out.model_ms.append(cost * 1000)
            verdict = ep.turn_model_said(p >= s.threshold, d.speech_end)
            if verdict is not None:
                out.ends.append(t + WINDOW_S + cost)
                out.heard.append(None)
    out.speech_end = gate.last_voiced_end or 0.0
    return out


def _audio_end(pcm: bytes, level_dbfs: float = -45.0) -> float:
    """End of the last 20 ms frame of `pcm` (8 kHz) above `level_dbfs`: where the caller stopped."""
    step = 320
    last = 0
    for i in range(0, len(pcm) - step + 1, step):
        if rms_dbfs(pcm[i:i + step]) > level_dbfs:
            last = i + step
    return last / 16000


def _pctl(xs: list[float], q: float) -> float | None:
    if not xs:
        return None
    xs = sorted(xs)
    return round(xs[min(len(xs) - 1, int(q * len(xs)))])


def evaluate(engines: Models, speak: Any, strategies: list[Strategy], pauses: tuple[float, ...] = (0.3, 0.6, 1.0),
             asr: Transcriber | None = None) -> dict[str, Any]:
    """`speak(text) -> (pcm, rate)` makes the caller's voice."""
    silence = bytes(8000 * 2 * 3)
    cache: dict[str, bytes] = {}

    def phone(text: str) -> bytes:
        if text not in cache:
            pcm, rate = speak(text)
            cache[text] = telephone_band(pcm, rate)
        return cache[text]

    def said(case: Case, pause_s: float, held: bool = False) -> bytes:
        """The parts with `pause_s` between them; `held`: every part but the last said as a clause
        that goes on (ending in a comma: Piper holds the pitch up), not as a sentence of its own."""
        gap = bytes(int(pause_s * 8000) * 2)
        parts = [p.rstrip(".?!,") + "," if held and i < len(case.parts) - 1 else p for i, p in enumerate(case.parts)]
        return bytes(4000) + gap.join(phone(p) for p in parts) + silence

    report: dict[str, Any] = {}
    for s in strategies:
        lat: dict[str, list[float]] = {}
        from_audio: list[float] = []
        words_ready: list[float] = []
        missed, hesitant = 0, 0
        cuts: list[str] = []
        cuts_held: list[str] = []
        model_ms: list[float] = []
        asr_ms: list[float] = []
        for case in FINISHED:
            pcm = said(case, 0.0)
            r = _run(engines, s, pcm, case.expect, asr)
            model_ms += r.model_ms
            asr_ms += r.asr_ms
            if r.ends:
                lat.setdefault(case.expect, []).append((r.ends[-1] - r.speech_end) * 1000)
                from_audio.append((r.ends[-1] - _audio_end(pcm)) * 1000)
                words_ready.append((r.ready[-1] - r.speech_end) * 1000)
            else:
                missed += 1
        for pause in pauses:
            for case in HESITANT:
                hesitant += 1
                for held, into in ((False, cuts), (True, cuts_held)):
                    r = _run(engines, s, said(case, pause, held), case.expect, asr)
                    model_ms += r.model_ms
                    asr_ms += r.asr_ms
                    if len(r.ends) > 1:
                        early = "" if s.rule is None else f" (early pass: {r.heard[0]!r})"
                        into.append(f"{pause}s: {' / '.join(case.parts)}{early}")
        every = [x for v in lat.values() for x in v]
        report[s.name] = {
            "latency_ms_median": _pctl(every, 0.5), "latency_ms_p90": _pctl(every, 0.9),
            "latency_ms_median_by_answer": {k: _pctl(v, 0.5) for k, v in sorted(lat.items())},
            # from the audio's own end (the VAD's tail after the last sound included)
            "latency_from_audio_ms_median": _pctl(from_audio, 0.5), "latency_from_audio_ms_p90": _pctl(from_audio, 0.9),
            # speech end -> the final words there (the later of the end of turn and its early pass,
            # which the final transcript reuses): what a reply waits for. Rules with the early pass only.
            "words_ready_ms_median": _pctl(words_ready, 0.5) if s.rule is not None and asr else None,
            "words_ready_ms_p90": _pctl(words_ready, 0.9) if s.rule is not None and asr else None,
            "false_cutoffs": len(cuts), "hesitant": hesitant,
            "false_cutoff_rate": round(len(cuts) / hesitant, 3) if hesitant else None,
            "cut": cuts,
            # the same turns with the pitch held up before each pause (a clause that goes on)
            "false_cutoffs_pitch_held": len(cuts_held),
            "false_cutoff_rate_pitch_held": round(len(cuts_held) / hesitant, 3) if hesitant else None,
            "cut_pitch_held": cuts_held, "missed_turns": f"{missed}/{len(FINISHED)}",
            "turn_model_ms_median": _pctl(model_ms, 0.5), "early_asr_ms_median": _pctl(asr_ms, 0.5),
        }
    return report


def default_strategies(vs: VoiceSettings) -> list[Strategy]:
    hold, digit_words = frozenset(w.lower() for w in vs.hold_words), frozenset(w.lower() for w in vs.digit_words)

    def adaptive(unfinished: float, complete: float | None = None, fast: float = 0.25,
                 phone_digits: int = vs.phone_digits) -> EndOfTurn:
        return EndOfTurn(fast_s=fast, unfinished_s=unfinished, complete_s=complete, hold_words=hold,
                         finishing=vs.finishing_phrases,
                         phone_digits=phone_digits, number_s=vs.partial_number_ms / 1000, digit_words=digit_words)

    def defaults(name: str, off: float) -> Strategy:  # the rule a call builds from the same settings
        return Strategy(name, "silence", vs.silence_ms / 1000, rule=end_of_turn(vs),
                        early_asr_s=vs.early_asr_ms / 1000, vad_off=off, words_wait_s=vs.early_words_wait_ms / 1000)

    call_off = VadGate.for_threshold(vs.vad_threshold).off
    return [
        Strategy("silence 650 ms", "silence", 0.65),
        Strategy("silence 800 ms", "silence", 0.8),
        Strategy("silence 1000 ms", "silence", 1.0),
        Strategy("smart-turn (8 kHz)", "smart-turn"),
        Strategy("adaptive, base 650 ms", "silence", 0.65, rule=adaptive(1.2)),
        Strategy("adaptive, base 650 ms, digits not counted", "silence", 0.65, rule=adaptive(1.2, phone_digits=0)),
        defaults("the appliance's defaults", call_off),
        replace(defaults("the appliance's defaults, no wait for the early words", call_off), words_wait_s=0.0),
        defaults("the appliance's defaults, VAD off at 0.5", 0.5),
        defaults("the appliance's defaults, VAD off at 0.65", 0.65),
        defaults("the appliance's defaults, VAD off at 0.8", 0.8),
        Strategy("adaptive 650 ms, finished sentence 350 ms", "silence", 0.65, rule=adaptive(1.2, 0.35)),
        Strategy("adaptive 800 ms, finished sentence 350 ms", "silence", 0.8, rule=adaptive(1.2, 0.35)),
        Strategy("adaptive 650 ms, finished sentence 300 ms, early pass at 100 ms", "silence", 0.65,
                 rule=adaptive(1.2, 0.3), early_asr_s=0.1),
        Strategy("adaptive, base 800 ms", "silence", 0.8, rule=adaptive(1.2)),
        Strategy("adaptive, base 1000 ms", "silence", 1.0, rule=adaptive(1.4)),
    ]


def main(argv: list[str] | None = None) -> None:  # pragma: no cover - a measuring tool
    from appliance.config import Settings
    from appliance.models.resolver import resolve_all
    from appliance.voice.asr import WhisperTranscriber
    from appliance.voice.engines import LOADERS
    from appliance.voice.tts import PiperSynthesizer
    from appliance.voice.turn import SmartTurn
    from appliance.voice.vad import SileroVad

    p = argparse.ArgumentParser(prog="python -m appliance.voice.endpoint_eval")
    p.add_argument("--voices", default="piper,espeak-ng")
    p.add_argument("--out", type=Path)
    p.add_argument("--only", default="", help="'|'-separated strategy names to run (default: all)")
    a = p.parse_args(argv)
    settings = Settings()
    models = resolve_all(settings, ("vad", "turn", "tts", "asr"))
    raw = {r: LOADERS[r](m, settings) for r, m in models.items()}
    engines = Models(SileroVad(raw["vad"]), SmartTurn(raw["turn"]))
    synth, asr = PiperSynthesizer(raw["tts"]), WhisperTranscriber(raw["asr"], settings.voice.vocabulary)
    voices = {"piper": lambda text: (synth.synthesize(text), 8000), "espeak-ng": espeak}
    strategies = [s for s in default_strategies(settings.voice)
                  if not a.only or s.name in a.only.split("|")]
    out = {name: evaluate(engines, voices[name], strategies, asr=asr) for name in a.voices.split(",")}
    text = json.dumps(out, indent=2)
    if a.out:
        a.out.parent.mkdir(parents=True, exist_ok=True)
        a.out.write_text(text + "\n")
    print(text)


def espeak(text: str) -> tuple[bytes, int]:
    import subprocess
    import tempfile

    from appliance.voice.audio import read_wav

    with tempfile.TemporaryDirectory() as d:
        wav = Path(d) / "s.wav"
        subprocess.run(["espeak-ng", "-s", "150", "-w", str(wav), text], check=True, timeout=30)
        return read_wav(wav, 22050), 22050


if __name__ == "__main__":  # pragma: no cover
    main()
