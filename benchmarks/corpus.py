"""A fixed corpus of telephone-band med-spa caller utterances, generated on the machine.

Speech comes from espeak-ng (several voices), is band-limited to 8 kHz and passed through a
G.711 µ-law round trip with sox, as a caller's voice reaches the appliance through the PBX.
The same text always yields the same audio on the same package versions.
"""

from __future__ import annotations

import subprocess
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

PRODUCTS = ("botox", "dysport", "xeomin", "juvederm", "restylane", "sculptra", "glabella", "nasolabial")

UTTERANCES: tuple[str, ...] = (
    "Hi, I would like to book Botox for my forehead lines.",
    "How much is Dysport for the glabella?",
    "I had Juvederm in my lips three days ago and they are still swollen.",
    "Do you carry Xeomin or only Botox?",
    "I want to ask about Restylane for my nasolabial folds.",
    "My friend had Sculptra and loved it, what does it cost?",
    "I am calling about my appointment next Tuesday at two.",
    "Can I get filler if I am breastfeeding?",
    "My last Botox was in March, is that too soon?",
    "I take blood thinners every day.",
    "There is a white patch on my lip since the filler this morning.",
    "My vision is blurry since the filler in my nose.",
    "Could I come in for a touch up on my crow's feet?",
    "What is your deposit policy for new patients?",
    "I would like a consultation for microneedling.",
    "How long should I stay out of the sun after my laser treatment?",
    "My skin is peeling after the chemical peel, is that expected?",
    "Yes, that works for me, thank you.",
    "No, I have never had any injections before.",
    "My number is five five five, two one three, four four zero nine.",
)

VOICES: tuple[str, ...] = ("piper", "en-us", "en-gb", "en-us+f3")
"""`piper` is the bundled Piper voice (natural prosody, drawn at random on each synthesis); the
others are espeak-ng voices (robotic, a hard case for a small Whisper). `telephone_speech` also
takes `piper-fixed`: Piper without its sampling noise, the same audio every run."""

_piper_voice = None


def _piper(text: str, out: Path, fixed: bool = False) -> None:
    """The bundled Piper voice into a WAV. `fixed`: without Piper's sampling noise, so the same
    text gives the same audio on every run (a test whose flow rests on what Whisper hears)."""
    global _piper_voice
    if _piper_voice is None:
        from piper import PiperVoice

        from appliance.config import Settings
        from appliance.models.resolver import resolve_all

        _piper_voice = PiperVoice.load(str(resolve_all(Settings(), roles=("tts",))["tts"].path))
    from piper import SynthesisConfig

    config = SynthesisConfig(noise_scale=0.0, noise_w_scale=0.0) if fixed else None
    with wave.open(str(out), "wb") as w:
        _piper_voice.synthesize_wav(text, w, syn_config=config)


@dataclass(frozen=True)
class Utterance:
    text: str
    voice: str
    path: Path  # 8 kHz 16-bit mono WAV after the µ-law round trip

    def pcm(self) -> np.ndarray:
        return read_wav(self.path)[0]


def read_wav(path: Path) -> tuple[np.ndarray, int]:
    with wave.open(str(path), "rb") as w:
        assert w.getsampwidth() == 2 and w.getnchannels() == 1, path
        return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").copy(), w.getframerate()


def write_wav(path: Path, pcm: np.ndarray, rate: int) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.astype("<i2").tobytes())


def telephone_speech(text: str, out: Path, voice: str = "en-us", rate_wpm: int = 165) -> Path:
    """Speak `text` (Piper or an espeak-ng voice) and pass it through an 8 kHz µ-law round trip."""
    raw = out.with_suffix(".raw.wav")
    ulaw = out.with_suffix(".ulaw.wav")
    if voice in ("piper", "piper-fixed"):
        _piper(text, raw, fixed=voice == "piper-fixed")
    else:
        subprocess.run(["espeak-ng", "-v", voice, "-s", str(rate_wpm), "-w", str(raw), text], check=True)
    subprocess.run(["sox", "-V1", str(raw), "-r", "8000", "-c", "1", "-e", "u-law", str(ulaw)], check=True)
    subprocess.run(["sox", "-V1", str(ulaw), "-e", "signed-integer", "-b", "16", str(out)], check=True)
    raw.unlink()
    ulaw.unlink()
    return out


def build(folder: Path, voices: tuple[str, ...] = VOICES, limit: int | None = None) -> list[Utterance]:
    """The corpus (the first `limit` utterances per voice, if given), synthesised once into `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    items = []
    for voice in voices:
        for i, text in enumerate(UTTERANCES[:limit]):
            path = folder / f"u{i:02d}-{voice.replace('+', '_')}.wav"
            if not path.exists():
                telephone_speech(text, path, voice)
            items.append(Utterance(text, voice, path))
    return items
