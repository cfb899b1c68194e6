"""Whisper's encoder on the audio's own length instead of its 30 s window: faster, and as accurate?

faster-whisper pads every utterance's features to 3000 frames (30 s) before the encoder; on two
cores that encoder pass is most of a transcription (~270 of ~380 ms for a 3 s utterance).
CTranslate2 also encodes shorter inputs. This measures, on the benchmark's telephone corpus
(`benchmarks.corpus`, the clinic vocabulary as the prompt, as the appliance transcribes), the WER,
the product names and the time per utterance with the features padded to 30 s (the appliance's
way) and to the audio's length plus a margin, with a cap on new tokens and no repeated 3-grams
(without them the decoder loops).

    python -m benchmarks.asr_window --out benchmarks/results/asr_window.json
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from appliance.config import DEFAULT_VOCABULARY
from benchmarks.asr_accuracy import to_asr_input
from benchmarks.corpus import VOICES, build
from benchmarks.wer import product_hits, wer

MARGINS: tuple[int | None, ...] = (None, 100, 300)  # feature frames (10 ms) after the audio; None: 30 s


def fitted(pad: Callable[..., Any], margin: int) -> Callable[..., Any]:
    """faster-whisper's `pad_or_trim`, padding to the audio's length + `margin` frames (even)."""
    def fit(array: Any, length: int = 3000, *, axis: int = -1) -> Any:
        n = min(length, array.shape[axis] + margin)
        return pad(array, n + n % 2, axis=axis)
    return fit


def run(model: Any, workdir: Path, voices: tuple[str, ...] = VOICES) -> dict[str, Any]:
    import faster_whisper.transcribe as fwt
    from faster_whisper.audio import pad_or_trim

    corpus = build(workdir / "corpus", voices)
    out: dict[str, Any] = {"utterances": len(corpus), "voices": list(voices), "conditions": {}}
    try:
        for margin in MARGINS:
            fwt.pad_or_trim = pad_or_trim if margin is None else fitted(pad_or_trim, margin)  # type: ignore[assignment]
            refs, hyps, secs, said_by = [], [], [], []
            wanted = hit = 0
            for u in corpus:
                audio = to_asr_input(u.pcm())
                extra = {} if margin is None else {"no_repeat_ngram_size": 3,
                                                   "max_new_tokens": int(audio.size / 16000 * 6) + 8}
                t0 = time.perf_counter()
                segments, _ = model.transcribe(audio, language="en", beam_size=1, best_of=1, temperature=0.0,
                                               initial_prompt=DEFAULT_VOCABULARY, condition_on_previous_text=False,
                                               without_timestamps=True, vad_filter=False, **extra)
                hyps.append(" ".join(s.text.strip() for s in segments).strip())
                secs.append(time.perf_counter() - t0)
                refs.append(u.text)
                said_by.append(u.voice)
                w, h = product_hits(u.text, hyps[-1])
                wanted, hit = wanted + w, hit + h
            out["conditions"]["30 s window" if margin is None else f"audio + {margin * 10} ms"] = {
                "wer": round(wer(refs, hyps), 4), "product_name_accuracy": round(hit / max(1, wanted), 4),
                "median_s": round(float(np.median(secs)), 3), "p90_s": round(float(np.percentile(secs, 90)), 3),
                "wer_by_voice": {v: round(wer([r for r, x in zip(refs, said_by, strict=True) if x == v],
                                              [h for h, x in zip(hyps, said_by, strict=True) if x == v]), 4)
                                 for v in dict.fromkeys(said_by)},
                "examples": [{"said": r, "heard": h} for r, h in list(zip(refs, hyps, strict=True))[:6]],
            }
    finally:
        fwt.pad_or_trim = pad_or_trim  # type: ignore[assignment]
    return out


def main(argv: list[str] | None = None) -> None:  # pragma: no cover - a measuring tool
    from faster_whisper import WhisperModel

    from appliance.config import Settings
    from appliance.models.resolver import resolve_all

    p = argparse.ArgumentParser(prog="python -m benchmarks.asr_window")
    p.add_argument("--out", type=Path, default=Path("benchmarks/results/asr_window.json"))
    p.add_argument("--voices", default=",".join(VOICES))
    a = p.parse_args(argv)
    path = resolve_all(Settings(), ("asr",))["asr"].path
    model = WhisperModel(str(path), device="cpu", compute_type="int8", cpu_threads=2)
    result = run(model, a.out.parent / "tmp", tuple(a.voices.split(",")))
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    for name, c in result["conditions"].items():
        print(f"{name:>18}: WER {c['wer']:.1%}, product names {c['product_name_accuracy']:.0%}, "
              f"median {c['median_s'] * 1000:.0f} ms, p90 {c['p90_s'] * 1000:.0f} ms, by voice {c['wer_by_voice']}")


if __name__ == "__main__":  # pragma: no cover
    main()
