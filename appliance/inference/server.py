"""A model worker process: loads its roles' models, self-tests them, then serves requests.

Started by `appliance.inference.client.ModelWorker` as `python -m appliance.inference.server FD`,
FD being its end of a socket pair carrying pickled messages (`multiprocessing.connection`):

    parent → worker   ("init", Init)                  once, first
                      (id, role, method, args)        a request
                      (0, "cancel", id)               stop a stream early
    worker → parent   ("stage", role, "load"|"test")  before each model is loaded / tested,
                                                      so a crash names the model it hit
                      ("ready", {"pid": …, "system": …})
                      (id, "ok", value) | (id, "err", (code, message))
                      (id, "chunk", value) … (id, "end", stats)

Each role has its own thread and queue, so speech recognition, synthesis and the language
model of different calls run side by side as they did in one process. The worker exits when
the parent's end closes (the service stopped or died).
"""

from __future__ import annotations

import os
import queue
import signal
import sys
import threading
from dataclasses import asdict, dataclass, field
from multiprocessing.connection import Connection
from typing import Any

from appliance.inference import faults

_STOP = object()


@dataclass
class Init:
    roles: tuple[str, ...]
    models: dict[str, Any]  # role -> ResolvedModel
    settings: Any  # appliance.config.Settings
    selftest: bool = True
    env: dict[str, str] = field(default_factory=dict)


class Worker:
    def __init__(self, conn: Connection, init: Init) -> None:
        self.conn = conn
        self.init = init
        self.raw: dict[str, Any] = {}  # role -> the loaded third-party object (LOADERS), served as is
        self.lm: Any = None
        self._send_lock = threading.Lock()
        self._queues: dict[str, queue.Queue[Any]] = {}
        self._cancels: dict[int, threading.Event] = {}

    def send(self, msg: tuple[Any, ...]) -> None:
        with self._send_lock:
            self.conn.send(msg)

    # ---- start-up ----

    def load(self) -> None:
        from appliance.voice.engines import LOADERS

        for role in self.init.roles:
            self.send(("stage", role, "load"))
            faults.maybe_crash(role, "load")
            self.raw[role] = LOADERS[role](self.init.models[role], self.init.settings)
        if "llm" in self.raw:
            from appliance.voice.llm import LlamaLanguageModel

            self.lm = LlamaLanguageModel(self.raw["llm"])
        if self.init.selftest:
            from appliance.inference.selftest import exercise

            for role in self.init.roles:
                self.send(("stage", role, "test"))
                faults.maybe_crash(role, "selftest")
                exercise(role, self.raw[role], self.lm)

    # ---- requests ----

    def serve(self) -> None:
        for role in self.init.roles:
            q: queue.Queue[Any] = queue.Queue()
            self._queues[role] = q
            threading.Thread(target=self._role_loop, args=(role, q), name=f"model-{role}", daemon=True).start()
        while True:
            try:
                msg = self.conn.recv()
            except (EOFError, OSError):
                return
            if msg[1] == "cancel":
                ev = self._cancels.get(msg[2])
                if ev is not None:
                    ev.set()
                continue
            req_id, role, _method, _args = msg
            role_queue = self._queues.get(role)
            if role_queue is None:
                self.send((req_id, "err", ("model-role", f"this worker does not serve {role!r}")))
                continue
            if _method == "stream":
                self._cancels[req_id] = threading.Event()
            role_queue.put(msg)

    def _role_loop(self, role: str, q: queue.Queue[Any]) -> None:
        while True:
            req_id, _role, method, args = q.get()
            try:
                faults.maybe_crash(role, "call")
                if method == "stream":
                    self._stream(req_id, *args)
                    continue
                value = getattr(self, f"_{role}_{method}")(*args)
                self.send((req_id, "ok", value))
            except Exception as e:  # noqa: BLE001 - the error goes back to the caller, the worker lives on
                self.send((req_id, "err", (getattr(e, "code", type(e).__name__), str(e)[:500])))

    def _vad_run(self, feeds: dict[str, Any]) -> Any:
        return self.raw["vad"].run(None, feeds)

    def _turn_run(self, feeds: dict[str, Any]) -> Any:
        return self.raw["turn"].run(None, feeds)

    def _asr_transcribe(self, audio: Any, options: dict[str, Any]) -> list[tuple[str, float, float]]:
        segments, _info = self.raw["asr"].transcribe(audio, **options)
        return [(s.text, s.no_speech_prob, s.avg_logprob) for s in segments]

    def _relisten_transcribe(self, audio: Any) -> tuple[str, float | None]:
        result: tuple[str, float | None] = self.raw["relisten"].transcribe(audio)
        return result

    def _tts_synthesize(self, text: str) -> tuple[int, Any]:
        import numpy as np

        chunks = list(self.raw["tts"].synthesize(text))
        if not chunks:
            return 22050, np.zeros(0, dtype=np.float32)
        return chunks[0].sample_rate, np.concatenate([c.audio_float_array for c in chunks]).astype(np.float32)

    def _llm_warm(self, system: str) -> None:
        self.lm.warm_sync(system)

    def _llm_json(self, system: str, user: str, schema: dict[str, Any], max_tokens: int) -> tuple[str, float, dict[str, Any]]:
        text, first = self.lm._json_sync(system, user, schema, max_tokens)
        return text, first, asdict(self.lm.stats)

    def _stream(self, req_id: int, system: str, user: str, max_tokens: int) -> None:
        cancel = self._cancels.setdefault(req_id, threading.Event())
        try:
            for piece in self.lm._stream_sync(system, user, max_tokens, cancel):
                self.send((req_id, "chunk", piece))
            self.send((req_id, "end", asdict(self.lm.stats)))
        finally:
            self._cancels.pop(req_id, None)


def main(argv: list[str]) -> int:
    # The service owns shutdown: Ctrl-C at a terminal or systemd's SIGTERM reach the whole process
    # group, and a worker that died of them would be reported, and restarted, as a crash. It ends
    # when the service closes its end of the pipe (or dies).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    conn = Connection(int(argv[1]))
    try:
        tag, init = conn.recv()
    except (EOFError, OSError):
        return 1
    assert tag == "init"
    os.environ.update(init.env)
    from appliance.logs import configure

    configure(init.settings.logging.level, init.settings.logging.format, stream=sys.stderr)
    worker = Worker(conn, init)
    faults.install_signal_trigger()
    try:
        worker.load()
    except Exception as e:  # noqa: BLE001 - reported to the parent, which names the model
        worker.send(("failed", type(e).__name__, str(e)[:2000], getattr(e, "fix", None)))
        return 2
    worker.send(("ready", {"pid": os.getpid(), "system": system_info(worker)}))
    worker.serve()
    return 0


def system_info(worker: Worker) -> str:
    if "llm" not in worker.raw:
        return ""
    try:
        import llama_cpp

        info: bytes = llama_cpp.llama_print_system_info()  # a ctypes binding: typed Any
        return info.decode("utf-8", "replace").strip()
    except Exception:  # noqa: BLE001 - informational only
        return ""


if __name__ == "__main__":
    code = main(sys.argv)
    sys.stdout.flush()
    os._exit(code)  # no interpreter teardown of native libraries' threads
