"""Inbound calls against SIPp on loopback: answer, BYE each side, CANCEL, re-INVITE, capacity."""

from __future__ import annotations

import asyncio

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
