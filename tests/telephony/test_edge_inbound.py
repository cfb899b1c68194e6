"""Inbound calls against SIPp on loopback: answer, BYE each side, CANCEL, re-INVITE, capacity."""

from __future__ import annotations

import asyncio

import pytest

from tests.telephony.conftest import Recorder, sipp, sipp_uac


async def test_call_answered_and_remote_bye(make_edge) -> None:
    rec = Recorder()
    edge = await make_edge(rec)
    rc, out = await sipp(*sipp_uac(edge, "uac_call.xml", "-d", "1500"))
    assert rc == 0, out
    await asyncio.wait_for(rec.ended.wait(), 5)
    (cid,) = rec.hangups
    assert rec.hangups[cid] == "remote-bye"
    assert not edge.calls


async def test_appliance_hangs_up_with_bye(make_edge) -> None:
    rec = Recorder(hangup_after_s=1.0)
    edge = await make_edge(rec)
    rc, out = await sipp(*sipp_uac(edge, "uac_wait_bye.xml"), limit_s=20)
    assert rc == 0, out
    assert list(rec.hangups.values()) == ["local"]
    assert not edge.calls


async def test_cancel_before_answer_gets_487(make_edge) -> None:
    rec = Recorder()
    edge = await make_edge(rec, ring_delay_ms=3000)
    rc, out = await sipp(*sipp_uac(edge, "uac_cancel.xml"), limit_s=20)
    assert rc == 0, out
    assert not rec.answered.is_set()  # the handler never ran
    assert not edge.calls and not edge._pending


async def test_reinvite_hold_resume_and_info_dtmf(make_edge) -> None:
    rec = Recorder()
    edge = await make_edge(rec)
    rc, out = await sipp(*sipp_uac(edge, "uac_reinvite.xml"), limit_s=20)
    assert rc == 0, out
    await asyncio.wait_for(rec.ended.wait(), 5)
    assert list(rec.digits.values()) == ["7"]
    assert list(rec.hangups.values()) == ["remote-bye"]


async def test_ten_concurrent_calls_and_the_eleventh_is_busy(make_edge) -> None:
    rec = Recorder()
    edge = await make_edge(rec, max_calls=10)
    held = asyncio.create_task(
        sipp(*sipp_uac(edge, "uac_call.xml", "-d", "6000", "-l", "10", "-r", "20", calls=10), limit_s=40))
    for _ in range(200):
        if len(edge.calls) == 10:
            break
        await asyncio.sleep(0.05)
    assert len(edge.calls) == 10
    rc_busy, out_busy = await sipp(*sipp_uac(edge, "uac_busy.xml"), limit_s=15)
    assert rc_busy == 0, out_busy
    rc, out = await held
    assert rc == 0, out
    assert len(rec.hangups) == 10 and set(rec.hangups.values()) == {"remote-bye"}


@pytest.mark.slow
async def test_a_call_held_past_every_timer_stays_up(make_edge) -> None:
    """Held more than three times the RTP timeout (10 s here, 30 s by default) and twice the
    Min-SE (15 s here, 90 s by default): no timer ends a call that is alive. (This caller offers
    no session timer; refreshes are tested in test_edge_timeouts.py.)"""
    rec = Recorder()
    edge = await make_edge(rec, rtp_timeout_s=10.0, session_min_se_s=15)
    # SIPp echoes the appliance's RTP: a caller that sends nothing is ended after rtp_timeout_s
    rc, out = await sipp(*sipp_uac(edge, "uac_call.xml", "-d", "32000", "-rtp_echo"), limit_s=60)
    assert rc == 0, out  # SIPp's BYE after 32 s found the call still up (200, not 481)
    assert list(rec.hangups.values()) == ["remote-bye"]
