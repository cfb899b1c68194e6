"""Run the real `appliance` command as a subprocess and read its JSON log lines."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any


class ApplianceProcess:
    def __init__(self, config: Path, *args: str) -> None:
        env = {k: v for k, v in os.environ.items() if k != "APPLIANCE_CONFIG"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "appliance", "--config", str(config), *(args or ("run", "--no-progress"))],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        )
        self.events: list[dict[str, Any]] = []
        self.raw: list[str] = []
        self._cond = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr
        for line in self.proc.stderr:
            with self._cond:
                self.raw.append(line)
                try:
                    self.events.append(json.loads(line))
                except ValueError:
                    pass
                self._cond.notify_all()

    def wait_event(self, name: str, timeout: float = 120.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for e in self.events:
                    if e.get("event") == name:
                        return e
                if self.proc.poll() is not None and not self._reader.is_alive():
                    raise AssertionError(f"appliance exited ({self.proc.returncode}) before {name}:\n{''.join(self.raw)}")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no {name} within {timeout}s:\n{''.join(self.raw)}")
                self._cond.wait(min(left, 0.5))

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> tuple[int, float]:
        t0 = time.monotonic()
        self.proc.send_signal(sig)
        code = self.proc.wait(timeout=timeout)
        self._reader.join(timeout=5)
        return code, time.monotonic() - t0

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
