"""The service's side of a model worker: spawn, supervise, restart, and route requests.

`ModelWorker.request` and `.stream` are blocking (call them from threads, as the engines'
users already do). A request that the worker does not answer within its timeout gets the
worker killed; a worker that dies fails every request in flight with `ModelUnavailableError`
and is started again with back-off (0.5 s doubling to 30 s), self-test included, while calls
carry on. A native crash during start-up is reported as a `ModelError` naming the model it
hit, the CPU features seen and the fix, instead of killing the service.
"""

from __future__ import annotations

import itertools
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from multiprocessing.connection import Connection
from typing import Any

from appliance.errors import ModelError
from appliance.inference.server import Init
from appliance.logs import get_logger
from appliance.voice.health import ModelUnavailableError

log = get_logger(__name__)

BACKOFF_START_S = 0.5
BACKOFF_MAX_S = 30.0
START_TIMEOUT_S = 300.0
_FEATURES = ("avx", "avx2", "fma", "f16c", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_int8", "amx_bf16")


def cpu_features() -> str:
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("flags"):
                    have = set(line.split(":", 1)[1].split())
                    return " ".join(x for x in _FEATURES if x in have) or "none of " + " ".join(_FEATURES)
    except OSError:
        pass
    return "unknown"


def _death(code: int | None) -> str:
    if code is None:
        return "still running"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit status {code}"


class _Call:
    def __init__(self, role: str) -> None:
        self.role = role
        self.q: queue.Queue[tuple[str, Any]] = queue.Queue()


class ModelWorker:
    """One supervised worker process serving `roles`."""

    def __init__(self, name: str, roles: tuple[str, ...], models: dict[str, Any], settings: Any, *,
                 selftest: bool = True, env: dict[str, str] | None = None) -> None:
        self.name = name
        self.roles = roles
        self._init = Init(roles=roles, models={r: models[r] for r in roles}, settings=settings,
                          selftest=selftest, env=dict(env or {}))
        self.timeout_s = float(settings.models.worker_timeout_s)
        self._proc: subprocess.Popen[bytes] | None = None
        self._conn: Connection | None = None
        self._send_lock = threading.Lock()
        self._pending: dict[int, _Call] = {}
        self._ids = itertools.count(1)
        self._ready = threading.Event()
        self._closed = False
        self._generation = 0
        self.restarts = 0
        self.pid: int | None = None
        self.system_info = ""
        self.on_restart: list[Callable[[ModelWorker], None]] = []

    # ---- life cycle ----

    def start(self) -> None:
        """Spawn the worker and wait until its models are loaded and self-tested (blocking)."""
        self._spawn_and_wait(START_TIMEOUT_S)

    def _spawn_and_wait(self, timeout: float) -> None:
        parent, child = socket.socketpair()
        env = {**os.environ, **self._init.env}
        proc = subprocess.Popen([sys.executable, "-m", "appliance.inference.server", str(child.fileno())],
                                pass_fds=(child.fileno(),), env=env, stdin=subprocess.DEVNULL)
        child.close()
        conn = Connection(parent.detach())
        conn.send(("init", self._init))
        stage = ("", "start")
        deadline = time.monotonic() + timeout
        while True:
            if not conn.poll(max(0.0, min(1.0, deadline - time.monotonic()))):
                if proc.poll() is not None or time.monotonic() >= deadline:
                    break
                continue
            try:
                msg = conn.recv()
            except (EOFError, OSError):
                break
            if msg[0] == "stage":
                stage = (msg[1], msg[2])
            elif msg[0] == "ready":
                self.pid, self.system_info = msg[1]["pid"], msg[1]["system"]
                self._proc, self._conn = proc, conn
                self._generation += 1
                threading.Thread(target=self._reader, args=(conn, proc, self._generation),
                                 name=f"worker-{self.name}", daemon=True).start()
                self._ready.set()
                log.info("model.worker_ready", worker=self.name, pid=self.pid, roles=list(self.roles))
                return
            elif msg[0] == "failed":
                proc.wait(timeout=10)
                conn.close()
                role = stage[0] or self.roles[0]
                raise ModelError(self._describe(role, stage[1], f"{msg[1]}: {msg[2]}"), fix=msg[3] or self._fix(role),
                                 code="model-load-failed" if stage[1] == "load" else "model-selftest-failed")
        if proc.poll() is None:
            proc.kill()
        code = proc.wait(timeout=10)
        conn.close()
        role = stage[0] or self.roles[0]
        raise ModelError(self._describe(role, stage[1], _death(code) if code is not None else "no answer"),
                         fix=self._fix(role), code="model-crashed")

    def _describe(self, role: str, stage: str, what: str) -> str:
        model = self._init.models.get(role)
        name = model.spec.name if model is not None else role
        doing = {"load": "loading", "test": "self-testing", "start": "starting"}.get(stage, stage)
        return (f"the {role} model ({name}) failed while {doing} in its worker process: {what}; "
                f"CPU features seen: {cpu_features()}")

    @staticmethod
    def _fix(role: str) -> str:
        if role == "llm":
            return ("rebuild llama-cpp-python for this box's CPU baseline: `make clean && make run` "
                    "(CPU_BASELINE=x86-64-v2 for CPUs without AVX2; see docs/installers.md), then `appliance doctor`")
        return "run `appliance models verify`, reinstall with `make clean && make run`, then `appliance doctor`"

    def close(self) -> None:
        self._closed = True
        self._ready.clear()
        conn, proc = self._conn, self._proc
        if conn is not None:
            conn.close()
        if proc is not None and proc.poll() is None:
            try:
                proc.wait(timeout=3)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        self._fail_all("the model worker was stopped")

    def kill(self) -> None:
        """Kill the worker process now (a hung request); the supervisor restarts it."""
        proc = self._proc
        if proc is not None and proc.poll() is None:
            self._ready.clear()  # no new request goes to it; the reader restarts it
            proc.kill()

    @property
    def alive(self) -> bool:
        return self._ready.is_set()

    # ---- supervision ----

    def _reader(self, conn: Connection, proc: subprocess.Popen[bytes], generation: int) -> None:
        while True:
            try:
                msg = conn.recv()
            except (EOFError, OSError):
                break
            call = self._pending.get(msg[0])
            if call is not None:
                call.q.put((msg[1], msg[2]))
        if generation != self._generation or self._closed:
            return
        self._ready.clear()
        try:
            code = proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            code = proc.wait(timeout=5)
        log.error("model.worker_died", worker=self.name, pid=proc.pid, how=_death(code), roles=list(self.roles))
        self._fail_all(f"the {self.name} model worker died ({_death(code)})")
        threading.Thread(target=self._restart, name=f"restart-{self.name}", daemon=True).start()

    def _fail_all(self, why: str) -> None:
        for call in list(self._pending.values()):
            call.q.put(("dead", why))

    def _restart(self) -> None:
        delay = BACKOFF_START_S
        while not self._closed:
            time.sleep(delay)
            if self._closed:
                return
            try:
                self._spawn_and_wait(START_TIMEOUT_S)
            except ModelError as e:
                log.error("model.worker_restart_failed", worker=self.name, error=e.message, retry_s=delay)
                delay = min(BACKOFF_MAX_S, delay * 2)
                continue
            self.restarts += 1
            log.info("model.worker_restarted", worker=self.name, pid=self.pid, restarts=self.restarts)
            for hook in self.on_restart:
                hook(self)
            return

    # ---- requests (blocking: worker threads) ----

    def _send(self, role: str, msg: tuple[Any, ...]) -> None:
        conn = self._conn
        if not self._ready.is_set() or conn is None:
            raise ModelUnavailableError(f"the {role} model is restarting", role=role)
        try:
            with self._send_lock:
                conn.send(msg)
        except (OSError, ValueError) as e:
            raise ModelUnavailableError(f"the {role} model's worker is gone: {e}", role=role) from e

    def request(self, role: str, method: str, *args: Any, timeout: float | None = None) -> Any:
        req_id = next(self._ids)
        call = self._pending[req_id] = _Call(role)
        try:
            self._send(role, (req_id, role, method, args))
            kind, value = self._wait(call, timeout)
            if kind == "ok":
                return value
            raise _remote_error(role, value)
        finally:
            self._pending.pop(req_id, None)

    def stream(self, role: str, method: str, *args: Any, cancel: threading.Event | None = None,
               timeout: float | None = None) -> Iterator[tuple[str, Any]]:
        """Yield ("chunk", value) pieces, then ("end", value)."""
        req_id = next(self._ids)
        call = self._pending[req_id] = _Call(role)
        cancelled = False
        try:
            self._send(role, (req_id, role, method, args))
            while True:
                if cancel is not None and cancel.is_set() and not cancelled:
                    cancelled = True
                    try:
                        self._send(role, (0, "cancel", req_id))
                    except ModelUnavailableError:
                        return
                kind, value = self._wait(call, timeout)
                if kind == "err":
                    raise _remote_error(role, value)
                yield kind, value
                if kind == "end":
                    return
        finally:
            self._pending.pop(req_id, None)

    def _wait(self, call: _Call, timeout: float | None) -> tuple[str, Any]:
        try:
            kind, value = call.q.get(timeout=timeout or self.timeout_s)
        except queue.Empty:
            log.error("model.worker_timeout", worker=self.name, role=call.role, timeout_s=timeout or self.timeout_s)
            self.kill()
            raise ModelUnavailableError(f"the {call.role} model did not answer in {timeout or self.timeout_s:.0f} s",
                                        role=call.role) from None
        if kind == "dead":
            raise ModelUnavailableError(str(value), role=call.role)
        return kind, value


def _remote_error(role: str, value: tuple[str, str]) -> Exception:
    from appliance.voice.llm import LanguageModelError

    code, message = value
    if role == "llm":
        return LanguageModelError(message, code=code if code.startswith("llm") else "llm-failed")
    return ModelError(f"the {role} model failed: {message}", code="model-failed")
