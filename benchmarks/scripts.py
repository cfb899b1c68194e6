"""Caller scripts: what the benchmark caller says, turn by turn, in telephone-band speech.

The scripts follow the demo pack's conversations (a new patient's intake, a quote, a red flag,
a message for staff), so every turn gets a real answer. A `barge_in` step is spoken while the
agent is still talking (`barge_after_s` after its reply started), to measure how fast it stops.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmarks.corpus import read_wav, telephone_speech
from benchmarks.speech import speech_span


@dataclass(frozen=True)
class Step:
    text: str
    barge_in: bool = False
    barge_after_s: float = 1.0


@dataclass(frozen=True)
class Script:
    name: str
    steps: tuple[Step, ...]


SCRIPTS: dict[str, Script] = {s.name: s for s in (
    Script("new-patient", (Step("Hi, I'm a new patient."), Step("Botox, please."),
                           Step("The frown lines between my eyebrows."), Step("No, I don't think so."))),
    Script("quote", (Step("I'm a new patient and I'm interested in Xeomin for my crow's feet."),
                     Step("No, not at the moment."))),
    Script("red-flag", (Step("Hi, it's probably nothing, but my vision is blurry since the filler yesterday."),)),
    Script("message", (Step("I'd like to speak to someone about my bill."),
                       Step("I was charged twice for my last visit."))),
    Script("barge-in", (Step("Hi, I'm a new patient."),
                        Step("Sorry, how much does Botox cost for the forehead lines?", barge_in=True))),
)}
WARM_UP = Script("warm-up", (Step("I'd like to speak to someone about my bill."),))
"""One untimed call per system before the measured ones: the first inference in a fresh process
is slow (cold caches), and the baseline builds its services per call."""
LATENCY_SCRIPTS = ("new-patient", "quote", "red-flag", "message")
QUICK_SCRIPTS = ("quote",)
SWEEP_SCRIPT = "message"


@dataclass(frozen=True)
class Clip:
    """One caller utterance: its audio and where its speech starts and ends (20 ms frames)."""

    text: str
    pcm: np.ndarray
    first_speech: int
    last_speech: int


def clips_for(scripts: list[Script], folder: Path, voice: str = "piper") -> dict[str, Clip]:
    """Synthesise (once, cached in `folder`) every utterance of the scripts."""
    folder.mkdir(parents=True, exist_ok=True)
    out: dict[str, Clip] = {}
    for script in scripts:
        for step in script.steps:
            if step.text in out:
                continue
            path = folder / f"{voice}-{hash_text(step.text):016x}.wav"
            if not path.exists():
                telephone_speech(step.text, path, voice)
            pcm, rate = read_wav(path)
            if rate != 8000:
                raise ValueError(f"{path}: expected 8 kHz audio, got {rate} Hz")
            first, last = speech_span(pcm)
            out[step.text] = Clip(step.text, pcm, first, last)
    return out


def hash_text(text: str) -> int:
    """A stable (not per-process salted) 64-bit hash for file names."""
    import hashlib

    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")
