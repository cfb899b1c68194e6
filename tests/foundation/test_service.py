from __future__ import annotations

import signal
import stat
from pathlib import Path

import pytest

from tests.foundation.helpers import ApplianceProcess


@pytest.mark.models
@pytest.mark.parametrize("sig", [signal.SIGTERM, pytest.param(signal.SIGINT, marks=pytest.mark.variant)])
def test_run_loads_every_model_then_shuts_down_cleanly(write_config, tmp_path: Path, sig: int) -> None:
    app = ApplianceProcess(write_config())
    try:
        ready = app.wait_event("appliance.ready")
        loaded = {e["role"] for e in app.events if e.get("event") == "model.loaded"}
        verified = {e["role"] for e in app.events if e.get("event") == "model.verified"}
        assert loaded == verified == {"vad", "turn", "asr", "relisten", "llm", "tts"}
        assert ready["sip"].startswith("127.0.0.1:")
        code, seconds = app.stop(sig)
    finally:
        app.kill()
    assert code == 0, "".join(app.raw)
    assert app.events[-1]["event"] == "appliance.stopped"
    print(f"shutdown after {sig!r}: {seconds:.2f}s")  # the figure; -s shows it
    key = tmp_path / "var" / "secrets" / "db.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert len(bytes.fromhex(key.read_text().strip())) == 32


def test_bad_config_fails_fast_naming_the_key(write_config) -> None:
    app = ApplianceProcess(write_config("[console]\nprot = 1\n"))
    code = app.proc.wait(timeout=60)
    app._reader.join(timeout=5)
    out = "".join(app.raw)
    assert code == 2
    assert "console.prot" in out and "line 5" in out and "fix:" in out


def test_log_lines_are_json_and_free_of_secrets(write_config, tmp_path: Path) -> None:
    app = ApplianceProcess(write_config())
    try:
        app.wait_event("appliance.ready")
        app.stop()
    finally:
        app.kill()
    key = (tmp_path / "var" / "secrets" / "db.key").read_text().strip()
    assert app.events and len(app.events) == len([r for r in app.raw if r.strip()])
    assert all(key not in line for line in app.raw)
