"""ASR accuracy on telephone-band med-spa speech: WER and product-name accuracy.

Runs the configured ASR model on the generated corpus twice, without and with the clinic
vocabulary prompt, so the effect of the prompt is measured in the same run.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import soxr

from appliance.config import DEFAULT_VOCABULARY
from benchmarks.corpus import VOICES, build
from benchmarks.wer import product_hits, wer

CLINIC_VOCABULARY = DEFAULT_VOCABULARY  # what the appliance prompts Whisper with


def to_asr_input(pcm8k: np.ndarray) -> np.ndarray:
    return soxr.resample(pcm8k.astype(np.float32) / 32768.0, 8000, 16000, quality="HQ")


def transcribe(model: Any, audio16k: np.ndarray, prompt: str | None) -> str:
    segments, _ = model.transcribe(audio16k, language="en", beam_size=1, initial_prompt=prompt,
                                   condition_on_previous_text=False, vad_filter=False)
    return " ".join(s.text.strip() for s in segments).strip()


def run(model: Any, workdir: Path, progress: Any = None, voices: tuple[str, ...] = VOICES,
        limit: int | None = None) -> dict[str, Any]:
    corpus = build(workdir / "corpus", voices, limit)
    results: dict[str, Any] = {"utterances": len(corpus), "conditions": {}}
    for label, prompt in (("no_prompt", None), ("clinic_vocabulary", CLINIC_VOCABULARY)):
        refs, hyps, seconds, voices = [], [], [], []
        wanted = hit = 0
        for u in corpus:
            voices.append(u.voice)
            audio = to_asr_input(u.pcm())
            t0 = time.perf_counter()
            hyp = transcribe(model, audio, prompt)
            seconds.append(time.perf_counter() - t0)
            refs.append(u.text)
            hyps.append(hyp)
            w, h = product_hits(u.text, hyp)
            wanted, hit = wanted + w, hit + h
            if progress:
                progress()
        results["conditions"][label] = {
            "wer": round(wer(refs, hyps), 4),
            "product_name_accuracy": round(hit / max(1, wanted), 4),
            "product_names": wanted,
            "median_asr_s": round(float(np.median(seconds)), 3),
            "wer_by_voice": {
                v: round(wer([r for r, x in zip(refs, voices, strict=True) if x == v],
                             [h for h, x in zip(hyps, voices, strict=True) if x == v]), 4)
                for v in dict.fromkeys(voices)
            },
            "examples": [{"ref": r, "hyp": h} for r, h in list(zip(refs, hyps, strict=True))[:6]],
        }
    return results
