"""Fixtures for installer tests: answer files, a temporary root, free ports, kamailio as the PBX."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from benchmarks import ports

ROOT = Path(__file__).resolve().parents[2]
APPLIANCE = [sys.executable, "-m", "appliance"]
SIP_PASSWORD = "sip-secret-Quartz-7731"
ADMIN_PASSWORD = "admin-secret-Velvet-2290"


def free_port(kind: int = socket.SOCK_DGRAM) -> int:
    return ports.free_port(kind)


def base_answers(pbx_port: int, sip_port: int, console_port: int) -> dict[str, Any]:
    return {
        "clinic": {"name": "Glow Aesthetics", "time_zone": "America/Chicago",
                   "hours": {"mon": "09:00-18:00", "tue": "09:00-18:00", "sat": "10:00-14:00", "sun": "closed"}},
        "pbx": {"mode": "register", "address": f"127.0.0.1:{pbx_port}", "username": "7001",
                "password": SIP_PASSWORD, "bind_host": "127.0.0.1", "bind_port": sip_port},
        "staff": {"np": "201", "front_desk": "200", "on_call": ["202", "203"]},
        "console": {"bind_host": "127.0.0.1", "port": console_port, "hostnames": ["appliance.local", "127.0.0.1"]},
        "admin": {"username": "owner", "password": ADMIN_PASSWORD},
    }


@pytest.fixture
def root(tmp_path: Path) -> Path:
    r = tmp_path / "root"
    r.mkdir()
    return r


@pytest.fixture
def answers(tmp_path: Path) -> dict[str, Any]:
    return base_answers(free_port(), free_port(), free_port(socket.SOCK_STREAM))


@pytest.fixture
def write_answers(tmp_path: Path):
    def _write(data: dict[str, Any] | str, name: str = "answers.yaml") -> Path:
        path = tmp_path / name
        path.write_text(data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False))
        return path

    return _write


def run_cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*APPLIANCE, *args], capture_output=True, text=True, timeout=timeout, cwd=ROOT,
                          check=False)


def provision(root: Path, answers_file: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return run_cli("provision", "--answers", str(answers_file), "--root", str(root), *extra)


def config_of(root: Path) -> Path:
    return root / "etc" / "appliance" / "appliance.toml"


def _sip_answers(port: int, timeout: float) -> bool:
    from appliance.setup.sipprobe import probe

    return probe("127.0.0.1", port, timeout=timeout).answered


@pytest.fixture
def kamailio(tmp_path: Path) -> Iterator[int]:
    """kamailio from Debian's sample config, listening on a free loopback UDP port; yields the port."""
    if shutil.which("kamailio") is None:
        pytest.fail("kamailio is not installed: run `bash provisioning/system-packages.sh test`")
    port = free_port()
    cfg = Path("/etc/kamailio/kamailio.cfg").read_text()
    marker = "# listen=udp:10.0.0.10:5060"
    assert marker in cfg, "Debian's sample kamailio.cfg changed: find where the listen= lines go"
    work = tmp_path / "kamailio"
    (work / "run").mkdir(parents=True)
    (work / "kamailio.cfg").write_text(cfg.replace(marker, f"listen=udp:127.0.0.1:{port}\nchildren=2", 1))
    log = (work / "kamailio.log").open("w")
    proc = subprocess.Popen(["kamailio", "-f", str(work / "kamailio.cfg"), "-E", "-DD", "-Y", str(work / "run")],
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while not _sip_answers(port, 0.5):
            if proc.poll() is not None or time.monotonic() > deadline:
                log.flush()
                pytest.fail(f"kamailio did not start: {(work / 'kamailio.log').read_text()[-2000:]}")
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        log.close()
