"""Load the local inference engines from verified model files.

Each loader is blocking and runs in a worker thread (never on the event loop). The engines
are shared by all calls; per-call state (VAD recurrent state, LLM sequence) lives elsewhere.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
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
    llm.reset()
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


@dataclass
class Engines:
    """The loaded engines by role, and the verified models they came from."""

    models: dict[str, ResolvedModel]
    loaded: dict[str, Any]

    def __getitem__(self, role: str) -> Any:
        return self.loaded[role]
