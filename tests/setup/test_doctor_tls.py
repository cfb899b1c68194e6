"""`appliance doctor` with encrypted calls: the "encryption" check in each configuration, and the
PBX and registration checks over TLS against kamailio's TLS module (the right CA, a pinned
certificate, someone else's certificate, nothing listening), on loopback."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import pytest

from appliance.config import Settings, SipSettings, load_settings
from appliance.setup.doctor import check_encryption, check_pbx, check_ports
from appliance.setup.sip_checks import check_registration, doctor_checks
from appliance.setup.voice_probe import START_HINT
from appliance.telephony.edge import SipEdge
from tests.setup.conftest import config_of, free_port, provision, run_cli
from tests.telephony.conftest import Recorder
from tests.telephony.tlspeers import Certs, kamailio_tls, make_certs


def tls_settings(tmp_path: Path, certs: Certs, port: int, **sip: object) -> Settings:
    fields: dict[str, object] = {
        "mode": "register", "registrar": f"127.0.0.1:{port}", "username": "2100", "extension": "2100",
        "transport": "tls", "tls_ca": certs.ca, "tls_cert": certs.box.cert, "tls_key": certs.box.key,
        "srtp": "required", "bind_port": free_port(socket.SOCK_STREAM), "register_expires": 60,
        "rtp_port_min": 30000, "rtp_port_max": 39999}
    fields.update(sip)
    return Settings(paths={"data_dir": tmp_path / "data"}, sip=SipSettings(**fields))


# -- the encryption check -------------------------------------------------------------------------

def test_plain_udp_on_loopback_is_skipped_as_nothing_crosses_the_lan() -> None:
    (r,) = check_encryption(Settings())  # the embedded defaults: SIP on 127.0.0.1
    assert r.status == "skip" and "loopback" in r.detail, r


def test_plain_udp_fails_naming_what_an_eavesdropper_on_the_lan_gets_and_the_keys_that_fix_it() -> None:
    (r,) = check_encryption(Settings(sip=SipSettings(bind_host="10.20.0.5")))
    assert r.check == "encryption" and r.status == "fail", r
    assert "not encrypted (SIP over UDP, plain RTP)" in r.detail
    assert "caller's number" in r.detail and "record both sides of every call" in r.detail
    assert r.fix and 'transport = "tls"' in r.fix and "tls_ca" in r.fix and "tls_pbx_sha256" in r.fix
    assert 'srtp = "required"' in r.fix and "Encrypted calls: SIP over TLS and SRTP" in r.fix
    assert "fix: " in r.line()


def test_tls_without_srtp_fails_because_the_audio_is_still_in_the_clear(tmp_path: Path) -> None:
    s = Settings(sip=SipSettings(transport="tls", tls_ca=tmp_path / "ca.pem", srtp="off"))
    (r,) = check_encryption(s)
    assert r.status == "fail", r
    assert "SIP is encrypted" in r.detail and f"checked against {tmp_path / 'ca.pem'}" in r.detail
    assert "call audio is plain RTP" in r.detail and "record both sides" in r.detail
    assert r.fix and 'srtp = "required"' in r.fix and "media_encryption=sdes" in r.fix


def test_optional_srtp_fails_because_a_call_in_the_clear_is_still_taken() -> None:
    s = Settings(sip=SipSettings(transport="tls", tls_pbx_sha256="ab" * 32, srtp="optional"))
    (r,) = check_encryption(s)
    assert r.status == "fail" and "pinned by SHA-256" in r.detail and "plain RTP" in r.detail, r
    assert r.fix and 'srtp = "required"' in r.fix and "media_encryption_optimistic=no" in r.fix


def test_tls_with_srtp_required_passes(tmp_path: Path) -> None:
    s = Settings(sip=SipSettings(transport="tls", tls_ca=tmp_path / "ca.pem", tls_pbx_sha256="ab" * 32,
                                 srtp="required"))
    (r,) = check_encryption(s)
    assert r.status == "pass", r
    assert "SIP is encrypted (TLS 1.2 or later" in r.detail and "pinned by SHA-256" in r.detail
    assert "SRTP" in r.detail and "488" in r.detail


def test_the_doctor_command_prints_the_encryption_line_with_its_fix(write_config) -> None:
    done = run_cli("--config", str(write_config('[sip]\nbind_host = "0.0.0.0"\n')), "doctor", "--only", "encryption")
    assert done.returncode == 1, done.stdout + done.stderr
    (line,) = [x for x in done.stdout.splitlines() if x.startswith("FAIL")]
    assert line.split()[1] == "encryption" and 'fix: turn on SIP over TLS and SRTP at the PBX' in line


# -- over TLS: the PBX's certificate as the SIP edge checks it ------------------------------------

async def test_the_pbx_and_registration_checks_go_over_tls_and_pass_with_the_right_ca_or_pin(tmp_path: Path) -> None:
    certs = await asyncio.to_thread(make_certs, tmp_path / "certs")
    async with kamailio_tls(tmp_path, certs) as pbx:
        by_ca = tls_settings(tmp_path, certs, pbx.tls_port)
        (probe,) = await asyncio.to_thread(check_pbx, by_ca)
        (query,) = await asyncio.to_thread(check_registration, by_ca)
        pinned = tls_settings(tmp_path, certs, pbx.tls_port, tls_ca=None, tls_pbx_sha256=certs.pbx.sha256)
        (pin_probe,) = await asyncio.to_thread(check_pbx, pinned)
        # The appliance itself registered over TLS: the doctor's query sees its binding.
        edge = SipEdge(by_ca.sip, Recorder())
        await edge.start()
        try:
            assert edge.registration is not None
            await asyncio.wait_for(edge.registration.registered.wait(), 10)
            (registered,) = await asyncio.to_thread(check_registration, by_ca)
        finally:
            await edge.stop()
    where = f"127.0.0.1:{pbx.tls_port}"
    assert probe.status == "pass", probe
    assert probe.detail.startswith(f"{where} over TLSv1.") and "(CN=test pbx)" in probe.detail
    assert f"verified against {certs.ca} (chain and address)" in probe.detail
    assert "answered OPTIONS: SIP/2.0 200" in probe.detail
    assert query.status == "pass" and "accepted a REGISTER for 2100" in query.detail, query
    assert "over TLSv1." in query.detail and "not registered at the moment" in query.detail
    assert pin_probe.status == "pass" and "matches the pinned SHA-256" in pin_probe.detail, pin_probe
    assert registered.status == "pass" and "the appliance is registered now" in registered.detail, registered


@pytest.mark.parametrize("check", ["ca", "pin"])
async def test_a_pbx_showing_someone_elses_certificate_is_named_with_the_fix(tmp_path: Path, check: str) -> None:
    certs = await asyncio.to_thread(make_certs, tmp_path / "certs")
    async with kamailio_tls(tmp_path, certs, server=certs.rogue) as pbx:
        over: dict[str, object] = {} if check == "ca" else {"tls_ca": None, "tls_pbx_sha256": certs.pbx.sha256}
        s = tls_settings(tmp_path, certs, pbx.tls_port, **over)
        (probe,) = await asyncio.to_thread(check_pbx, s)
        (query,) = await asyncio.to_thread(check_registration, s)
    rogue = ":".join(certs.rogue.sha256[i:i + 2] for i in range(0, 64, 2)).upper()
    for r in (probe, query):
        assert r.status == "fail", r
        assert "CN=rogue pbx" in r.detail and rogue in r.detail, r.detail
        if check == "ca":
            assert "the PBX certificate failed verification" in r.detail and "self-signed" in r.detail
            assert r.fix and "sip.tls_ca" in r.fix and "sip.tls_pbx_sha256" in r.fix
        else:
            assert "not the pinned" in r.detail
            assert r.fix and "set sip.tls_pbx_sha256 to the new one's fingerprint" in r.fix


def test_nothing_taking_tls_at_the_pbx_port_is_a_connection_failure_not_a_udp_timeout(tmp_path: Path) -> None:
    certs = make_certs(tmp_path / "certs")
    s = tls_settings(tmp_path, certs, free_port(socket.SOCK_STREAM))
    (probe,) = check_pbx(s)
    (query,) = check_registration(s)
    for r in (probe, query):
        assert r.status == "fail" and "over TCP" in r.detail and "UDP" not in r.detail, r
        assert r.fix and "5061" in r.fix and "transport-tls" in r.fix


def test_without_a_certificate_yet_the_doctor_offers_a_temporary_one_and_writes_nothing(tmp_path: Path) -> None:
    certs = make_certs(tmp_path / "certs")
    s = tls_settings(tmp_path, certs, free_port(socket.SOCK_STREAM), tls_cert=None, tls_key=None)
    (probe,) = check_pbx(s)
    assert probe.status == "fail" and "a temporary one was offered" in probe.detail, probe
    assert not (tmp_path / "data").exists()  # the service generates the console's pair, as its own user


def test_with_tls_the_sip_port_is_checked_as_tcp_and_the_voice_call_is_tried_over_tls(tmp_path: Path) -> None:
    certs = make_certs(tmp_path / "certs")
    s = tls_settings(tmp_path, certs, 5061)
    port = next(r for r in check_ports(s) if r.check == "port.sip")
    assert port.status == "pass" and port.detail.startswith("TCP (SIP over TLS) 127.0.0.1:"), port
    voice = next(fn for name, fn, _ in doctor_checks() if name == "voice-path")
    (r,) = voice(s)
    # Nothing listens (the service is not running): the test call over TLS is not tried, and says so.
    assert r.status == "unknown" and "not running" in r.detail and r.fix == START_HINT, r


async def test_a_provisioned_tls_config_passes_the_doctor_against_kamailio(tmp_path: Path, root: Path, answers,
                                                                           write_answers) -> None:
    certs = await asyncio.to_thread(make_certs, tmp_path / "certs")
    (root / "srv").mkdir()
    (root / "srv" / "pbx-ca.pem").write_bytes(certs.ca.read_bytes())
    async with kamailio_tls(tmp_path, certs) as pbx:
        answers["pbx"] |= {"address": f"127.0.0.1:{pbx.tls_port}", "transport": "tls", "tls_ca": "/srv/pbx-ca.pem",
                           "bind_port": free_port(socket.SOCK_STREAM)}
        done = await asyncio.to_thread(provision, root, write_answers(answers))
        assert done.returncode == 0, done.stderr
        doctor = await asyncio.to_thread(run_cli, "--config", str(config_of(root)), "doctor", "--only", "pbx",
                                         "--only", "registration", "--only", "encryption", "--only", "ports")
    assert doctor.returncode == 0, doctor.stdout + doctor.stderr
    rows = {line.split()[1]: line for line in doctor.stdout.splitlines() if line.startswith(("PASS", "FAIL"))}
    assert set(rows) == {"pbx", "registration", "encryption", "port.sip", "port.console"}, doctor.stdout
    assert all(line.startswith("PASS") for line in rows.values()), doctor.stdout
    assert str(root / "etc" / "appliance" / "pbx-ca.pem") in rows["pbx"]
    assert load_settings(config_of(root)).sip.srtp == "required"
