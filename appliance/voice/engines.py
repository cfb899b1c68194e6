"""Load the local inference engines from verified model files, as a typed `Engines`.

Two layers:
- `LOADERS[role](model, settings)` opens a model file as its third-party object (an
  onnxruntime session, faster-whisper's `WhisperModel`, `MoonshineModel`, `llama_cpp.Llama`,
  `PiperVoice`); a worker process (`appliance.inference.server`) serves these;
- `WRAPPERS[role](raw, settings)` makes the role's engine (`appliance.voice.interfaces`) over
  such an object or its worker proxy: `SileroVad`, `SmartTurn`, `WhisperTranscriber`,
  `MoonshineTranscriber` (the second listen's recogniser), `PiperSynthesizer`, `LlamaLanguageModel`.
  Each wrapper is made once per loaded model and holds that model's lock, caches and warm
  prompts; nothing is stored in third-party objects.

`Engines` holds one engine per role. `load_engines` builds it in this process;
`appliance.inference.workers.start_worker` builds a group's engines over a worker process. A test or a site passes any
objects that satisfy the protocols (`Engines(vad=..., ...)` or `Engines.of(parts)`).
Loading is blocking and runs in a worker thread (never on the event loop). The engines are
shared by all calls; per-call state (VAD recurrent state) lives in what they hand out per call.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from appliance.config import Role, Settings
from appliance.errors import ModelError
from appliance.models.resolver import ROLES, ResolvedModel
from appliance.voice.interfaces import LanguageModel, Synthesizer, Transcriber, TurnDetector, VoiceActivity

if TYPE_CHECKING:
    from appliance.inference.client import ModelWorker


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


def load_relisten(model: ResolvedModel, settings: Settings) -> Any:
    import numpy as np

    from appliance.voice.moonshine import MoonshineModel

    relisten = MoonshineModel(model.path, threads=settings.models.asr_threads)
    relisten.generate(np.zeros(16000, dtype=np.float32))  # warm-up, as Whisper's
    return relisten


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
    "relisten": load_relisten,
    "llm": load_llm,
    "tts": load_tts,
}


def _vad(raw: Any, settings: Settings) -> VoiceActivity:
    from appliance.voice.vad import SileroVad

    return SileroVad(raw)


def _turn(raw: Any, settings: Settings) -> TurnDetector:
    from appliance.voice.turn import SmartTurn

    return SmartTurn(raw)


def _asr(raw: Any, settings: Settings) -> Transcriber:
    from appliance.voice.asr import WhisperTranscriber

    return WhisperTranscriber(raw, settings.voice.vocabulary)


def _relisten(raw: Any, settings: Settings) -> Transcriber:
    from appliance.voice.moonshine import MoonshineTranscriber

    return MoonshineTranscriber(raw)


def _tts(raw: Any, settings: Settings) -> Synthesizer:
    from appliance.voice.tts import PiperSynthesizer

    return PiperSynthesizer(raw)


def _llm(raw: Any, settings: Settings) -> LanguageModel:
    from appliance.voice.llm import LlamaLanguageModel

    return LlamaLanguageModel(raw)


WRAPPERS: dict[str, Callable[[Any, Settings], object]] = {
    "vad": _vad, "turn": _turn, "asr": _asr, "relisten": _relisten, "tts": _tts, "llm": _llm,
}


def site_engine(role: Role, settings: Settings) -> object | None:
    """The site's own engine for `role` (`[models] engines`), built by its factory (blocking);
    None when the role uses the bundled model. A factory that cannot be imported or fails names
    itself in a ModelError; `Engines.of` then checks the object against the role's protocol."""
    ref = settings.models.engines.get(role)
    if ref is None:
        return None
    module, _, name = ref.partition(":")
    try:
        factory: Any = importlib.import_module(module)
        for part in name.split("."):
            factory = getattr(factory, part)
        engine: object = factory(settings)
        return engine
    except Exception as e:
        raise ModelError(f"[models] engines.{role} = {ref!r} could not be built: {type(e).__name__}: {e}",
                         fix="name an importable factory that takes the Settings, or remove the line") from e


def load_engine(role: str, model: ResolvedModel, settings: Settings) -> object:
    """Load one role's model in this process and wrap it as its engine (blocking)."""
    return WRAPPERS[role](LOADERS[role](model, settings), settings)


# Worker processes when models are isolated (`[models] isolation = "process"`): the speech
# models share one, the language model (the largest native code, grammar decoding) has its own.
WORKER_GROUPS: dict[str, tuple[str, ...]] = {"speech": ("vad", "turn", "asr", "relisten", "tts"), "llm": ("llm",)}


@dataclass
class Engines:
    """One engine per role (in process, or over worker processes), the verified models they
    came from, and the worker processes to close with them."""

    vad: VoiceActivity
    turn: TurnDetector
    asr: Transcriber
    relisten: Transcriber  # the second listen's recogniser
    tts: Synthesizer
    llm: LanguageModel
    models: dict[str, ResolvedModel] = field(default_factory=dict)
    workers: list[ModelWorker] = field(default_factory=list)

    @classmethod
    def of(cls, parts: Mapping[str, object], models: Mapping[str, ResolvedModel] | None = None,
           workers: list[ModelWorker] | None = None) -> Engines:
        """`Engines` from engines by role, each checked against its role's protocol."""
        missing = [r for r in ROLES if r not in parts]
        if missing:
            raise ModelError(f"no engine for {', '.join(missing)}", fix="load every role's model")
        vad, turn, asr, relisten, tts, llm = (parts[r] for r in ("vad", "turn", "asr", "relisten", "tts", "llm"))
        if not (isinstance(vad, VoiceActivity) and isinstance(turn, TurnDetector) and isinstance(asr, Transcriber)
                and isinstance(relisten, Transcriber) and isinstance(tts, Synthesizer)
                and isinstance(llm, LanguageModel)):
            wrong = [r for r, kind in (("vad", VoiceActivity), ("turn", TurnDetector), ("asr", Transcriber),
                                       ("relisten", Transcriber), ("tts", Synthesizer), ("llm", LanguageModel))
                     if not isinstance(parts[r], kind)]
            raise ModelError(f"the engine for {', '.join(wrong)} lacks its role's methods",
                             fix="see appliance.voice.interfaces")
        return cls(vad=vad, turn=turn, asr=asr, relisten=relisten, tts=tts, llm=llm, models=dict(models or {}),
                   workers=list(workers or []))

    def close(self) -> None:
        close_workers(self.workers)


def close_workers(workers: list[ModelWorker]) -> None:
    for worker in workers:
        worker.close()


def load_engines(models: Mapping[str, ResolvedModel], settings: Settings) -> Engines:
    """Every role's engine in this process, one after another (blocking: tools and tests); a
    role with a site engine (`[models] engines`) gets that instead of its model."""
    parts: dict[str, object] = {}
    for role in ROLES:
        mine = site_engine(role, settings)
        parts[role] = mine if mine is not None else load_engine(role, models[role], settings)
    return Engines.of(parts, models)
