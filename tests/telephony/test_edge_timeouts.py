"""Lines are freed for callers who vanish (issue 21): RTP silence, a call too long, an RFC 4028
session timer not refreshed, a 200 never ACKed. Raw SIP over loopback against the running edge,
with small timeouts; every wait is bounded."""

from __future__ import annotations

import asyncio

from appliance.telephony.rtp import RtpPacket
from appliance.telephony.sdp import parse_sdp
from tests.telephony.conftest import Recorder
from tests.telephony.rawsip import RawCaller


async def _ended(rec: Recorder, n: int, limit_s: float) -> None:
    async with asyncio.timeout(limit_s):
        while len(rec.hangups) < n:
            await asyncio.wait_for(rec.ended.wait(), limit_s)
            rec.ended.clear()


async def _ended_by_bye(peer: RawCaller, rec: Recorder, reason: str) -> None:
    """The appliance sends the (only) call's BYE; answered, the call ends with `reason`."""
    peer.reply(await peer.recv(method="BYE", limit_s=4))
    await _ended(rec, 1, limit_s=3)
    assert rec.hangups == {peer.call_id: reason}
    peer.close()


async def test_ten_vanished_callers_free_their_lines_and_call_eleven_is_answered(make_edge) -> None:
    rec = Recorder()
    edge = await make_edge(rec, max_calls=10, rtp_timeout_s=1.0)
    peers = [RawCaller(edge.port, f"vanish-{i}") for i in range(10)]
    for p in peers:
        await p.invite()  # answered and ACKed; then nothing: no RTP, no BYE, no answers
    calls = list(edge.calls.values())
    eleventh = RawCaller(edge.port, "vanish-11")
    eleventh.send("INVITE", body=eleventh.sdp())
    await eleventh.recv(status=486)  # all ten lines taken
    await _ended(rec, 10, limit_s=10)
    assert set(rec.hangups.values()) == {"rtp-timeout"} and len(rec.hangups) == 10
    for p in peers:  # each vanished caller was sent a BYE
        await p.recv(method="BYE", limit_s=3)
    await asyncio.wait_for(asyncio.gather(*(c.ended.wait() for c in calls)), 5)  # BYEs nobody answers
    assert not edge.calls
    again = RawCaller(edge.port, "vanish-11b")
    await again.invite()
    assert "vanish-11b" in edge.calls
    for p in [*peers, eleventh, again]:
        p.close()


async def test_rtp_keeps_the_call_up_and_its_silence_ends_it(make_edge) -> None:
    rec = Recorder()
    edge = await make_edge(rec, rtp_timeout_s=1.0)
    peer = RawCaller(edge.port, "rtp-flow")
    ok = await peer.invite()
    target = (parse_sdp(ok.body).host, parse_sdp(ok.body).port)
    for i in range(100):  # 2 s of RTP, twice the timeout
        peer.rtp.sendto(RtpPacket(0, i, 160 * i, 7, bytes(160)).build(), target)
        await asyncio.sleep(0.02)
    assert "rtp-flow" in edge.calls and not rec.hangups
    await _ended(rec, 1, limit_s=5)
    assert rec.hangups == {"rtp-flow": "rtp-timeout"}
    peer.close()


async def test_hold_suspends_the_rtp_timeout_and_max_call_length_ends_the_call(make_edge) -> None:
    rec = Recorder()
    edge = await make_edge(rec, rtp_timeout_s=0.5, max_call_s=3.0)
    peer = RawCaller(edge.port, "held")
    await peer.invite()
    peer.cseq = 2
    peer.send("INVITE", body=peer.sdp().replace("a=rtpmap:101 telephone-event/8000\r\n",
                                                "a=rtpmap:101 telephone-event/8000\r\na=inactive\r\n"))
    await peer.recv(status=200, cseq_method="INVITE")
    peer.ack()
    await asyncio.sleep(1.5)  # three RTP timeouts on hold, no RTP: still up
    assert "held" in edge.calls and not rec.hangups
    await _ended_by_bye(peer, rec, "max-duration")


async def test_unacked_200_is_retransmitted_then_bye_and_the_pipeline_never_starts(make_edge) -> None:
    rec = Recorder()
    edge = await make_edge(rec, timer_t1_ms=50)  # 64*T1 = 3.2 s
    peer = RawCaller(edge.port, "no-ack")
    await peer.invite(ack=False)
    call = edge.calls["no-ack"]
    bye = await peer.recv(method="BYE", limit_s=6)
    oks = [m for m in peer.inbox if m.status == 200 and m.cseq[1] == "INVITE"]
    assert 5 <= len(oks) <= 14  # T1 doubling up to T2 = 8*T1 for 64*T1: ~10 sends
    peer.reply(bye)
    await asyncio.wait_for(call.ended.wait(), 3)
    assert call._hangup is not None and call._hangup.reason == "no-ack"
    assert not rec.answered.is_set() and "no-ack" not in edge.calls  # the handler never ran; line freed
    peer.close()


async def test_pipeline_starts_on_the_ack_not_on_the_200(make_edge) -> None:
    rec = Recorder()
    edge = await make_edge(rec)
    peer = RawCaller(edge.port, "ack-start")
    await peer.invite(ack=False)
    await asyncio.sleep(0.3)
    assert "ack-start" in edge.calls and not rec.answered.is_set()
    peer.ack()
    await asyncio.wait_for(rec.answered.wait(), 3)
    peer.close()


SESSION = ("Supported: timer", "Session-Expires: 3;refresher=uac", "Min-SE: 1")


async def test_session_timer_refreshed_by_the_caller_then_expired(make_edge) -> None:
    rec = Recorder()
    edge = await make_edge(rec, session_min_se_s=1, rtp_timeout_s=60)
    peer = RawCaller(edge.port, "st-uac")
    ok = await peer.invite(headers=SESSION)
    assert ok.get("Session-Expires") == "3;refresher=uac" and ok.get("Require") == "timer"
    await asyncio.sleep(1.0)
    peer.cseq = 2
    peer.send("UPDATE", headers=SESSION)  # a refresh without SDP
    refreshed = await peer.recv(status=200, cseq_method="UPDATE")
    assert refreshed.get("Session-Expires") == "3;refresher=uac"
    await asyncio.sleep(1.5)  # past the first deadline (2 s: 3 - 3/3), before the refreshed one
    assert "st-uac" in edge.calls and not rec.hangups
    await _ended_by_bye(peer, rec, "session-expired")


async def test_session_interval_below_min_se_gets_422(make_edge) -> None:
    edge = await make_edge(Recorder(), session_min_se_s=5)
    peer = RawCaller(edge.port, "st-422")
    peer.send("INVITE", body=peer.sdp(), headers=("Supported: timer", "Session-Expires: 2"))
    resp = await peer.recv(status=422)
    assert resp.get("Min-SE") == "5" and not edge.calls
    peer.close()


async def test_session_refreshed_by_the_appliance_when_asked_and_ended_when_refresh_fails(make_edge) -> None:
    rec = Recorder()
    edge = await make_edge(rec, session_min_se_s=1, rtp_timeout_s=60)
    peer = RawCaller(edge.port, "st-uas")
    ok = await peer.invite(headers=("Supported: timer", "Session-Expires: 2;refresher=uas"))
    assert ok.get("Session-Expires") == "2;refresher=uas" and ok.get("Require") is None
    refresh = await peer.recv(method="INVITE", limit_s=3)  # at half the interval
    assert refresh.get("Session-Expires") == "2;refresher=uas"
    peer.reply(refresh, body=peer.sdp())
    await peer.recv(method="ACK", limit_s=3)
    await peer.recv(method="INVITE", limit_s=3)  # the next refresh: left unanswered
    await _ended_by_bye(peer, rec, "session-expired")
