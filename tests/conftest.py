"""Shared fixtures: the project root, a throwaway data directory, a config writer."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from benchmarks import ports

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def write_config(tmp_path: Path):
    """Write a TOML config into tmp_path (data under tmp_path/var unless given) and return its path."""

    def _write(body: str = "", name: str = "appliance.toml") -> Path:
        text = body if "[paths]" in body else f'[paths]\ndata_dir = "{tmp_path / "var"}"\n\n{body}'
        # Free ports, so that tests never collide with each other or with a running appliance.
        if "[console]" not in text:
            text += f"\n[console]\nport = {free_port(socket.SOCK_STREAM)}\n"
        if "[sip]" not in text:
            text += f"\n[sip]\nbind_port = {free_port(socket.SOCK_DGRAM)}\n"
        path = tmp_path / name
        path.write_text(text)
        return path

    return _write


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    return ports.free_port(kind)


@pytest.fixture(autouse=True)
def _no_ambient_config(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never pick up a config from the environment of the machine running them."""
    monkeypatch.delenv("APPLIANCE_CONFIG", raising=False)


# Set for the whole session too: module-scoped fixtures (an appliance started once for several
# tests) are made before any function-scoped fixture runs.
os.environ["APPLIANCE_DEMO_CLINIC_TIME"] = "open"


@pytest.fixture(autouse=True)
def _clinic_open(monkeypatch: pytest.MonkeyPatch) -> None:
    """Calls on the demo pack run during its opening hours (the real time, or the next opening
    when the tests run at night): a test about after hours sets its own time. See
    appliance/clinic/clinic_clock.py."""
    monkeypatch.setenv("APPLIANCE_DEMO_CLINIC_TIME", "open")


@pytest.fixture
async def async_records(tmp_path: Path):  # noqa: ANN201  (an AsyncIterator of AsyncRecords)
    """The real encrypted record store in a temporary folder, on its writer thread."""
    from appliance.records.keys import ensure_key
    from appliance.records.service import AsyncRecords

    r = AsyncRecords(tmp_path / "appliance.db", ensure_key(tmp_path / "db.key"))
    await r.open()
    yield r
    await r.close()


def pytest_report_header(config: pytest.Config) -> str:
    return f"appliance tests: root={ROOT} cpus={os.cpu_count()}"
