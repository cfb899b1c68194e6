"""`appliance doctor`'s "registration accepted" check against kamailio, a digest-checking SIPp
registrar, and a dead port."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from appliance.config import Settings, SipSettings
from appliance.setup.doctor import CHECKS, load_providers
from appliance.setup.sip_checks import check_registration, doctor_checks
from tests.telephony.conftest import DATA, Recorder, free_udp_port
from tests.telephony.peers import kamailio


def settings(registrar: str, **sip: object) -> Settings:
    fields: dict[str, object] = {"mode": "register", "registrar": registrar, "username": "100", "extension": "100"}
    fields.update(sip)
    return Settings(sip=SipSettings(**fields))


def test_the_doctor_finds_the_check_after_the_pbx_check() -> None:
    assert [(n, a) for n, _, a in doctor_checks()] == [("registration", "pbx"), ("voice-path", "registration")]
    load_providers()
    names = [n for n, _ in CHECKS]
    assert names.index("registration") == names.index("pbx") + 1
    assert names.index("voice-path") == names.index("registration") + 1


def test_trunk_mode_skips() -> None:
    (r,) = check_registration(Settings())
    assert r.status == "skip"


async def test_kamailio_accepts_and_the_running_appliance_is_seen(make_edge, tmp_path: Path) -> None:
    async with kamailio(tmp_path) as kport:
        s = settings(f"127.0.0.1:{kport}")
        (before,) = await asyncio.to_thread(check_registration, s)
        edge = await make_edge(Recorder(), mode="register", registrar=f"127.0.0.1:{kport}", username="100",
                               extension="100", register_expires=60)
        await asyncio.wait_for(edge.registration.registered.wait(), 10)
        s = settings(f"127.0.0.1:{kport}", bind_port=edge.port)
        (after,) = await asyncio.to_thread(check_registration, s)
        (again,) = await asyncio.to_thread(check_registration, s)  # a query changes no binding
    assert before.status == "pass" and "200 OK" in before.detail and "not registered" in before.detail, before
    assert after.status == "pass" and "the appliance is registered now" in after.detail, after
    assert again.status == "pass" and "registered now" in again.detail


def test_dead_port_fails_with_a_hint() -> None:
    (r,) = check_registration(settings(f"127.0.0.1:{free_udp_port()}"))
    assert r.status == "fail" and r.fix and "sip.registrar" in r.fix, r
    assert "unreachable" in r.detail or "no answer" in r.detail


def test_unreadable_password_file_fails(tmp_path: Path) -> None:
    (r,) = check_registration(settings("127.0.0.1:5", password_file=tmp_path / "missing.pw"))
    assert r.status == "fail" and "password_file" in r.detail and r.fix


@pytest.mark.parametrize(("password", "status", "hint"), [
    ("secret-pw", "pass", None),
    ("wrong-pw", "fail", "rejected"),
    (None, "fail", "set sip.password_file"),
])
async def test_digest_registrar(tmp_path: Path, password: str | None, status: str, hint: str | None) -> None:
    """SIPp plays a registrar that challenges and checks the digest (user 100, password secret-pw)."""
    port = free_udp_port()
    uas = await asyncio.create_subprocess_exec(
        "sipp", "-nostdin", "-sf", str(DATA / "uas_register_auth.xml"), "-i", "127.0.0.1", "-p", str(port),
        "-m", "1", "-timeout", "20s", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    try:
        await asyncio.sleep(0.3)
        pw = None
        if password is not None:
            pw = tmp_path / "sip.pw"
            pw.write_text(password + "\n")
        (r,) = await asyncio.to_thread(check_registration, settings(f"127.0.0.1:{port}", password_file=pw))
    finally:
        if uas.returncode is None:
            uas.kill()
        await uas.communicate()
    assert r.status == status, r
    if hint:
        assert r.fix and hint in r.fix, r
    else:
        assert "with the configured password" in r.detail
