"""The systemd unit: `systemd-analyze verify` accepts it, and it carries the hardening promised."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
UNITS = sorted((ROOT / "systemd").glob("*.service"))


def _verify(tmp_path: Path, unit_text: str, name: str) -> subprocess.CompletedProcess[str]:
    """Verify inside a throwaway root: the host's system units, the unit, and its ExecStart program."""
    if shutil.which("systemd-analyze") is None:
        pytest.fail("systemd-analyze is missing: apt-get install systemd")
    root = tmp_path / "sysroot"
    shutil.copytree("/usr/lib/systemd/system", root / "usr/lib/systemd/system", symlinks=True)
    (root / "etc/systemd/system").mkdir(parents=True)
    (root / "etc/systemd/system" / name).write_text(unit_text)
    program = _directives_text(unit_text)["ExecStart"][0].split()[0]
    exe = root / program.lstrip("/")
    exe.parent.mkdir(parents=True, exist_ok=True)
    exe.write_text("#!/bin/sh\n")
    exe.chmod(0o755)
    return subprocess.run(["systemd-analyze", "verify", f"--root={root}", "--man=no", name],
                          capture_output=True, text=True, timeout=60, check=False)


def _directives_text(text: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for line in text.splitlines():
        if "=" in line and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            out.setdefault(key.strip(), []).append(value.strip())
    return out


def _complaints(done: subprocess.CompletedProcess[str], name: str) -> list[str]:
    return [line for line in (done.stdout + done.stderr).splitlines() if name in line]


@pytest.mark.parametrize("unit", UNITS, ids=lambda p: p.name)
def test_systemd_analyze_accepts_the_unit(unit: Path, tmp_path: Path) -> None:
    done = _verify(tmp_path, unit.read_text(), unit.name)
    assert done.returncode == 0, done.stderr
    assert _complaints(done, unit.name) == [], done.stderr


def test_verify_does_catch_a_broken_unit(tmp_path: Path) -> None:
    broken = (ROOT / "systemd" / "appliance.service").read_text().replace("MemoryMax=3G", "MemoryMax=lots")
    done = _verify(tmp_path, broken, "appliance.service")
    assert any("Invalid memory limit" in line for line in _complaints(done, "appliance.service")), done.stderr


def test_the_unit_is_hardened_as_documented() -> None:
    d = _directives_text((ROOT / "systemd" / "appliance.service").read_text())
    assert d["Type"] == ["notify"] and d["Restart"] == ["on-failure"]
    assert d["WatchdogSec"] and d["User"] == ["appliance"]
    assert d["ProtectSystem"] == ["strict"] and d["ReadWritePaths"] == ["/var/lib/appliance"]
    assert d["PrivateTmp"] == ["yes"] and d["NoNewPrivileges"] == ["yes"]
    assert d["CapabilityBoundingSet"] == [""] and d["AmbientCapabilities"] == [""]
    assert d["MemoryMax"] and "--config /etc/appliance/appliance.toml run" in d["ExecStart"][0]
