"""Stand-ins, in the service process, for engines that run in a worker process.

Each proxy has the interface of the third-party object it stands for (onnxruntime's `run`,
faster-whisper's `transcribe`, Piper's `synthesize`), so the same wrappers (`SileroVad`,
`SmartTurn`, `WhisperTranscriber`, `PiperSynthesizer`) run over it in the service process;
the language model's proxy is itself the `LanguageModel` (`RemoteLanguageModel`). `remote_engine`
builds a role's engine over a worker, so the voice pipeline, the pager and the tools work
unchanged on either side of the process line.
A request the worker could not answer raises `ModelUnavailableError` after telling the call
it belonged to (`health.report_failure`).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from appliance.config import Settings
from appliance.inference.client import ModelWorker
from appliance.voice.health import ModelUnavailableError, report_failure
from appliance.voice.llm import AsyncLanguageModel, CallStats


def _ask(worker: ModelWorker, role: str, method: str, *args: Any) -> Any:
    """One request; a worker that could not answer is reported to the call it belonged to."""
    try:
        return worker.request(role, method, *args)
    except ModelUnavailableError as e:
        report_failure(e)
        raise


class _Proxy:
    def __init__(self, worker: ModelWorker, role: str) -> None:
        self.worker = worker
        self.role = role

    def _request(self, method: str, *args: Any) -> Any:
        return _ask(self.worker, self.role, method, *args)


class RemoteOnnx(_Proxy):
    """Silero VAD and Smart Turn: `run(output_names, feeds)` as on an onnxruntime session."""

    def run(self, _output_names: Any, feeds: dict[str, Any]) -> Any:
        return self._request("run", feeds)


@dataclass(frozen=True)
class Segment:
    text: str
    no_speech_prob: float
    avg_logprob: float


class RemoteWhisper(_Proxy):
    def transcribe(self, audio: Any, **options: Any) -> tuple[list[Segment], None]:
        return [Segment(*s) for s in self._request("transcribe", audio, options)], None


class RemoteMoonshine(_Proxy):
    def transcribe(self, audio: Any) -> tuple[str, float | None]:
        text, mean = self._request("transcribe", audio)
        return text, mean


@dataclass(frozen=True)
class AudioChunk:
    sample_rate: int
    audio_float_array: Any


class RemotePiper(_Proxy):
    def synthesize(self, text: str) -> Iterator[AudioChunk]:
        rate, audio = self._request("synthesize", text)
        if len(audio):
            yield AudioChunk(rate, audio)


class RemoteLanguageModel(AsyncLanguageModel):
    """The language model in its worker, with the in-process model's async API and `stats`."""

    def __init__(self, worker: ModelWorker) -> None:
        self.worker = worker
        self.stats = CallStats()

    def warm_sync(self, system: str) -> None:
        _ask(self.worker, "llm", "warm", system)

    def _json_sync(self, system: str, user: str, schema: dict[str, Any], max_tokens: int) -> tuple[str, float]:
        text, first, stats = _ask(self.worker, "llm", "json", system, user, schema, max_tokens)
        self.stats = CallStats(**stats)
        return text, first

    def _stream_sync(self, system: str, user: str, max_tokens: int, cancel: threading.Event) -> Iterator[str]:
        try:
            for kind, value in self.worker.stream("llm", "stream", system, user, max_tokens, cancel=cancel):
                if kind == "chunk":
                    yield value
                elif kind == "end":
                    self.stats = CallStats(**value)
        except ModelUnavailableError as e:
            report_failure(e)
            raise


def remote_engine(worker: ModelWorker, role: str, settings: Settings) -> object:
    """The engine of `role` (its `appliance.voice.interfaces` protocol) served by `worker`."""
    from appliance.voice.asr import WhisperTranscriber
    from appliance.voice.moonshine import MoonshineTranscriber
    from appliance.voice.tts import PiperSynthesizer
    from appliance.voice.turn import SmartTurn
    from appliance.voice.vad import SileroVad

    if role == "vad":
        return SileroVad(RemoteOnnx(worker, role))
    if role == "turn":
        return SmartTurn(RemoteOnnx(worker, role))
    if role == "asr":
        return WhisperTranscriber(RemoteWhisper(worker, role), settings.voice.vocabulary)
    if role == "relisten":
        return MoonshineTranscriber(RemoteMoonshine(worker, role))
    if role == "tts":
        return PiperSynthesizer(RemotePiper(worker, role))
    if role == "llm":
        return RemoteLanguageModel(worker)
    raise ValueError(f"no remote engine for role {role!r}")


# The raw stand-ins for the speech models' third-party objects (tools and tests use them bare).
PROXIES: dict[str, type[_Proxy]] = {"vad": RemoteOnnx, "turn": RemoteOnnx, "asr": RemoteWhisper,
                                     "relisten": RemoteMoonshine, "tts": RemotePiper}
