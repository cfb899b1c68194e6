"""A real Radicale CalDAV server for the tests: 127.0.0.1 on a free port, storage in a temporary
folder, one user (`clinic`, plain htpasswd). It can be stopped and started again on the same
port and storage, as a clinic's server going down and coming back."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.ports import free_port

USER, PASSWORD = "clinic", "calendar-secret"


class Radicale:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port(socket.SOCK_STREAM)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "users").write_text(f"{USER}:{PASSWORD}\n")
        self.config = folder / "radicale.ini"
        self.config.write_text(
            f"[server]\nhosts = 127.0.0.1:{self.port}\n"
            f"[auth]\ntype = htpasswd\nhtpasswd_filename = {folder / 'users'}\nhtpasswd_encryption = plain\ndelay = 0\n"
            f"[rights]\ntype = owner_only\n"
            f"[storage]\nfilesystem_folder = {folder / 'collections'}\n"
            f"[logging]\nlevel = warning\n")
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def start(self, timeout: float = 15.0) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "radicale", "--config", str(self.config)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"radicale exited: {self.proc.stderr.read().decode()[-2000:]}")  # type: ignore[union-attr]
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("radicale did not start listening")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def client(self):  # noqa: ANN201 - a caldav.DAVClient
        import caldav

        return caldav.DAVClient(self.url, username=USER, password=PASSWORD)

    def make_calendar(self, name: str) -> str:
        """Create the user's calendar `name`; its URL."""
        with self.client() as c:
            cal = c.principal().make_calendar(name=name, cal_id=name)
            return str(cal.url)
