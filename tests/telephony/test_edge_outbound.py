"""Outbound calls against SIPp callees: digest challenge + early media + answer, busy, no answer."""

from __future__ import annotations

import asyncio

from appliance.telephony.outbound import outcome_for
from tests.telephony.conftest import DATA, Recorder, free_udp_port


async def start_uas(scenario: str, port: int) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        "sipp", "-nostdin", "-sf", str(DATA / scenario), "-i", "127.0.0.1", "-p", str(port),
        "-mp", str(free_udp_port()), "-m", "1", "-timeout", "40s",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)


async def finish(proc: asyncio.subprocess.Process) -> tuple[int, str]:
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), timeout=45)
    except TimeoutError:  # SIPp still waits for a message that never came: stop it, fail the test
        proc.kill()
        out, _ = await proc.communicate()
        return -1, out.decode(errors="replace")[-2000:]
    return proc.returncode or 0, out.decode(errors="replace")[-2000:]


async def test_outbound_answered_after_digest_challenge_with_early_media(make_edge, tmp_path) -> None:
    pw = tmp_path / "sip.pw"
    pw.write_text("secret-pw\n")
    port = free_udp_port()
    uas = await start_uas("uas_answer.xml", port)
    await asyncio.sleep(0.3)
    edge = await make_edge(Recorder(), outbound_proxy=f"127.0.0.1:{port}", username="100", password_file=pw)
    result = await edge.place_call("200", timeout_s=15)
    assert result.outcome == "answered", result
    assert result.early_media and result.call is not None
    call = result.call
    assert call.info.direction == "outbound" and call.info.remote_number == "200"
    call.send_audio(bytes(3200))
    await asyncio.sleep(0.5)
    assert call.sent_audio_ms() >= 100
    await call.hangup()
    rc, out = await finish(uas)
    assert rc == 0, out


async def test_outbound_busy(make_edge) -> None:
    port = free_udp_port()
    uas = await start_uas("uas_busy.xml", port)
    await asyncio.sleep(0.3)
    edge = await make_edge(Recorder(), outbound_proxy=f"127.0.0.1:{port}")
    result = await edge.place_call("200", timeout_s=10)
    assert (result.outcome, result.status) == ("busy", 486)
    rc, out = await finish(uas)
    assert rc == 0, out
    assert not edge.calls


async def test_outbound_no_answer_cancels(make_edge) -> None:
    port = free_udp_port()
    uas = await start_uas("uas_noanswer.xml", port)
    await asyncio.sleep(0.3)
    edge = await make_edge(Recorder(), outbound_proxy=f"127.0.0.1:{port}")
    result = await edge.place_call("200", timeout_s=2)
    assert result.outcome == "no-answer"
    rc, out = await finish(uas)
    assert rc == 0, out
    assert not edge.calls


async def _ringing_then_abandoned(make_edge, scenario: str):
    port = free_udp_port()
    uas = await start_uas(scenario, port)
    await asyncio.sleep(0.3)
    edge = await make_edge(Recorder(), outbound_proxy=f"127.0.0.1:{port}")
    placing = asyncio.create_task(edge.place_call("200", timeout_s=30))
    await asyncio.sleep(1.0)  # ringing
    placing.cancel()  # whoever waited for the call stopped waiting (a page acknowledged in the console)
    try:
        await placing
    except asyncio.CancelledError:
        pass
    rc, out = await finish(uas)
    return edge, rc, out


async def test_an_abandoned_ringing_call_is_cancelled(make_edge) -> None:
    edge, rc, out = await _ringing_then_abandoned(make_edge, "uas_noanswer.xml")
    assert rc == 0, out  # the callee got CANCEL, answered 487 and got the ACK
    assert not edge.calls


async def test_an_answer_crossing_the_cancel_is_acked_then_ended(make_edge) -> None:
    edge, rc, out = await _ringing_then_abandoned(make_edge, "uas_answer_crosses_cancel.xml")
    assert rc == 0, out  # the 200 was ACKed and the call ended with BYE: no half-open call at the phone
    assert not edge.calls


async def test_outbound_unreachable_fails(make_edge) -> None:
    edge = await make_edge(Recorder(), outbound_proxy=f"127.0.0.1:{free_udp_port()}")
    result = await edge.place_call("200", timeout_s=1.5)
    assert result.outcome in ("failed", "no-answer") and result.call is None


def test_outcome_mapping() -> None:
    assert [outcome_for(s) for s in (200, 486, 600, 480, 408, 487, 403, 404, 603, 500, 503, None)] == [
        "answered", "busy", "busy", "no-answer", "no-answer", "no-answer", "rejected", "rejected", "rejected",
        "failed", "failed", "failed"]
