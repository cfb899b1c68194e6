"""`appliance doctor` against real peers: kamailio as the PBX, the real models, the real database."""

from __future__ import annotations

import hashlib
import shutil
import socket
from pathlib import Path

import pytest

from appliance.config import Settings, load_settings
from appliance.records.db import connect
from appliance.records.keys import read_key
from appliance.setup import doctor, tls
from appliance.setup.doctor import Result, register_check, run_checks
from tests.setup.conftest import config_of, free_port, provision, run_cli


def _doctor(root: Path, *args: str):
    return run_cli("--config", str(config_of(root)), "doctor", *args)


def _lines(out: str) -> dict[str, str]:
    rows = {}
    for line in out.splitlines():
        parts = line.split(None, 2)
        if len(parts) >= 2 and parts[0] in ("PASS", "FAIL", "UNKNOWN", "SKIP"):
            rows[parts[1]] = line
    return rows


@pytest.fixture
def provisioned(root: Path, answers, write_answers, kamailio: int) -> Path:
    from tests.golive.test_doctor_pack import clinic_pack

    answers["pbx"]["address"] = f"127.0.0.1:{kamailio}"
    pack = clinic_pack(root / "var" / "lib" / "appliance")  # the clinic's own pack, approved by provisioning
    answers["protocol_pack"] = {"path": "/var/lib/appliance/pack", "approved_by": "Dana Reyes",
                                "credential": "NP-C 44120"}
    assert pack == root / "var" / "lib" / "appliance" / "pack"
    done = provision(root, write_answers(answers))
    assert done.returncode == 0, done.stderr
    return root


def test_doctor_passes_against_kamailio(provisioned: Path) -> None:
    done = _doctor(provisioned)
    rows = _lines(done.stdout)
    failures = [name for name, line in rows.items() if line.startswith("FAIL")]
    assert failures == [], done.stdout + done.stderr
    assert done.returncode == 0
    assert rows["encryption"].startswith("SKIP") and "loopback" in rows["encryption"]  # SIP on 127.0.0.1 here
    for role in ("vad", "turn", "asr", "relisten", "llm", "tts"):
        assert rows[f"model.{role}"].startswith("PASS"), rows
    for name in ("pack", "database", "disk", "pbx", "port.sip", "port.console", "certificate"):
        assert rows[name].startswith("PASS"), rows[name]
    assert "answered OPTIONS: SIP/2.0 " in rows["pbx"]
    assert rows["clock"].split()[0] in ("PASS", "UNKNOWN")  # no failure where the state cannot be read


def test_doctor_fails_with_a_hint_when_the_pbx_is_down(root: Path, answers, write_answers) -> None:
    answers["pbx"]["address"] = f"127.0.0.1:{free_port()}"  # nothing listens there
    assert provision(root, write_answers(answers)).returncode == 0
    done = _doctor(root)
    rows = _lines(done.stdout)
    assert done.returncode == 1
    assert rows["pbx"].startswith("FAIL") and "fix: check the PBX is up" in rows["pbx"]
    assert f"UDP {answers['pbx']['address'].rsplit(':', 1)[1]}" in rows["pbx"]
    assert rows["model.llm"].startswith("PASS")  # the other checks still ran


def test_pbx_that_never_answers_times_out(root: Path, answers, write_answers) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))
        answers["pbx"]["address"] = f"127.0.0.1:{silent.getsockname()[1]}"
        assert provision(root, write_answers(answers)).returncode == 0
        done = _doctor(root, "--only", "pbx")
        got, _ = silent.recvfrom(4096)
    assert got.startswith(b"OPTIONS sip:127.0.0.1:")
    assert done.returncode == 1 and "no SIP answer" in done.stdout and "within 3 s" in done.stdout


def test_doctor_names_a_corrupted_model(provisioned: Path, tmp_path: Path, answers, write_answers) -> None:
    from appliance.models.resolver import ChecksumCache, default_manifest_path, load_manifest, resolve_model

    spec = load_manifest(default_manifest_path())["vad"]
    real = resolve_model(spec, None, ChecksumCache(None)).path
    copy = tmp_path / "site-models" / "silero_vad.onnx"
    copy.parent.mkdir()
    shutil.copy(real, copy)
    expected = hashlib.sha256(copy.read_bytes()).hexdigest()
    answers["pbx"]["address"] = load_settings(config_of(provisioned)).sip.registrar
    answers["models"] = {"vad": {"path": str(copy), "sha256": expected}}
    assert provision(provisioned, write_answers(answers)).returncode == 0
    assert _doctor(provisioned, "--only", "models").returncode == 0  # the intact copy passes
    data = bytearray(copy.read_bytes())
    data[len(data) // 2] ^= 0xFF
    copy.write_bytes(bytes(data))
    done = _doctor(provisioned)
    rows = _lines(done.stdout)
    assert done.returncode == 1
    assert rows["model.vad"].startswith("FAIL") and "checksum mismatch" in rows["model.vad"]
    assert f"fix: restore {copy} or correct models.overrides.vad" in rows["model.vad"]
    assert all(rows[f"model.{r}"].startswith("PASS") for r in ("turn", "asr", "relisten", "llm", "tts"))
    assert rows["pbx"].startswith("PASS")


def test_doctor_fails_on_a_wrong_database_key(provisioned: Path) -> None:
    s = load_settings(config_of(provisioned))
    conn = connect(s.db_path, read_key(s.db_key_file))
    conn.execute("CREATE TABLE t (x)")
    conn.close()
    assert _lines(_doctor(provisioned, "--only", "database").stdout)["database"].startswith("PASS")
    s.db_key_file.write_text("ab" * 32 + "\n")  # someone restored the wrong key file
    done = _doctor(provisioned, "--only", "database")
    assert done.returncode == 1
    assert "does not open this database" in done.stdout and "fix: use the key file" in done.stdout
    s.db_key_file.chmod(0o644)
    assert "chmod 600" in _doctor(provisioned, "--only", "database").stdout


def test_doctor_fails_on_busy_port_and_expiring_certificate(provisioned: Path) -> None:
    s = load_settings(config_of(provisioned))
    cert, key = tls.generate(["appliance.local"], "Glow", days=10)
    s.console.tls_cert.write_bytes(cert)
    s.console.tls_key.write_bytes(key)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as busy:
        busy.bind((s.sip.bind_host, s.sip.bind_port))
        done = _doctor(provisioned, "--only", "ports", "--only", "certificate")
    rows = _lines(done.stdout)
    assert done.returncode == 1
    assert rows["port.sip"].startswith("FAIL") and "is in use" in rows["port.sip"]
    assert rows["port.console"].startswith("PASS")
    assert rows["certificate"].startswith("FAIL") and "within 30 days" in rows["certificate"]
    assert "run `appliance provision` again" in rows["certificate"]


def test_unknown_only_name_is_rejected(provisioned: Path) -> None:
    done = _doctor(provisioned, "--only", "no-such-check")
    assert done.returncode == 2 and "unknown check" in done.stderr


def test_registered_checks_run_in_place_and_a_crash_is_a_failure(provisioned: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(doctor, "CHECKS", list(doctor.CHECKS))
    seen: list[str] = []

    def registration(s) -> list[Result]:
        seen.append(s.sip.registrar)
        return [Result("registration", "fail", "403 Forbidden", "check the extension's password")]

    def crashing(s) -> list[Result]:
        raise RuntimeError("boom")

    register_check("registration", registration, after="pbx")
    register_check("test-call", crashing, after="registration")
    names = [n for n, _ in doctor.CHECKS]
    assert names.index("registration") == names.index("pbx") + 1 and names[names.index("registration") + 1] == \
        "test-call"
    results = run_checks(load_settings(config_of(provisioned)), {"registration", "test-call"})
    assert [(r.check, r.status) for r in results] == [("registration", "fail"), ("test-call", "fail")]
    assert "RuntimeError: boom" in results[1].detail and seen


def test_the_sip_certificate_of_its_own_is_checked_for_expiry_too(tmp_path: Path) -> None:
    cert, key = tls.generate(["pbx-side.appliance.local"], "Glow SIP", days=10)
    (tmp_path / "sip.crt").write_bytes(cert)
    (tmp_path / "sip.key").write_bytes(key)
    s = Settings(paths={"data_dir": tmp_path / "var"},
                 sip={"transport": "tls", "tls_cert": tmp_path / "sip.crt", "tls_key": tmp_path / "sip.key",
                      "tls_pbx_sha256": "AB:" * 31 + "AB"})
    results = {r.check: r for r in doctor.check_certificate(s)}
    assert results["certificate"].status == "skip"  # the console is on loopback
    assert results["certificate.sip"].status == "fail" and "within 30 days" in results["certificate.sip"].detail
    cert, key = tls.generate(["pbx-side.appliance.local"], "Glow SIP", days=400)
    (tmp_path / "sip.crt").write_bytes(cert)
    (tmp_path / "sip.key").write_bytes(key)
    assert {r.check: r.status for r in doctor.check_certificate(s)}["certificate.sip"] == "pass"
    udp = Settings(paths={"data_dir": tmp_path / "var"})
    assert [r.check for r in doctor.check_certificate(udp)] == ["certificate"]  # SIP over UDP shows none
