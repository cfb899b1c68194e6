"""The systems under test, as processes: the appliance (`appliance run`) and the baseline
(llama-cpp-python's OpenAI server + `python -m benchmarks.baseline`).

Each target reads its JSON event lines (stderr for the appliance, stdout for the baseline),
keeps the rest in a log file under the output folder, and measures its processes with psutil:
CPU seconds (user + system) and resident memory, sampled while calls run.
"""

from __future__ import annotations

import json
import os
import random
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import psutil

from benchmarks.ports import free_port

Event = dict[str, Any]


class TargetFailed(RuntimeError):
    pass


def rtp_range() -> tuple[int, int]:
    base = 40000 + 1000 * random.randrange(0, 20)
    return base, base + 999


def _bench_env() -> dict[str, str]:
    """The appliance's environment for a benchmark: no ambient config, and the demo clinic open
    (the figures do not change with the hour the benchmark runs at: at night the demo pack's
    clock stands at its next opening; see appliance/clinic/clinic_clock.py)."""
    env = {k: v for k, v in os.environ.items() if k != "APPLIANCE_CONFIG"}
    env.setdefault("APPLIANCE_DEMO_CLINIC_TIME", "open")
    return env


class LoggedProcess:
    """A child process whose event stream is parsed as JSON lines; other output goes to `log`."""

    def __init__(self, argv: list[str], log: Path, events_on: str = "stderr", env: dict[str, str] | None = None) -> None:
        self.log = log.open("a", buffering=1)
        self.started = time.monotonic()
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     env=env or _bench_env())
        self.events: list[Event] = []
        self._cond = threading.Condition()
        streams = {"stdout": self.proc.stdout, "stderr": self.proc.stderr}
        self._readers = [threading.Thread(target=self._read, args=(s, name == events_on), daemon=True)
                         for name, s in streams.items()]
        for r in self._readers:
            r.start()

    def _read(self, stream: IO[str] | None, parse: bool) -> None:
        assert stream is not None
        for line in stream:
            self.log.write(line)
            if not parse:
                continue
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if isinstance(event, dict):
                event["_t"] = time.monotonic()
                with self._cond:
                    self.events.append(event)
                    self._cond.notify_all()

    def wait_event(self, name: str, timeout: float, where: Callable[[Event], bool] | None = None,
                   since: int = 0) -> Event:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for e in self.events[since:]:
                    if e.get("event") == name and (where is None or where(e)):
                        return e
                if self.proc.poll() is not None:
                    raise TargetFailed(f"process exited ({self.proc.returncode}) before `{name}`; see {self.log.name}")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TargetFailed(f"no `{name}` within {timeout:.0f} s; see {self.log.name}")
                self._cond.wait(min(left, 0.5))

    def select(self, name: str, where: Callable[[Event], bool] | None = None) -> list[Event]:
        with self._cond:
            return [e for e in self.events if e.get("event") == name and (where is None or where(e))]

    def stop(self, timeout: float = 20.0) -> int | None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        for r in self._readers:
            r.join(timeout=2)
        self.log.close()
        return self.proc.returncode


class Usage:
    """CPU seconds and peak RSS of a set of processes between `start()` and `stop()`."""

    def __init__(self, pids: list[int], interval_s: float = 0.25) -> None:
        self.procs = [psutil.Process(p) for p in pids]
        self.interval_s = interval_s
        self.peak_rss = 0
        self._cpu0 = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _cpu(self) -> float:
        total = 0.0
        for p in self.procs:
            try:
                t = p.cpu_times()
                total += t.user + t.system
            except psutil.Error:
                pass
        return total

    def rss(self) -> int:
        total = 0
        for p in self.procs:
            try:
                total += p.memory_info().rss
            except psutil.Error:
                pass
        return total

    def _sample(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.peak_rss = max(self.peak_rss, self.rss())

    def start(self) -> None:
        self._cpu0 = self._cpu()
        self.peak_rss = self.rss()
        self._stop.clear()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def stop(self) -> dict[str, float]:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=2)
        return {"cpu_s": round(self._cpu() - self._cpu0, 2), "peak_rss_mib": round(self.peak_rss / 2**20, 1)}


class Target:
    name: str
    sip_port: int
    greets: bool
    ready_s: float
    tls: ssl.SSLContext | None = None  # set: call it over SIP/TLS with SRTP (benchmarks.secure_caller)

    def pids(self) -> list[int]:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError


class Appliance(Target):
    """`appliance run` in trunk mode on a free loopback port, with its own data folder.

    `secure`: SIP over TLS and `srtp = "required"`, with a throwaway self-signed certificate pair
    for 127.0.0.1 (`work/tls/`) as its own; trunk mode opens no connection outward, and the pin
    it needs to start (`tls_pbx_sha256`) is that same certificate's fingerprint. The benchmark's
    caller trusts exactly that certificate (`self.tls`)."""

    name = "appliance"
    greets = True

    def __init__(self, work: Path, max_calls: int = 16, isolation: str = "process", secure: bool = False,
                 voice: str = "") -> None:
        if isolation != "process":
            self.name = f"appliance-{isolation}"  # models in the service process: the isolation's cost
        work.mkdir(parents=True, exist_ok=True)
        self.sip_port = free_port()
        lo, hi = rtp_range()
        sip_security = ""
        if secure:
            self.name = "appliance-srtp"
            sip_security = self._secure(work / "tls")
        self.config = work / "appliance.toml"
        self.config.write_text(
            f'[paths]\ndata_dir = "{work / "var"}"\n\n'
            f'[sip]\nmode = "trunk"\nbind_port = {self.sip_port}\nallowed_sources = ["127.0.0.1/32"]\n'
            f"max_calls = {max_calls}\nrtp_port_min = {lo}\nrtp_port_max = {hi}\n{sip_security}\n"
            f'[models]\nisolation = "{isolation}"\n\n'
            f"[console]\nport = {free_port(socket.SOCK_STREAM)}\n\n"
            '[logging]\nlevel = "info"\nformat = "json"\n' + (f"\n[voice]\n{voice}\n" if voice else ""))
        self.process = LoggedProcess([sys.executable, "-m", "appliance", "--config", str(self.config), "run",
                                      "--no-progress"], work / "appliance.log", events_on="stderr")
        ready = self.process.wait_event("appliance.ready", timeout=240)
        self.ready_s = round(ready["_t"] - self.process.started, 2)
        self.ready_internal_ms = ready.get("ms")

    def _secure(self, folder: Path) -> str:
        """Write the certificate pair, set `self.tls` to a context trusting it; the [sip] lines."""
        from appliance.setup.tls import write_self_signed
        from appliance.telephony.siptls import fingerprint
        from benchmarks.secure_caller import client_context

        cert, key = folder / "sip.crt", folder / "sip.key"
        write_self_signed(cert, key, ["127.0.0.1", "localhost"], "bench")
        pin = fingerprint(ssl.PEM_cert_to_DER_cert(cert.read_text()))
        self.tls = client_context(cert)
        return (f'transport = "tls"\ntls_cert = "{cert}"\ntls_key = "{key}"\ntls_pbx_sha256 = "{pin}"\n'
                'srtp = "required"\n')

    @property
    def silence_ms(self) -> int:
        from appliance.config import load_settings

        return load_settings(self.config).voice.silence_ms

    def turn_metrics(self, call_id: str) -> list[Event]:
        rows = self.process.select("voice.turn_metrics", lambda e: e.get("call_id") == call_id)
        return sorted(rows, key=lambda e: e.get("turn", 0))

    def pids(self) -> list[int]:
        """The service and its model worker processes."""
        import psutil

        try:
            children = [c.pid for c in psutil.Process(self.process.proc.pid).children(recursive=True)]
        except psutil.Error:
            children = []
        return [self.process.proc.pid, *children]

    def stop(self) -> None:
        self.process.stop()


class Baseline(Target):
    """llama-cpp-python's OpenAI-compatible server with the bundled GGUF, and the stock pipeline."""

    name = "baseline"
    greets = False

    def __init__(self, work: Path, threads: int = 2) -> None:
        from appliance.config import Settings
        from appliance.models.resolver import resolve_all

        work.mkdir(parents=True, exist_ok=True)
        gguf = resolve_all(Settings(), ("llm",))["llm"].path
        http = free_port(socket.SOCK_STREAM)
        t0 = time.monotonic()
        self.llm = LoggedProcess([sys.executable, "-m", "llama_cpp.server", "--model", str(gguf), "--host", "127.0.0.1",
                                  "--port", str(http), "--n_ctx", "2048", "--n_threads", str(threads),
                                  "--model_alias", "local", "--verbose", "False"],
                                 work / "llama-server.log", events_on="none")
        self._wait_http(f"http://127.0.0.1:{http}/v1/models", timeout=120)
        self.sip_port = free_port()
        lo, hi = rtp_range()
        self.pipeline = LoggedProcess([sys.executable, "-m", "benchmarks.baseline", "--port", str(self.sip_port),
                                       "--llm-url", f"http://127.0.0.1:{http}/v1", "--rtp-min", str(lo),
                                       "--rtp-max", str(hi)], work / "baseline.log", events_on="stdout")
        ready = self.pipeline.wait_event("baseline.ready", timeout=240)
        self.ready_s = round(ready["_t"] - t0, 2)

    def _wait_http(self, url: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.llm.proc.poll() is not None:
                raise TargetFailed(f"llama-cpp-python server exited ({self.llm.proc.returncode}); see {self.llm.log.name}")
            try:
                with urllib.request.urlopen(url, timeout=2) as r:  # loopback only
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.25)
        raise TargetFailed(f"llama-cpp-python server not answering {url} within {timeout:.0f} s")

    def call_ready(self, call_id: str, timeout: float) -> Event:
        return self.pipeline.wait_event("baseline.call_ready", timeout, lambda e: e.get("call_id") == call_id)

    def stages(self, call_id: str) -> list[Event]:
        return self.pipeline.select("baseline.stage", lambda e: e.get("call_id") == call_id)

    def pids(self) -> list[int]:
        return [self.pipeline.proc.pid, self.llm.proc.pid]

    def stop(self) -> None:
        self.pipeline.stop()
        self.llm.stop()
