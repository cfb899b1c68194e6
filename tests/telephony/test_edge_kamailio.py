"""The appliance registered to kamailio (the PBX stand-in); a caller reaches its extension."""

from __future__ import annotations

import asyncio

import pytest

from tests.telephony.conftest import DATA, Recorder, free_udp_port, sipp
from tests.telephony.peers import kamailio


async def test_register_and_receive_call_through_kamailio(make_edge, tmp_path) -> None:
    pw = tmp_path / "pw"
    pw.write_text("unused-by-the-sample-config")
    async with kamailio(tmp_path) as kport:
        rec = Recorder()
        edge = await make_edge(rec, mode="register", registrar=f"127.0.0.1:{kport}", username="100",
                               extension="100", password_file=pw, register_expires=60)
        await asyncio.wait_for(edge.registration.registered.wait(), 10)
        rc, out = await sipp(f"127.0.0.1:{kport}", "-sf", str(DATA / "uac_call_proxy.xml"), "-s", "100",
                             "-m", "1", "-d", "1000", "-trace_msg", "-i", "127.0.0.1",
                             "-p", str(free_udp_port()), "-mp", str(free_udp_port()),
                             limit_s=20, cwd=tmp_path)
        assert rc == 0, out
        await asyncio.wait_for(rec.ended.wait(), 5)
        assert list(rec.hangups.values()) == ["remote-bye"]
        (call,) = rec.calls
        assert call.info.local_number == "100" and call.info.remote_number == "5551"


@pytest.mark.slow
async def test_registration_backs_off_then_survives_pbx_restart(make_edge, tmp_path) -> None:
    kport = free_udp_port()
    edge = await make_edge(Recorder(), mode="register", registrar=f"127.0.0.1:{kport}", username="100",
                           extension="100", register_expires=60)
    await asyncio.sleep(6)  # the PBX is down: REGISTER times out (5 s), back-off begins
    assert not edge.registration.registered.is_set() and edge.registration.failures >= 1
    async with kamailio(tmp_path, kport, max_expires_s=10):  # grants 10 s: refreshes every 5 s
        await asyncio.wait_for(edge.registration.registered.wait(), 15)
    first = edge.registration.count
    async with kamailio(tmp_path, kport, max_expires_s=10):  # restarted PBX, bindings lost: registered again
        edge.registration.registered.clear()
        await asyncio.wait_for(edge.registration.registered.wait(), 60)
    assert edge.registration.count > first
