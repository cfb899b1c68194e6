"""Model workers: real models in real child processes, killed and crashed on purpose.

The service process must survive anything native model code does: a SIGKILL, a segmentation
fault (injected with `APPLIANCE_TEST_FAULT`, a real read of address 0), a hang, a broken model
file. Each test checks what a call would see (a typed error, then a restarted worker) and
what an installer would see (an error that names the model, the CPU features and the fix).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from appliance.config import Settings, load_settings
from appliance.errors import ModelError
from appliance.inference.client import ModelWorker
from appliance.inference.proxies import PROXIES, RemoteLanguageModel
from appliance.models.resolver import resolve_all
from appliance.voice.health import CallHealth, CallPool, ModelUnavailableError, current_call
from tests.conftest import free_port

pytestmark = pytest.mark.models


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    cfg = tmp_path_factory.mktemp("cfg") / "appliance.toml"
    cfg.write_text(f'[paths]\ndata_dir = "{cfg.parent / "var"}"\n\n[models]\nworker_timeout_s = 5\n')
    return load_settings(cfg)


@pytest.fixture(scope="module")
def models(settings: Settings):
    return resolve_all(settings)


def _wait_alive(worker: ModelWorker, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not worker.alive and time.monotonic() < deadline:
        time.sleep(0.1)
    assert worker.alive, "the worker was not restarted"


def test_speech_models_answer_through_the_worker(models, settings) -> None:
    worker = ModelWorker("speech", ("vad", "asr", "relisten", "tts"), models, settings)
    worker.start()
    try:
        assert worker.pid and worker.pid != os.getpid()
        tts = PROXIES["tts"](worker, "tts")
        chunks = list(tts.synthesize("Thank you for calling."))
        assert chunks and chunks[0].sample_rate == 22050 and len(chunks[0].audio_float_array) > 10000
        audio = np.interp(np.arange(0, len(chunks[0].audio_float_array), 22050 / 16000),
                          np.arange(len(chunks[0].audio_float_array)), chunks[0].audio_float_array).astype(np.float32)
        segments, _ = PROXIES["asr"](worker, "asr").transcribe(audio, language="en", beam_size=1)
        assert "calling" in " ".join(s.text for s in segments).lower()
        text, mean = PROXIES["relisten"](worker, "relisten").transcribe(audio)  # Moonshine, the second listen's
        assert "calling" in text.lower() and mean is not None and mean < 0, (text, mean)
    finally:
        worker.close()


def test_a_killed_worker_fails_the_request_in_flight_and_comes_back(models, settings) -> None:
    worker = ModelWorker("llm", ("llm",), models, settings, selftest=False)
    worker.start()
    lm = RemoteLanguageModel(worker)
    try:
        first_pid = worker.pid
        errors: list[BaseException] = []

        def long_stream() -> None:
            try:
                for _ in lm._stream_sync("You talk a lot.", "Tell me a very long story about a clinic.", 400,
                                         threading.Event()):
                    pass
            except BaseException as e:  # noqa: BLE001
                errors.append(e)

        t = threading.Thread(target=long_stream)
        t.start()
        time.sleep(0.5)
        os.kill(first_pid, signal.SIGKILL)
        t.join(timeout=30)
        assert not t.is_alive()
        assert errors and isinstance(errors[0], ModelUnavailableError), errors
        assert errors[0].role == "llm"
        _wait_alive(worker)
        assert worker.pid != first_pid and worker.restarts == 1
        text, _first = lm._json_sync("Answer as JSON.", "yes please", {"type": "object", "properties": {
            "answer": {"type": "string", "enum": ["yes", "no"]}}, "required": ["answer"]}, 16)
        assert '"answer"' in text
    finally:
        worker.close()


def test_a_native_crash_during_a_request_is_an_error_not_a_dead_service(models, settings, tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APPLIANCE_TEST_FAULT", "tts:call:2")
    monkeypatch.setenv("APPLIANCE_TEST_FAULT_MARK", str(tmp_path / "crashed"))
    worker = ModelWorker("speech", ("tts",), models, settings, selftest=False)
    worker.start()
    tts = PROXIES["tts"](worker, "tts")
    try:
        assert list(tts.synthesize("One."))
        with pytest.raises(ModelUnavailableError, match="SIGSEGV"):
            list(tts.synthesize("Two."))
        assert (tmp_path / "crashed").exists()
        _wait_alive(worker)
        assert list(tts.synthesize("Three."))  # the mark file keeps the restarted worker from crashing again
    finally:
        worker.close()


def test_a_hung_model_call_times_out_and_the_worker_is_replaced(models, settings, monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("APPLIANCE_TEST_FAULT", "vad:call:1:hang")
    monkeypatch.setenv("APPLIANCE_TEST_FAULT_MARK", str(tmp_path / "hung"))
    worker = ModelWorker("speech", ("vad",), models, settings, selftest=False)
    worker.start()
    vad = PROXIES["vad"](worker, "vad")
    feeds = {"input": np.zeros((1, 288), dtype=np.float32), "state": np.zeros((2, 1, 128), dtype=np.float32),
             "sr": np.array(8000, dtype=np.int64)}
    try:
        with pytest.raises(ModelUnavailableError, match="did not answer"):
            vad.run(None, feeds)
        _wait_alive(worker)
        prob, state = vad.run(None, feeds)
        assert 0.0 <= float(prob[0][0]) <= 1.0 and state.shape == (2, 1, 128)
    finally:
        worker.close()


def test_a_crash_in_the_self_test_names_the_model_the_cpu_and_the_fix(models, settings, monkeypatch) -> None:
    monkeypatch.setenv("APPLIANCE_TEST_FAULT", "llm:selftest")
    worker = ModelWorker("llm", ("llm",), models, settings)
    with pytest.raises(ModelError) as e:
        worker.start()
    text = str(e.value)
    assert e.value.code == "model-crashed"
    assert "llm model (SmolLM2" in text and "self-testing" in text and "SIGSEGV" in text
    assert "CPU features seen:" in text and "CPU_BASELINE" in text


def test_a_broken_model_file_is_refused_by_its_worker(tmp_path: Path) -> None:
    bad = tmp_path / "broken.gguf"
    bad.write_bytes(b"GGUF" + os.urandom(4096))
    digest = hashlib.sha256(bad.read_bytes()).hexdigest()
    cfg = tmp_path / "appliance.toml"
    cfg.write_text(f'[paths]\ndata_dir = "{tmp_path / "var"}"\n\n[models.overrides.llm]\npath = "{bad}"\n'
                   f'sha256 = "{digest}"\n')
    s = load_settings(cfg)
    worker = ModelWorker("llm", ("llm",), resolve_all(s), s)
    with pytest.raises(ModelError) as e:
        worker.start()
    assert e.value.code in ("model-load-failed", "model-crashed")
    assert "llm model" in str(e.value) and "loading" in str(e.value)


async def test_a_failure_is_reported_to_the_call_that_was_using_the_model(models, settings) -> None:
    worker = ModelWorker("speech", ("tts",), models, settings, selftest=False)
    worker.start()
    tts = PROXIES["tts"](worker, "tts")
    told: list[tuple[str, str]] = []
    token = current_call.set(CallHealth(lambda role, detail: told.append((role, detail))))
    pool = CallPool(max_workers=1)
    try:
        os.kill(worker.pid, signal.SIGKILL)
        await asyncio.sleep(0.5)
        with pytest.raises(ModelUnavailableError):
            await asyncio.get_running_loop().run_in_executor(pool, lambda: list(tts.synthesize("Hello.")))
        assert told and told[0][0] == "tts"
    finally:
        current_call.reset(token)
        pool.shutdown()
        worker.close()


def _run_cli(config: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "appliance", "--config", str(config), *args], capture_output=True,
                          text=True, timeout=300, env={**os.environ, **env})


def test_run_does_not_report_ready_when_a_model_crashes_its_self_test(tmp_path: Path) -> None:
    cfg = tmp_path / "appliance.toml"
    cfg.write_text(f'[paths]\ndata_dir = "{tmp_path / "var"}"\n\n[sip]\nbind_port = {free_port(socket.SOCK_DGRAM)}\n'
                   f'\n[console]\nport = {free_port()}\n')
    done = _run_cli(cfg, "run", "--no-progress", env={"APPLIANCE_TEST_FAULT": "llm:selftest"})
    assert done.returncode != 0
    assert "appliance.ready" not in done.stderr
    assert "llm model (SmolLM2" in done.stderr and "SIGSEGV" in done.stderr and "CPU features seen" in done.stderr, \
        done.stderr[-3000:]
    # The installer's check says the same, with the fix, and passes without the fault.
    doctor = _run_cli(cfg, "doctor", "--only", "selftest", env={"APPLIANCE_TEST_FAULT": "asr:load"})
    lines = {ln.split()[1]: ln for ln in doctor.stdout.splitlines() if ln[:4] in ("PASS", "FAIL")}
    assert doctor.returncode != 0
    assert lines["selftest.speech"].startswith("FAIL") and "asr model (whisper" in lines["selftest.speech"], doctor.stdout
    assert "fix:" in lines["selftest.speech"]
    assert lines["selftest.llm"].startswith("PASS"), doctor.stdout
