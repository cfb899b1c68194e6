"""Load the local inference engines from verified model files.

Each loader is blocking and runs in a worker thread (never on the event loop). The engines
are shared by all calls; per-call state (VAD recurrent state, LLM sequence) lives elsewhere.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from appliance.config import Settings
from appliance.errors import ModelError
from appliance.models.resolver import ResolvedModel


def _onnx_session(path: str) -> Any:
    import onnxruntime

    opts = onnxruntime.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    return onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"], sess_options=opts)


def load_vad(model: ResolvedModel, settings: Settings) -> Any:
    return _onnx_session(str(model.path))


def load_turn(model: ResolvedModel, settings: Settings) -> Any:
    return _onnx_session(str(model.path))


def load_asr(model: ResolvedModel, settings: Settings) -> Any:
    import numpy as np
    from faster_whisper import WhisperModel

    asr = WhisperModel(str(model.path), device="cpu", compute_type="int8", cpu_threads=settings.models.asr_threads)
    # One pass now, so the first caller does not pay for page-in and allocator warm-up.
    segments, _ = asr.transcribe(np.zeros(16000, dtype=np.float32), language="en", beam_size=1,
                                 without_timestamps=True)
    list(segments)
    return asr


def load_llm(model: ResolvedModel, settings: Settings) -> Any:
    try:
        from llama_cpp import Llama
    except ImportError as e:  # pragma: no cover - depends on the install
        raise ModelError("llama-cpp-python is not installed", fix="run `make run` to install it") from e
    llm = Llama(
        model_path=str(model.path),
        n_ctx=settings.models.llm_context,
        n_threads=settings.models.llm_threads,
        verbose=False,
    )
    llm.eval(llm.tokenize(b"Hello", add_bos=True))  # warm-up: page the weights in
    llm.reset()  # type: ignore[no-untyped-call]  # llama-cpp-python's Llama.reset is unannotated
    return llm


def load_tts(model: ResolvedModel, settings: Settings) -> Any:
    from piper import PiperVoice

    voice = PiperVoice.load(str(model.path))
    list(voice.synthesize("Ready."))  # warm-up
    return voice


LOADERS: dict[str, Callable[[ResolvedModel, Settings], Any]] = {
    "vad": load_vad,
    "turn": load_turn,
    "asr": load_asr,
    "llm": load_llm,
    "tts": load_tts,
}


# Worker processes when models are isolated (`[models] isolation = "process"`): the speech
# models share one, the language model (the largest native code, grammar decoding) has its own.
WORKER_GROUPS: dict[str, tuple[str, ...]] = {"speech": ("vad", "turn", "asr", "tts"), "llm": ("llm",)}


@dataclass
class Engines:
    """The loaded engines by role (in process, or proxies to worker processes), and the
    verified models they came from."""

    models: dict[str, ResolvedModel]
    loaded: dict[str, Any]
    workers: list[Any] = field(default_factory=list)

    def __getitem__(self, role: str) -> Any:
        return self.loaded[role]

    def close(self) -> None:
        for worker in self.workers:
            worker.close()


def start_worker(group: str, models: dict[str, ResolvedModel], settings: Settings) -> tuple[Any, dict[str, Any]]:
    """Start one group's worker (blocking: loads and self-tests its models) and its proxies."""
    from appliance.inference.client import ModelWorker
    from appliance.inference.proxies import PROXIES

    roles = tuple(r for r in WORKER_GROUPS[group] if r in models)
    worker = ModelWorker(group, roles, models, settings, selftest=settings.models.selftest)
    worker.start()
    return worker, {role: PROXIES[role](worker, role) for role in roles}
