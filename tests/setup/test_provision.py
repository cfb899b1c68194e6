"""`appliance provision` into a temporary root: config and secrets, idempotence, secrets never shown."""

from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import subprocess
import time
from pathlib import Path

import pytest

from appliance.config import load_settings
from appliance.records.keys import read_key
from appliance.setup import tls
from tests.setup.conftest import (
    ADMIN_PASSWORD,
    APPLIANCE,
    ROOT,
    SIP_PASSWORD,
    config_of,
    provision,
)


def _mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


def _snapshot(root: Path) -> dict[str, tuple[bytes, int, int]]:
    return {str(p.relative_to(root)): (p.read_bytes(), _mode(p), p.stat().st_mtime_ns)
            for p in sorted(root.rglob("*")) if p.is_file()}


def _secrets_absent(text: str, root: Path) -> None:
    data = root / "var" / "lib" / "appliance" / "secrets"
    for secret in (SIP_PASSWORD, ADMIN_PASSWORD, (data / "db.key").read_text().strip()):
        assert secret not in text
    key_body = (data / "console.key").read_text().splitlines()[1]
    assert key_body not in text


def test_provision_writes_a_config_the_appliance_accepts(root: Path, answers, write_answers) -> None:
    done = provision(root, write_answers(answers))
    assert done.returncode == 0, done.stderr
    cfg = config_of(root)
    s = load_settings(cfg)
    data = root / "var" / "lib" / "appliance"
    assert s.data_dir == data
    assert s.sip.mode == "register" and s.sip.registrar == answers["pbx"]["address"]
    assert s.sip.allowed_sources == ("127.0.0.1/32",)
    assert s.sip.password_file is not None and s.sip.password_file.read_text() == SIP_PASSWORD + "\n"
    assert s.site.clinic_name == "Glow Aesthetics" and s.site.time_zone == "America/Chicago"
    assert s.site.hours["sat"] == "10:00-14:00" and s.site.hours["wed"] == "closed"
    assert (s.site.np_extension, s.site.front_desk_extension, s.site.on_call_chain) == ("201", "200", ("202", "203"))
    assert len(read_key(s.db_key_file)) == 32
    info = tls.read_pair(s.console.tls_cert, s.console.tls_key)
    assert info.names == ("127.0.0.1", "appliance.local") and not info.expires_within()
    account = json.loads((data / "secrets" / "admin.json").read_text())
    assert account["username"] == "owner" and account["argon2"].startswith("$argon2id$")
    assert _mode(cfg) == 0o640 and _mode(s.console.tls_cert) == 0o644
    for name in ("sip.password", "db.key", "console.key", "admin.json"):
        assert _mode(data / "secrets" / name) == 0o600, name
    assert _mode(data / "secrets") == 0o700
    _secrets_absent(done.stdout + done.stderr + cfg.read_text(), root)


def test_rerun_with_same_answers_changes_nothing(root: Path, answers, write_answers) -> None:
    path = write_answers(answers)
    assert provision(root, path).returncode == 0
    before = _snapshot(root)
    again = provision(root, path)
    assert again.returncode == 0, again.stderr
    assert "nothing to change" in again.stdout
    assert all(line.startswith(("keep", "note:", "nothing")) for line in again.stdout.splitlines()), again.stdout
    assert _snapshot(root) == before
    # Without the passwords, the stored secrets are kept too.
    del answers["pbx"]["password"], answers["admin"]["password"]
    third = provision(root, write_answers(answers))
    assert third.returncode == 0, third.stderr
    assert _snapshot(root) == before


def test_changed_answer_updates_only_what_it_touches(root: Path, answers, write_answers) -> None:
    assert provision(root, write_answers(answers)).returncode == 0
    before = _snapshot(root)
    answers["pbx"]["password"] = "a-new-sip-secret-4411"
    done = provision(root, write_answers(answers))
    assert done.returncode == 0, done.stderr
    assert "a-new-sip-secret-4411" not in done.stdout + done.stderr
    after = _snapshot(root)
    changed = {k for k in after if after[k] != before.get(k)}
    assert changed == {"var/lib/appliance/secrets/sip.password"}
    assert "update  SIP password" in done.stdout


def test_dry_run_writes_nothing(root: Path, answers, write_answers) -> None:
    done = provision(root, write_answers(answers), "--dry-run")
    assert done.returncode == 0, done.stderr
    assert "create  config" in done.stdout and "nothing written" in done.stdout
    assert list(root.iterdir()) == []


def test_bad_answer_file_names_the_field_and_writes_nothing(root: Path, answers, write_answers) -> None:
    answers["console"]["port"] = 70000
    done = provision(root, write_answers(answers))
    assert done.returncode == 2
    assert "console.port" in done.stderr and "less than or equal to 65535" in done.stderr
    assert "(line " in done.stderr
    assert list(root.iterdir()) == []


def test_provided_certificate_is_checked_and_copied(root: Path, answers, write_answers) -> None:
    cert, key = tls.generate(["voice.glow.example"], "Glow")
    other_cert, _ = tls.generate(["other.example"], "Other")
    srv = root / "srv"  # paths in the answers are taken under --root, as on the box
    srv.mkdir()
    (srv / "c.pem").write_bytes(cert)
    (srv / "k.pem").write_bytes(key)
    (srv / "other.pem").write_bytes(other_cert)
    answers["console"] = {"bind_host": "127.0.0.1", "port": answers["console"]["port"],
                          "tls_cert": "/srv/other.pem", "tls_key": "/srv/k.pem"}
    bad = provision(root, write_answers(answers))
    assert bad.returncode == 2 and "does not belong to the certificate" in bad.stderr
    assert not config_of(root).exists()
    answers["console"] |= {"tls_cert": "/srv/c.pem"}
    good = provision(root, write_answers(answers))
    assert good.returncode == 0, good.stderr
    s = load_settings(config_of(root))
    assert s.console.tls_cert.read_bytes() == cert and s.console.tls_key.read_bytes() == key
    assert key.decode().splitlines()[1] not in good.stdout


def test_sip_over_tls_answers_are_written_to_the_config_with_the_ca_copied(root: Path, answers,
                                                                        write_answers) -> None:
    ca_pem, _ = tls.generate(["pbx.glow.lan"], "Glow PBX CA")
    (root / "srv").mkdir()
    (root / "srv" / "pbx-ca.pem").write_bytes(ca_pem)
    del answers["pbx"]["bind_port"]
    answers["pbx"] |= {"transport": "tls", "tls_ca": "/srv/pbx-ca.pem", "tls_pbx_sha256": "AB:" * 31 + "AB",
                       "srtp": "optional", "advertised_host": "sip.glow.lan"}
    path = write_answers(answers)
    done = provision(root, path)
    assert done.returncode == 0, done.stderr
    assert "create  PBX CA certificate" in done.stdout and 'SRTP is "optional"' in done.stdout
    s = load_settings(config_of(root))
    assert (s.sip.transport, s.sip.srtp, s.sip.bind_port) == ("tls", "optional", 5061)
    assert s.sip.tls_pbx_sha256 == "ab" * 32 and s.sip.tls_cert is None
    assert s.sip.tls_ca == root / "etc" / "appliance" / "pbx-ca.pem" and s.sip.tls_ca.read_bytes() == ca_pem
    assert _mode(s.sip.tls_ca) == 0o644
    # No SIP certificate given: SIP over TLS shows the console's, which names the SIP address too.
    cert, key = tls.sip_pair(s, generate=False) or (None, None)
    assert (cert, key) == (s.console.tls_cert, s.console.tls_key)
    assert tls.read_pair(cert, key).names == ("127.0.0.1", "appliance.local", "sip.glow.lan")
    assert tls.sip_tls(s).pin == "ab" * 32  # the edge's TLS contexts build from the provisioned files
    again = provision(root, path)
    assert again.returncode == 0 and "nothing to change" in again.stdout, again.stdout


def test_a_sip_certificate_the_clinic_provides_is_checked_and_copied(root: Path, answers, write_answers) -> None:
    cert, key = tls.generate(["sip.glow.lan"], "Glow SIP")
    (root / "srv").mkdir()
    (root / "srv" / "sip.pem").write_bytes(cert)
    (root / "srv" / "sip.key").write_bytes(key)
    answers["pbx"] |= {"transport": "tls", "tls_pbx_sha256": "ab" * 32, "tls_cert": "/srv/sip.pem",
                       "tls_key": "/srv/sip.key"}
    done = provision(root, write_answers(answers))
    assert done.returncode == 0, done.stderr
    s = load_settings(config_of(root))
    assert s.sip.tls_cert is not None and s.sip.tls_key is not None and s.sip.srtp == "required"
    assert s.sip.tls_cert.read_bytes() == cert and s.sip.tls_key.read_bytes() == key
    assert _mode(s.sip.tls_key) == 0o600 and s.sip.tls_key.parent.name == "secrets"
    assert tls.read_pair(s.console.tls_cert, s.console.tls_key).names == ("127.0.0.1", "appliance.local")
    assert key.decode().splitlines()[1] not in done.stdout + done.stderr


def test_a_ca_file_that_is_not_a_certificate_names_the_field_and_writes_nothing(root: Path, answers,
                                                                            write_answers) -> None:
    (root / "srv").mkdir()
    (root / "srv" / "pbx-ca.cer").write_bytes(b"0\x82\x01\x0a not PEM")
    answers["pbx"] |= {"transport": "tls", "tls_ca": "/srv/pbx-ca.cer"}
    done = provision(root, write_answers(answers))
    assert done.returncode == 2
    assert "pbx.tls_ca: /srv/pbx-ca.cer holds no PEM certificate" in done.stderr
    assert "openssl x509 -inform der" in done.stderr
    answers["pbx"]["tls_ca"] = "/srv/missing.pem"
    missing = provision(root, write_answers(answers))
    assert missing.returncode == 2 and "pbx.tls_ca: cannot read /srv/missing.pem" in missing.stderr
    assert not config_of(root).exists()


def test_protocol_pack_is_approved_once(root: Path, answers, write_answers) -> None:
    approval_mod = pytest.importorskip("appliance.clinic.approval")  # the clinic layer owns approvals
    load_approved = approval_mod.load_approved
    from appliance.clinic.pack import DEMO_PACK

    shutil.copytree(DEMO_PACK, root / "srv" / "pack", ignore=shutil.ignore_patterns("approval.yaml"))
    answers["protocol_pack"] = {"path": "/srv/pack", "approved_by": "Dana Reyes", "credential": "NP-C 44120"}
    path = write_answers(answers)
    first = provision(root, path)
    assert first.returncode == 0, first.stderr
    assert "create  protocol pack approval" in first.stdout
    _, approval = load_approved(root / "srv" / "pack")
    assert approval.approver == "Dana Reyes"
    assert load_settings(config_of(root)).clinic.pack == root / "srv" / "pack"
    second = provision(root, path)
    assert "keep    protocol pack approval" in second.stdout


def test_interactive_prompts_validate_each_answer(root: Path) -> None:
    typed = [
        "",                      # data folder: default
        "Glow Aesthetics",
        "Mars/Olympus",          # rejected on the spot ...
        "America/Chicago",       # ... and asked again
        "9-5", "09:00-17:00",    # monday: rejected, then fixed
        "", "", "", "", "", "",  # tue..sun: defaults
        "register", "127.0.0.1:5060", "7001", SIP_PASSWORD, "",
        "",                      # calls from: the PBX address
        "",                      # SIP transport: udp
        "",                      # SIP port: 5060
        "201", "200", "202, 203",
        "",                      # protocol pack: demo
        "127.0.0.1", "8443", "", "127.0.0.1",
        "", ADMIN_PASSWORD, ADMIN_PASSWORD,
        "y",
    ]
    done = subprocess.run([*APPLIANCE, "provision", "--root", str(root)], input="\n".join(typed) + "\n",
                          capture_output=True, text=True, timeout=120, cwd=ROOT, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr
    assert "unknown time zone 'Mars/Olympus'" in done.stdout + done.stderr
    assert "is not HH:MM-HH:MM or closed" in done.stdout + done.stderr
    s = load_settings(config_of(root))
    assert s.site.time_zone == "America/Chicago" and s.site.hours["mon"] == "09:00-17:00"
    assert s.site.on_call_chain == ("202", "203") and s.sip.extension == "7001"
    assert SIP_PASSWORD not in done.stdout and ADMIN_PASSWORD not in done.stdout


def test_interactive_prompts_ask_for_sip_over_tls_and_srtp(root: Path) -> None:
    typed = [
        "", "Glow Aesthetics", "America/Chicago", "", "", "", "", "", "", "",
        "trunk", "127.0.0.1", "",
        "tls",
        "",                      # no CA file: pin the fingerprint instead ...
        "12:34",                 # ... rejected on the spot ...
        "AB:" * 31 + "AB",       # ... and asked again
        "",                      # SRTP: required
        "127.0.0.1",             # this box's address, as the PBX reaches it
        "",                      # SIP port: 5061
        "201", "200", "202", "",
        "127.0.0.1", "8443", "", "appliance.local",
        "", ADMIN_PASSWORD, ADMIN_PASSWORD,
        "y",
    ]
    done = subprocess.run([*APPLIANCE, "provision", "--root", str(root)], input="\n".join(typed) + "\n",
                          capture_output=True, text=True, timeout=120, cwd=ROOT, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr
    assert "64 hexadecimal digits" in done.stdout + done.stderr
    s = load_settings(config_of(root))
    assert (s.sip.transport, s.sip.srtp, s.sip.bind_port, s.sip.tls_pbx_sha256) == ("tls", "required", 5061, "ab" * 32)
    assert "127.0.0.1" in tls.read_pair(s.console.tls_cert, s.console.tls_key).names


@pytest.mark.slow
@pytest.mark.models
def test_appliance_runs_with_the_provisioned_config(root: Path, answers, write_answers) -> None:
    answers["pbx"] = {"mode": "trunk", "address": "127.0.0.1", "bind_host": "127.0.0.1",
                      "bind_port": answers["pbx"]["bind_port"]}
    assert provision(root, write_answers(answers)).returncode == 0
    env = {k: v for k, v in os.environ.items() if k not in ("APPLIANCE_CONFIG", "NOTIFY_SOCKET")}
    proc = subprocess.Popen([*APPLIANCE, "--config", str(config_of(root)), "run", "--no-progress"], cwd=root,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
    seen: list[str] = []
    try:
        deadline = time.monotonic() + 240
        assert proc.stderr is not None
        for line in proc.stderr:
            seen.append(line)
            if '"appliance.ready"' in line or time.monotonic() > deadline:
                break
        assert any('"appliance.ready"' in line for line in seen), "".join(seen[-30:])
        ready = json.loads(next(line for line in seen if '"appliance.ready"' in line))
        assert ready["config"] == str(config_of(root))
        proc.send_signal(signal.SIGTERM)
        rest, _ = proc.communicate(timeout=60)
        assert proc.returncode == 0, "".join(seen[-20:]) + (rest or "")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
