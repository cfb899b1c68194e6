"""Outbound calls through kamailio (the PBX stand-in) to a baresip registered behind it:
answered (audio both ways), busy, no answer (the appliance gives up; the PBX gives up), unknown."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest

from appliance.calls import AudioIn
from tests.telephony.audio import dominant_hz, read_wav, recordings, tone, write_wav
from tests.telephony.conftest import Recorder
from tests.telephony.peers import kamailio, registered_phone

PHONE_HZ = 700.0
APPLIANCE_HZ = 1000.0


async def trunk_edge(make_edge, kport: int, handler=None):  # noqa: ANN001, ANN201
    return await make_edge(handler or Recorder(), outbound_proxy=f"127.0.0.1:{kport}")


async def test_outbound_answered_audio_both_ways(make_edge, tmp_path: Path) -> None:
    async with kamailio(tmp_path) as kport:
        phone = await registered_phone(tmp_path / "p201", kport, "201",
                                       source=write_wav(tmp_path / "phone.wav", tone(PHONE_HZ, 60)))
        try:
            edge = await trunk_edge(make_edge, kport)
            result = await edge.place_call("201", timeout_s=15)
            assert (result.outcome, result.status) == ("answered", 200), (result, phone.tail())
            call = result.call
            assert call is not None and call.info.direction == "outbound" and call.info.remote_number == "201"
            call.send_audio(tone(APPLIANCE_HZ, 1.5))
            heard = []
            async with asyncio.timeout(10):
                while len(heard) < 75:  # 1.5 s of the phone's audio
                    ev = await call.recv()
                    if isinstance(ev, AudioIn):
                        heard.append(ev.pcm)
            for _ in range(100):
                if call.pending_audio_ms() == 0:
                    break
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.3)
            await call.hangup()
            await phone.wait_for("terminated", limit_s=10)  # the BYE reached the phone
        finally:
            await phone.stop()
    assert near(dominant_hz(np.frombuffer(b"".join(heard[25:]), "<i2")), PHONE_HZ)  # we hear the phone
    (rec,) = recordings(phone.rec)
    assert near(dominant_hz(read_wav(rec)), APPLIANCE_HZ)  # the phone heard us
    assert not edge.calls


def near(hz: float | None, want: float) -> bool:
    return hz is not None and abs(hz - want) < 30


async def test_outbound_busy(make_edge, tmp_path: Path) -> None:
    async with kamailio(tmp_path) as kport:
        rec = Recorder()
        edge = await trunk_edge(make_edge, kport, rec)
        phone = await registered_phone(tmp_path / "p201", kport, "201", extra_config="call_max_calls 1\n")
        try:
            phone.command(f"/dial sip:appliance@127.0.0.1:{edge.port}")  # the phone is on another call
            await asyncio.wait_for(rec.answered.wait(), 10)
            await phone.wait_for("Call established", limit_s=10)
            result = await edge.place_call("201", timeout_s=10)
        finally:
            await phone.stop()
    assert (result.outcome, result.status, result.call) == ("busy", 486, None), phone.tail()
    await asyncio.wait_for(rec.ended.wait(), 5)


@pytest.mark.parametrize(("ring_timeout_s", "timeout_s", "status"), [
    (120, 3.0, 487),  # the appliance stops ringing (CANCEL)
    (3, 20.0, 408),  # the PBX stops ringing
])
async def test_outbound_no_answer(make_edge, tmp_path: Path, ring_timeout_s: int, timeout_s: float,
                                  status: int) -> None:
    async with kamailio(tmp_path, ring_timeout_s=ring_timeout_s) as kport:
        phone = await registered_phone(tmp_path / "p201", kport, "201", answer="manual")
        try:
            edge = await trunk_edge(make_edge, kport)
            result = await edge.place_call("201", timeout_s=timeout_s)
            await phone.wait_for("Incoming call", limit_s=5)  # it did ring
        finally:
            await phone.stop()
    assert (result.outcome, result.status, result.call) == ("no-answer", status, None), phone.tail()
    assert not edge.calls


async def test_outbound_unknown_extension(make_edge, tmp_path: Path) -> None:
    async with kamailio(tmp_path) as kport:
        edge = await trunk_edge(make_edge, kport)
        result = await edge.place_call("209", timeout_s=10)
    assert (result.outcome, result.status) == ("rejected", 404)
