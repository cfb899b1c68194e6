"""Hostile and broken input loses nothing (issue 21), against the running edge over loopback:
oversized messages and headers are answered, in-dialog requests must match the dialog's tags,
bad SDP is refused with 488 and never reaches the media path."""

from __future__ import annotations

import asyncio

import pytest

from tests.telephony.conftest import Recorder, sipp, sipp_uac
from tests.telephony.rawsip import RawCaller


async def _up(rec: Recorder, edge, call_id: str, limit_s: float = 5.0) -> None:
    """The (only) call reached the pipeline."""
    await asyncio.wait_for(rec.answered.wait(), limit_s)
    assert [c.info.call_id for c in rec.calls] == [call_id] and call_id in edge.calls


# -- finding 3: size limits answered ----------------------------------------------------------------

async def test_oversized_message_gets_513_and_long_header_400(make_edge) -> None:
    rec = Recorder()
    edge = await make_edge(rec)
    peer = RawCaller(edge.port, "big-1")
    peer.send("OPTIONS", headers=("Subject: " + "s" * 5000,))  # one header over the 4 KiB line limit
    bad = await peer.recv(status=400)
    assert "header too long" in bad.reason
    peer.send("OPTIONS", headers=tuple(f"X-Pad-{i}: " + "p" * 3000 for i in range(8)))  # ~24 KB datagram
    too_big = await peer.recv(status=513)
    assert too_big.call_id == "big-1"
    hostile_from = "From: x" + " " * 15000 + "x"  # the header that used to stall the event loop
    peer.sock.sendto((f"OPTIONS sip:100@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{peer.port};branch=z9hG4bKh\r\n"
                      f"{hostile_from}\r\nTo: <sip:100@127.0.0.1>\r\nCall-ID: big-2\r\nCSeq: 1 OPTIONS\r\n\r\n").encode(),
                     peer.edge)
    assert (await peer.recv(status=400)).call_id == "big-2"
    assert edge.sip.stats["too_large"] == 1 and edge.sip.stats["malformed"] == 2
    peer.close()
    rc, out = await sipp(*sipp_uac(edge, "uac_call.xml", "-d", "200"), limit_s=15)  # calls still work
    assert rc == 0, out


# -- finding 5: in-dialog requests match Call-ID and both tags --------------------------------------

@pytest.mark.parametrize("variant", ["no-to-tag", "wrong-from-tag", "wrong-to-tag"])
async def test_bye_that_does_not_match_the_dialog_gets_481_and_the_call_stays_up(make_edge, variant: str) -> None:
    rec = Recorder()
    edge = await make_edge(rec)
    peer = RawCaller(edge.port, f"bye-{variant}")
    await peer.invite()
    await _up(rec, edge, peer.call_id)
    peer.cseq = 2
    kw = {"no-to-tag": {"to": "<sip:100@127.0.0.1>"}, "wrong-from-tag": {"from_tag": "intruder"},
          "wrong-to-tag": {"to": "<sip:100@127.0.0.1>;tag=guessed"}}[variant]
    peer.send("BYE", **kw)
    assert (await peer.recv(status=481, cseq_method="BYE")).status == 481
    await asyncio.sleep(0.2)
    assert peer.call_id in edge.calls and not rec.hangups
    peer.cseq = 3
    peer.send("BYE")  # the real one still ends it
    await peer.recv(status=200, cseq_method="BYE")
    await asyncio.wait_for(rec.ended.wait(), 5)
    assert rec.hangups == {peer.call_id: "remote-bye"}
    peer.close()


async def test_reinvite_and_info_with_wrong_tags_get_481(make_edge) -> None:
    rec = Recorder()
    edge = await make_edge(rec)
    peer = RawCaller(edge.port, "dlg-481")
    await peer.invite()
    await _up(rec, edge, peer.call_id)
    before = edge.calls[peer.call_id].media.peer
    peer.cseq = 2
    peer.send("INVITE", from_tag="intruder", body=peer.sdp(port=40000))
    await peer.recv(status=481, cseq_method="INVITE")
    peer.cseq = 3
    peer.sock.sendto((f"INFO sip:100@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{peer.port};branch=z9hG4bKi\r\n"
                      f"From: <sip:5551000@127.0.0.1>;tag=intruder\r\nTo: {peer.to}\r\nCall-ID: {peer.call_id}\r\n"
                      "CSeq: 3 INFO\r\nContent-Type: application/dtmf-relay\r\nContent-Length: 10\r\n\r\n"
                      "Signal=5\r\n").encode(), peer.edge)
    await peer.recv(status=481, cseq_method="INFO")
    await asyncio.sleep(0.2)
    assert edge.calls[peer.call_id].media.peer == before and rec.digits[peer.call_id] == ""
    peer.close()


async def test_ack_must_match_the_dialog_and_cseq(make_edge) -> None:
    """An ACK with the right Call-ID but a wrong tag or CSeq does not confirm the call: the 200 keeps
    being retransmitted and the pipeline does not start; the matching ACK starts it."""
    rec = Recorder()
    edge = await make_edge(rec)
    peer = RawCaller(edge.port, "ack-match")
    await peer.invite(ack=False)
    peer.ack(to="<sip:100@127.0.0.1>;tag=forged")
    peer.ack(from_tag="forged")
    peer.ack(cseq=7)
    await peer.recv(status=200, cseq_method="INVITE", limit_s=3)  # still retransmitted
    assert not rec.answered.is_set() and not edge.calls[peer.call_id].acked.is_set()
    peer.ack()
    await asyncio.wait_for(rec.answered.wait(), 3)
    assert edge.calls[peer.call_id].acked.is_set()
    peer.close()


async def test_cancel_must_match_the_invite(make_edge) -> None:
    rec = Recorder()
    edge = await make_edge(rec, ring_delay_ms=3000)
    peer = RawCaller(edge.port, "cancel-match")
    peer.send("INVITE", body=peer.sdp())
    await peer.recv(status=180)
    peer.send("CANCEL", from_tag="intruder")
    await peer.recv(status=481, cseq_method="CANCEL")
    assert peer.call_id in edge._pending
    peer.send("CANCEL")
    await peer.recv(status=200, cseq_method="CANCEL")
    await peer.recv(status=487, cseq_method="INVITE")
    peer.close()


# -- finding 6: bad SDP is refused once with 488 ----------------------------------------------------

@pytest.mark.parametrize("sdp", [
    pytest.param(lambda p: p.sdp(port=99999), id="port-99999"),
    pytest.param(lambda p: p.sdp(host="pbx.example.com"), id="hostname"),
    pytest.param(lambda p: p.sdp().replace("c=IN IP4 127.0.0.1\r\n", ""), id="no-c-line"),
    pytest.param(lambda p: p.sdp().replace("RTP/AVP 0 101", "RTP/AVP 18").replace("a=rtpmap:0 PCMU/8000\r\n", ""),
                 id="no-common-codec"),
    pytest.param(lambda p: p.sdp(host="::1"), id="ipv6-on-ip4-line"),
])
async def test_invite_with_bad_sdp_gets_488_and_no_call(make_edge, sdp) -> None:
    rec = Recorder()
    edge = await make_edge(rec)
    peer = RawCaller(edge.port, "sdp-bad")
    peer.send("INVITE", body=sdp(peer))
    resp = await peer.recv(status=488)
    assert resp.cseq == (1, "INVITE")
    await asyncio.sleep(0.3)
    assert not edge.calls and not edge._pending and not rec.answered.is_set()
    assert all(m.status in (488, None) or m.status < 200 for m in peer.inbox)  # answered once, never 200
    peer.close()


async def test_reinvite_with_bad_sdp_gets_488_and_keeps_the_old_media(make_edge) -> None:
    rec = Recorder()
    edge = await make_edge(rec)
    peer = RawCaller(edge.port, "reinvite-bad")
    await peer.invite()
    await _up(rec, edge, peer.call_id)
    call = edge.calls[peer.call_id]
    before = (call.media.peer, call.media.neg)
    for n, body in enumerate((peer.sdp(port=99999), peer.sdp(host="pbx.example.com")), start=2):
        peer.cseq = n
        peer.send("INVITE", body=body)
        await peer.recv(status=488, cseq_method="INVITE")
        peer.ack(cseq=n)
    await asyncio.sleep(0.2)
    assert (call.media.peer, call.media.neg) == before and call.state == "confirmed"
    assert call.media.transport is not None and not call.media.transport.is_closing()
    peer.close()
