"""What running the models in worker processes costs, measured in one run.

Per model call, the same request in process and through its worker (pickled over a socket
pair): a Silero VAD window (the most frequent call: one per 32 ms of caller audio), a Piper
sentence and a Whisper pass. Reported as medians in microseconds and the added cost, next to
the end-to-end comparison (the appliance with `isolation = "thread"` in the latency calls).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np


def _median_us(fn: Any, n: int) -> float:
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return round(float(np.median(times)) * 1e6, 1)


def measure(vad_calls: int = 400, heavy_calls: int = 8) -> dict[str, Any]:
    from appliance.config import Settings
    from appliance.inference.client import ModelWorker
    from appliance.inference.proxies import PROXIES
    from appliance.models.resolver import resolve_all
    from appliance.voice.engines import LOADERS

    settings = Settings()
    models = resolve_all(settings, ("vad", "asr", "tts"))
    local = {r: LOADERS[r](models[r], settings) for r in ("vad", "asr", "tts")}
    worker = ModelWorker("speech", ("vad", "asr", "tts"), models, settings, selftest=False)
    worker.start()
    try:
        remote = {r: PROXIES[r](worker, r) for r in ("vad", "asr", "tts")}
        feeds = {"input": np.random.default_rng(1).normal(0, 0.05, (1, 288)).astype(np.float32),
                 "state": np.zeros((2, 1, 128), dtype=np.float32), "sr": np.array(8000, dtype=np.int64)}
        audio = np.random.default_rng(2).normal(0, 0.02, 16000 * 3).astype(np.float32)
        opts = {"language": "en", "beam_size": 1, "without_timestamps": True}
        rows = {}
        for name, n, call in (
            ("vad_window", vad_calls, lambda e: e["vad"].run(None, feeds)),
            ("tts_sentence", heavy_calls, lambda e: list(e["tts"].synthesize("Your appointment is on Tuesday."))),
            ("asr_3s", heavy_calls, lambda e: list(e["asr"].transcribe(audio, **opts)[0])),
        ):
            call(local), call(remote)  # warm both
            a = _median_us(lambda c=call: c(local), n)
            b = _median_us(lambda c=call: c(remote), n)
            rows[name] = {"in_process_us": a, "worker_us": b, "added_us": round(b - a, 1), "calls": n}
        return {"per_call": rows}
    finally:
        worker.close()
