"""`appliance simulate` end to end: a recorded caller in, the reply and timings out."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from appliance.cli import _register, app
from appliance.voice.audio import read_wav, rms_dbfs, write_wav
from appliance.voice.engines import Engines

from .helpers import piper, silence

pytestmark = [pytest.mark.models, pytest.mark.slow]


def test_simulate_json_and_reply_wav(engines: Engines, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    caller = tmp_path / "caller.wav"
    write_wav(caller, silence(4.0) + piper(engines, "Thank you, that's all, goodbye."), 8000)
    out = tmp_path / "reply.wav"
    _register()
    result = CliRunner().invoke(app, ["simulate", str(caller), "--out", str(out), "--json", "--tail", "4",
                                      "--conversation", "smalltalk"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout[result.stdout.index("{"):])
    assert doc["hangup"] == "local"  # the conversation said goodbye and hung up
    speakers = [t["speaker"] for t in doc["turns"]]
    assert speakers == ["agent", "caller", "agent"]
    assert "goodbye" in doc["turns"][1]["text"].lower()
    [turn] = doc["metrics"]["turns"]
    assert turn["voice_to_voice_ms"] > 0 and turn["asr_ms"] > 0
    pcm = read_wav(out)
    assert len(pcm) / 16000 > 4.0 and rms_dbfs(pcm) > -50


def test_simulate_rejects_a_file_that_is_not_wav(tmp_path: Path) -> None:
    bad = tmp_path / "x.wav"
    bad.write_bytes(b"not a wav")
    _register()
    result = CliRunner().invoke(app, ["simulate", str(bad)])
    assert result.exit_code != 0
    assert "not a readable WAV" in str(result.exception) or "not a readable WAV" in result.output


def test_simulate_speaks_the_clinic_pack_by_default(engines: Engines, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """The same conversation as a phone call: approved lines with their provenance."""
    monkeypatch.chdir(tmp_path)
    caller = tmp_path / "caller.wav"
    write_wav(caller, silence(12.0) + piper(engines, "I'm a new patient."), 8000)
    _register()
    result = CliRunner().invoke(app, ["simulate", str(caller), "--json", "--tail", "8"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout[result.stdout.index("{"):])
    agent = [t for t in doc["turns"] if t["speaker"] == "agent"]
    caller_turns = [t for t in doc["turns"] if t["speaker"] == "caller"]
    assert agent[0]["provenance"].endswith("#dialogue.greeting")
    assert caller_turns and "new patient" in caller_turns[0]["text"].lower()
    after = doc["turns"][doc["turns"].index(caller_turns[0]) + 1:]
    assert after and all(t["provenance"] and t["provenance"].startswith("demo-clinic@") for t in after if
                         t["speaker"] == "agent")
