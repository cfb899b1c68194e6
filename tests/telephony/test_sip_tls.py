"""SIP over TLS with real peers: kamailio (TLS module) as the PBX, baresip over TLS as the caller;
the appliance's edge registered over TLS, checking the PBX's certificate."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from appliance.config import SipSettings
from appliance.telephony.edge import SipEdge
from appliance.telephony.siptls import FramingError, take_message
from tests.telephony.conftest import Recorder, free_udp_port
from tests.telephony.tlspeers import Certs, kamailio_tls, make_certs, tls_phone


def settings(pbx_port: int, certs: Certs, **over: object) -> SipSettings:
    fields: dict[str, object] = {
        "bind_port": free_udp_port(), "rtp_port_min": 30000, "rtp_port_max": 39999, "mode": "register",
        "registrar": f"127.0.0.1:{pbx_port}", "username": "2100", "extension": "2100", "register_expires": 60,
        "transport": "tls", "tls_cert": certs.box.cert, "tls_key": certs.box.key, "tls_ca": certs.ca}
    fields.update(over)
    return SipSettings(**fields)


@pytest.mark.parametrize("srtp", ["required", "optional"])
async def test_a_caller_over_tls_and_srtp_reaches_the_appliance_registered_over_tls(tmp_path: Path, srtp: str) -> None:
    certs = await asyncio.to_thread(make_certs, tmp_path / "certs")
    async with kamailio_tls(tmp_path, certs) as pbx:
        rec = Recorder(play=bytes(320) * 100)
        edge = SipEdge(settings(pbx.tls_port, certs, srtp=srtp), rec)
        await edge.start()
        try:
            await asyncio.wait_for(edge.registration.registered.wait(), 10)
            phone = tls_phone(tmp_path / "caller", pbx, certs, "5550101", srtp=True)
            await phone.start()
            try:
                await phone.wait_for("200 OK", limit_s=15)
                phone.command("/dial 2100")
                await asyncio.wait_for(rec.answered.wait(), 15)
                await asyncio.sleep(2)
                phone.command("/hangup")
                await asyncio.wait_for(rec.ended.wait(), 10)
            finally:
                await phone.stop()
        finally:
            await edge.stop()
    (call,) = rec.calls
    assert call.info.local_number == "2100" and call.info.remote_number == "5550101"
    assert list(rec.hangups.values()) == ["remote-bye"]
    assert sum(rec.audio.values()) > 50  # RTP heard from the phone
    media = call.media  # type: ignore[attr-defined]
    assert media.srtp is not None and media.srtp.unprotected > 50 and media.srtp.protected > 50
    assert media.srtp_failed == 0


async def test_a_plain_rtp_offer_is_refused_when_srtp_is_required(tmp_path: Path) -> None:
    certs = await asyncio.to_thread(make_certs, tmp_path / "certs")
    async with kamailio_tls(tmp_path, certs) as pbx:
        rec = Recorder()
        edge = SipEdge(settings(pbx.tls_port, certs, srtp="required"), rec)
        await edge.start()
        try:
            await asyncio.wait_for(edge.registration.registered.wait(), 10)
            phone = tls_phone(tmp_path / "caller", pbx, certs, "5550102", srtp=False)  # TLS, plain RTP
            await phone.start()
            try:
                await phone.wait_for("200 OK", limit_s=15)
                start = len(phone.out)
                phone.command("/dial 2100")
                line = await phone.wait_for("488", limit_s=15, start=start)
            finally:
                await phone.stop()
        finally:
            await edge.stop()
    assert "Not Acceptable" in line or "488" in line
    assert not rec.calls


@pytest.mark.parametrize("check", ["ca", "pin"])
async def test_a_pbx_with_a_wrong_certificate_is_refused_with_a_clear_error(tmp_path: Path, check: str) -> None:
    certs = await asyncio.to_thread(make_certs, tmp_path / "certs")
    over: dict[str, object] = {"tls_ca": certs.ca} if check == "ca" else {"tls_ca": None,
                                                                         "tls_pbx_sha256": certs.pbx.sha256}
    async with kamailio_tls(tmp_path, certs, server=certs.rogue) as pbx:  # someone else's certificate
        edge = SipEdge(settings(pbx.tls_port, certs, **over), Recorder())
        with capture_logs() as logs:
            await edge.start()
            try:
                with pytest.raises(TimeoutError):
                    await asyncio.wait_for(edge.registration.registered.wait(), 7)
            finally:
                await edge.stop()
    refused = [e for e in logs if e["event"] == "sip.tls_refused"]
    assert refused, [e["event"] for e in logs]
    reason = refused[0]["reason"]
    assert ("failed verification" in reason) if check == "ca" else (certs.rogue.sha256 in reason), reason
    assert "sip.tls_ca" in refused[0]["fix"] or "sip.tls_pbx_sha256" in refused[0]["fix"]
    assert edge.registration is not None and edge.registration.count == 0


async def test_the_pinned_pbx_certificate_is_accepted_without_a_ca(tmp_path: Path) -> None:
    certs = await asyncio.to_thread(make_certs, tmp_path / "certs")
    async with kamailio_tls(tmp_path, certs, server=certs.rogue) as pbx:  # self-signed, but pinned
        edge = SipEdge(settings(pbx.tls_port, certs, tls_ca=None, tls_pbx_sha256=certs.rogue.sha256), Recorder())
        await edge.start()
        try:
            await asyncio.wait_for(edge.registration.registered.wait(), 10)
        finally:
            await edge.stop()


def test_tls_settings_name_what_is_missing() -> None:
    with pytest.raises(ValueError, match="tls_ca"):
        SipSettings(transport="tls")
    with pytest.raises(ValueError, match='needs transport = "tls"'):
        SipSettings(srtp="required")
    with pytest.raises(ValueError, match="64 hexadecimal"):
        SipSettings(transport="tls", tls_pbx_sha256="abc")
    assert SipSettings(transport="tls", tls_pbx_sha256="AB:" * 31 + "AB").tls_pbx_sha256 == "ab" * 32


def test_stream_framing_takes_whole_messages_and_refuses_what_cannot_be_framed() -> None:
    one = b"OPTIONS sip:a SIP/2.0\r\nContent-Length: 4\r\n\r\nbody"
    buf = bytearray(b"\r\n\r\n" + one + one[:10])
    assert take_message(buf) == one and take_message(buf) is None and bytes(buf) == one[:10]
    buf += one[10:]
    assert take_message(buf) == one and not buf
    compact = bytearray(b"BYE sip:a SIP/2.0\r\nl: 0\r\n\r\n")
    assert take_message(compact) == b"BYE sip:a SIP/2.0\r\nl: 0\r\n\r\n"
    with pytest.raises(FramingError, match="Content-Length"):
        take_message(bytearray(b"BYE sip:a SIP/2.0\r\nVia: x\r\n\r\n"))
    with pytest.raises(FramingError, match="too large"):
        take_message(bytearray(b"BYE sip:a SIP/2.0\r\nContent-Length: 99999\r\n\r\n"), max_bytes=4096)
    with pytest.raises(FramingError, match="too large"):
        take_message(bytearray(b"X" * 5000), max_bytes=4096)




async def test_a_call_placed_over_tls_reaches_a_desk_phone_with_srtp(tmp_path: Path) -> None:
    """Outbound calls (pages, transfers) go through the PBX over TLS and offer SRTP; the desk phone
    answers with its key and audio flows both ways encrypted."""
    certs = await asyncio.to_thread(make_certs, tmp_path / "certs")
    async with kamailio_tls(tmp_path, certs) as pbx:
        edge = SipEdge(settings(pbx.tls_port, certs, srtp="required"), Recorder())
        await edge.start()
        phone = tls_phone(tmp_path / "desk", pbx, certs, "201", srtp=True)
        try:
            await asyncio.wait_for(edge.registration.registered.wait(), 10)
            await phone.start()
            await phone.wait_for("200 OK", limit_s=15)
            placed = await edge.place_call("201", timeout_s=15)
            assert placed.outcome == "answered" and placed.call is not None, (placed, phone.tail())
            placed.call.send_audio(bytes(320) * 50)
            await asyncio.sleep(2.0)
            srtp = placed.call.media.srtp
            await placed.call.release("done")
        finally:
            await phone.stop()
            await edge.stop()
    assert srtp is not None and srtp.unprotected > 40 and srtp.protected > 40 and srtp.failed == 0
    assert "Call established" in phone.tail(40)
