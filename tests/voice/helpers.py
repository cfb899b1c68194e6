"""Test helpers: caller speech through a telephone channel, and a scripted conversation."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from appliance.conversation import ConversationOutcome, Reply, Say, Turn
from appliance.voice.audio import float_to_pcm, read_wav, resample, telephone_band
from appliance.voice.engines import Engines
from appliance.voice.tts import PiperSynthesizer


def espeak(text: str, wpm: int = 150) -> bytes:
    """espeak-ng speech as a caller on a G.711 call (8 kHz, µ-law round trip)."""
    assert shutil.which("espeak-ng"), "espeak-ng is needed (provisioning/apt-test.txt)"
    with tempfile.TemporaryDirectory() as d:
        wav = Path(d) / "s.wav"
        subprocess.run(["espeak-ng", "-s", str(wpm), "-w", str(wav), text], check=True, timeout=30)
        return telephone_band(read_wav(wav, 22050), 22050)


def piper(engines: Engines, text: str) -> bytes:
    """Piper speech (8 kHz) as a caller on a G.711 call."""
    return telephone_band(engines.tts.synthesize(text), 8000)


def piper_fixed(engines: Engines, text: str) -> bytes:
    """Piper speech without its sampling noise: the same audio on every run. Piper draws its
    prosody at random, so a test whose premise rests on a few tens of ms of audio (a click heard
    as speech) takes this one."""
    from piper import SynthesisConfig

    assert isinstance(engines.tts, PiperSynthesizer), "the bundled Piper voice"
    chunks = list(engines.tts.voice.synthesize(text, SynthesisConfig(noise_scale=0.0, noise_w_scale=0.0)))
    x = np.concatenate([c.audio_float_array for c in chunks]).astype(np.float32)
    return telephone_band(float_to_pcm(resample(x, chunks[0].sample_rate, 8000)), 8000)


def silence(seconds: float) -> bytes:
    return bytes(int(seconds * 8000) * 2)


def noise(seconds: float, dbfs: float = -35.0, seed: int = 7) -> bytes:
    """Line noise: white noise low-passed to the telephone band, at `dbfs` RMS."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(int(seconds * 8000)).astype(np.float32)
    x = np.convolve(x, np.ones(3) / 3, mode="same")
    x *= 10 ** (dbfs / 20) / max(1e-9, float(np.sqrt(np.mean(x * x))))
    return telephone_band(float_to_pcm(x), 8000)


@dataclass
class ScriptedConversation:
    """A Conversation test double: answers by keyword, records what it was told."""

    greeting: tuple[Say, ...] = (Say("Thank you for calling. How can I help?", cacheable=True),)
    answers: dict[str, Reply] = field(default_factory=dict)
    default: Reply = field(default_factory=lambda: Reply(says=(Say("Sorry, could you say that again?"),)))
    heard: list[str] = field(default_factory=list)
    digits: list[str] = field(default_factory=list)
    cut: list[float] = field(default_factory=list)
    outcome: ConversationOutcome = field(default_factory=ConversationOutcome)
    end_reason: str | None = None

    def start(self) -> Reply:
        for say in self.greeting:
            self.outcome.turns.append(Turn("agent", say.text))
        return Reply(says=self.greeting)

    async def caller_said(self, text: str) -> Reply:
        self.heard.append(text)
        self.outcome.turns.append(Turn("caller", text))
        low = text.lower()
        reply = next((r for k, r in self.answers.items() if k in low), self.default)
        for say in reply.says:
            self.outcome.turns.append(Turn("agent", say.text))
        return reply

    async def caller_pressed(self, digit: str) -> Reply:
        self.digits.append(digit)
        return Reply(says=(Say(f"You pressed {digit}."),))

    def agent_heard(self, fraction: float) -> None:
        self.cut.append(fraction)
        for turn in reversed(self.outcome.turns):
            if turn.speaker == "agent":
                turn.heard_fraction = fraction
                break

    def ended(self, reason: str) -> ConversationOutcome:
        self.end_reason = reason
        self.outcome.outcome = reason
        return self.outcome
